// hub_glob_match and hub_path_filter: the patterns of `ferry hf download --include/--exclude` pick
// exactly the files huggingface_hub's allow_patterns/ignore_patterns pick (Python's fnmatch on the
// whole path, after its `\` → `/` and trailing-'/' rewrites).
#include "engine/hub_filter.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ferry;

TEST_CASE("hub glob: '*' crosses '/', '?' is one character") {
    CHECK(hub_glob_match("*.safetensors", "model.safetensors"));
    CHECK(hub_glob_match("*.safetensors", "a/b.safetensors"));
    CHECK(hub_glob_match("*.safetensors", "a/b/c/model-00001-of-00002.safetensors"));
    CHECK_FALSE(hub_glob_match("*.safetensors", "model.safetensors.index.json"));
    CHECK(hub_glob_match("*", "anything/at/all"));
    CHECK(hub_glob_match("*", ""));
    CHECK(hub_glob_match("**", "a/b"));
    CHECK(hub_glob_match("sub/*.bin", "sub/dir/weights.bin"));
    CHECK_FALSE(hub_glob_match("sub/*.bin", "other/sub/weights.bin"));
    CHECK(hub_glob_match("*/config.json", "a/config.json"));
    CHECK_FALSE(hub_glob_match("*/config.json", "config.json"));
    CHECK(hub_glob_match("a*b*c", "a/x/b/y/c"));
    CHECK_FALSE(hub_glob_match("a*b*c", "a/x/b/y/cd"));
    CHECK(hub_glob_match("*a*a*a*", "aaa"));
    CHECK_FALSE(hub_glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

    CHECK(hub_glob_match("model-0000?-of-00002.bin", "model-00001-of-00002.bin"));
    CHECK(hub_glob_match("a?b", "a/b"));
    CHECK_FALSE(hub_glob_match("a?b", "ab"));
    CHECK_FALSE(hub_glob_match("a?b", "a//b"));
    // One character is one code point, not one byte.
    CHECK(hub_glob_match("caf?.txt", "caf\xc3\xa9.txt"));
    CHECK_FALSE(hub_glob_match("caf?.txt", "cafe\xcc\x81.txt")); // e + combining acute: two code points
}

TEST_CASE("hub glob: the whole path, case-sensitive, no special dot") {
    CHECK(hub_glob_match("config.json", "config.json"));
    CHECK_FALSE(hub_glob_match("config.json", "sub/config.json"));
    CHECK_FALSE(hub_glob_match("config", "config.json"));
    CHECK_FALSE(hub_glob_match("*.JSON", "config.json"));
    CHECK_FALSE(hub_glob_match("Config.json", "config.json"));
    CHECK(hub_glob_match("*", ".gitattributes")); // fnmatch has no hidden files
    CHECK(hub_glob_match("*.md", "README.md"));
    CHECK(hub_glob_match("a.b", "a.b"));
    CHECK_FALSE(hub_glob_match("a.b", "axb")); // '.' is not a regex dot
    CHECK_FALSE(hub_glob_match("a+", "aa"));
    CHECK(hub_glob_match("(x)|y", "(x)|y"));
    CHECK_FALSE(hub_glob_match("", "a"));
    CHECK(hub_glob_match("", ""));
}

TEST_CASE("hub glob: a trailing '/' means everything beneath; '\\' is '/'") {
    CHECK(hub_glob_match("sub/", "sub/dir/weights.bin"));
    CHECK(hub_glob_match("sub/", "sub/a"));
    CHECK_FALSE(hub_glob_match("sub/", "sub"));
    CHECK_FALSE(hub_glob_match("sub/", "subway/a"));
    CHECK_FALSE(hub_glob_match("sub/", "x/sub/a"));
    CHECK(hub_glob_match("*/dir/", "sub/dir/weights.bin"));
    CHECK(hub_glob_match("sub\\dir\\*.bin", "sub/dir/weights.bin"));
    CHECK(hub_glob_match("sub\\", "sub/dir/weights.bin"));
    CHECK_FALSE(hub_glob_match("sub\\dir", "sub\\dir")); // the pattern's '\' became '/'
    CHECK(hub_glob_match("a[\\]b", "a/b"));
}

TEST_CASE("hub glob: sets, ranges and negation as in Python's fnmatch") {
    CHECK(hub_glob_match("[!a]*", "b.bin"));
    CHECK(hub_glob_match("[!a]*", "/x"));
    CHECK_FALSE(hub_glob_match("[!a]*", "a.bin"));
    CHECK_FALSE(hub_glob_match("[!a]*", ""));
    CHECK(hub_glob_match("model-[0-9][0-9].bin", "model-07.bin"));
    CHECK_FALSE(hub_glob_match("model-[0-9][0-9].bin", "model-7a.bin"));
    CHECK(hub_glob_match("[abc]", "b"));
    CHECK_FALSE(hub_glob_match("[abc]", "B"));
    CHECK(hub_glob_match("[a-cx-z]", "y"));
    CHECK_FALSE(hub_glob_match("[a-cx-z]", "d"));
    CHECK(hub_glob_match("[!0-9]x", "/x")); // a negated set takes '/' too
    // ']' first in a set is a member; '[' with no ']' is literal.
    CHECK(hub_glob_match("[]]", "]"));
    CHECK(hub_glob_match("[!]]", "a"));
    CHECK_FALSE(hub_glob_match("[!]]", "]"));
    CHECK(hub_glob_match("[]a]", "a"));
    CHECK(hub_glob_match("a[b", "a[b"));
    CHECK_FALSE(hub_glob_match("a[b", "ab"));
    CHECK(hub_glob_match("[", "["));
    CHECK(hub_glob_match("[!", "[!"));
    CHECK(hub_glob_match("[*", "[abc"));
    // '-' first or last is literal; '--0' is the range '-'..'0'.
    CHECK(hub_glob_match("[-a]", "-"));
    CHECK(hub_glob_match("[a-]", "-"));
    CHECK_FALSE(hub_glob_match("[a-]", "b"));
    CHECK(hub_glob_match("[!-]", "a"));
    CHECK_FALSE(hub_glob_match("[!-]", "-"));
    CHECK(hub_glob_match("[--0]", "/"));
    CHECK(hub_glob_match("[a-c-e]", "-"));
    CHECK_FALSE(hub_glob_match("[a-c-e]", "d"));
    // A reversed range holds nothing: an empty set never matches, an empty negated one always.
    CHECK_FALSE(hub_glob_match("[z-a]", "m"));
    CHECK_FALSE(hub_glob_match("[z-a]", "z"));
    CHECK(hub_glob_match("[!z-a]", "z"));
    CHECK(hub_glob_match("[bz-ac]", "c"));
    CHECK_FALSE(hub_glob_match("[bz-ac]", "z"));
    // Regex-looking characters in a set are plain members.
    CHECK(hub_glob_match("[^a]", "^"));
    CHECK(hub_glob_match("[^a]", "a"));
    CHECK_FALSE(hub_glob_match("[^a]", "b"));
    CHECK(hub_glob_match("[*?]", "?"));
    CHECK_FALSE(hub_glob_match("[*?]", "x"));
    // Sets hold code points.
    CHECK(hub_glob_match("[\xc3\xa9\xc3\xa8]", "\xc3\xa8"));
    CHECK(hub_glob_match("[!\xc3\xa9]", "\xc3\xa8"));
    CHECK_FALSE(hub_glob_match("[!\xc3\xa9]", "\xc3\xa9"));
}

TEST_CASE("hub glob: stars, literal and long paths") {
    std::string long_path(2000, 'a');
    CHECK(hub_glob_match("*a*a*a*a*a*a*", long_path));
    CHECK_FALSE(hub_glob_match("*a*a*a*a*a*a*b", long_path));
    // Bytes that are not UTF-8 are characters of their own.
    CHECK(hub_glob_match("?", "\xff"));
    CHECK(hub_glob_match("\xff", "\xff"));
    CHECK_FALSE(hub_glob_match("\xfe", "\xff"));
    CHECK(hub_glob_match("?", "\xc3")); // a cut sequence is one byte-character...
    CHECK(hub_glob_match("??", "\xc3\x28"));  // ...and so is a bad lead before an ASCII byte
}

TEST_CASE("hub path filter: include, exclude, exclude wins") {
    const std::vector<std::string> repo = {"README.md", "config.json", "model.safetensors", "sub/dir/weights.bin",
                                           "sub/tokenizer.json", "onnx/model.onnx", ".gitattributes"};
    auto kept = [&](const hub_path_filter& filter) {
        std::vector<std::string> out;
        for (auto& path : repo)
            if (filter.keep(path))
                out.push_back(path);
        return out;
    };

    hub_path_filter everything;
    CHECK(everything.keeps_everything());
    CHECK(kept(everything) == repo);

    CHECK(kept(hub_path_filter({"*.json"})) == std::vector<std::string>{"config.json", "sub/tokenizer.json"});
    CHECK(kept(hub_path_filter({"*.json", "*.md"})) ==
          std::vector<std::string>{"README.md", "config.json", "sub/tokenizer.json"});
    CHECK(kept(hub_path_filter({"sub/"})) == std::vector<std::string>{"sub/dir/weights.bin", "sub/tokenizer.json"});
    CHECK(kept(hub_path_filter({}, {"onnx/", "*.bin", ".*"})) ==
          std::vector<std::string>{"README.md", "config.json", "model.safetensors", "sub/tokenizer.json"});
    // Exclude wins over include.
    CHECK(kept(hub_path_filter({"sub/"}, {"*.bin"})) == std::vector<std::string>{"sub/tokenizer.json"});
    CHECK(kept(hub_path_filter({"*.json"}, {"*"})).empty());
    // No include matches: nothing.
    CHECK(kept(hub_path_filter({"*.gguf"})).empty());
    CHECK(kept(hub_path_filter({"[!.]*"}, {"*.json"})) ==
          std::vector<std::string>{"README.md", "model.safetensors", "sub/dir/weights.bin", "onnx/model.onnx"});
    CHECK_FALSE(hub_path_filter({"*.JSON"}).keep("config.json"));
}
