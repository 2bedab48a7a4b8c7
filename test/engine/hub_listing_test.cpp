// The Hub client's pure parts (../shared/hf-hub.md §2–§3): URLs as huggingface_hub forms them,
// repo info and tree pages checked entry by entry (one hostile entry refuses the page, with one
// line naming it), Link paging, the Hub's errors in words and which of them are worth a retry.
#include "engine/hub_listing.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry;

namespace {

const std::string commit = "0123456789abcdef0123456789abcdef01234567";
const std::string readme_oid = "8e2e871357bef652084a73f7173adc5eb8859a33";
const std::string config_oid = "dc1fb7b6703fe03317c1a080b523bf475f3d4818";
const std::string weights_oid = "008d9adda7574f0a91412e68b9c2e501251606c2";
const std::string weights_sha256 = "fbbab289f7f94b25736c58be46a994c441fd02552cc6022352e3d86d2fab7c83";

const hub_repo_id tiny{hub_repo_type::model, "acme/tiny"};

/// The tree of hf-hub.md §4's worked example, as the Hub lists it.
const std::string worked_example_tree = R"([
  {"type": "file", "oid": ")" + readme_oid + R"(", "size": 7, "path": "README.md"},
  {"type": "file", "oid": ")" + config_oid + R"(", "size": 23, "path": "config.json"},
  {"type": "directory", "oid": "ca4c8e38b72f767ff6652a0e466b9897a5869d17", "size": 0, "path": "sub"},
  {"type": "directory", "oid": "494ea821a563c085f3e427bfe184b7dd1f8ff547", "size": 0, "path": "sub/dir"},
  {"type": "file", "oid": ")" + weights_oid + R"(", "size": 1048576, "path": "sub/dir/weights.bin",
   "lfs": {"oid": ")" + weights_sha256 + R"(", "size": 1048576, "pointerSize": 132},
   "xetHash": "ignored"}
])";

/// A one-file tree page whose entry has `fields` (JSON members) after the path.
std::string one_entry(const std::string& path_json, const std::string& fields) {
    return R"([{"path": )" + path_json + ", " + fields + "}]";
}

std::string regular_fields(const std::string& size = "7") {
    return R"("type": "file", "size": )" + size + R"(, "oid": ")" + readme_oid + "\"";
}

std::string lfs_fields(const std::string& lfs) {
    return R"("type": "file", "size": 1048576, "oid": ")" + weights_oid + R"(", "lfs": )" + lfs;
}

/// Checks that a tree page is refused whole, with one line holding `part`.
void page_refused(const std::string& json, const std::string& part) {
    std::string message;
    auto page = parse_hub_tree_page(json, message);
    CAPTURE(json);
    CAPTURE(message);
    CHECK_FALSE(page.has_value());
    CHECK(message.find('\n') == std::string::npos);
    CHECK_MESSAGE(message.find(part) != std::string::npos, "missing '" << part << "'");
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("hub URLs: info, tree and resolve as huggingface_hub forms them") {
    CHECK(hub_info_url("https://huggingface.co", tiny, "") == "https://huggingface.co/api/models/acme/tiny");
    CHECK(hub_info_url("https://huggingface.co", tiny, "main") ==
          "https://huggingface.co/api/models/acme/tiny/revision/main");
    CHECK(hub_info_url("https://huggingface.co", tiny, "refs/pr/1") ==
          "https://huggingface.co/api/models/acme/tiny/revision/refs%2Fpr%2F1");
    CHECK(hub_info_url("https://hub.example/prefix/", {hub_repo_type::dataset, "org/x"}, "v1.0") ==
          "https://hub.example/prefix/api/datasets/org/x/revision/v1.0");
    CHECK(hub_info_url("https://h", {hub_repo_type::space, "org/app"}, "") == "https://h/api/spaces/org/app");
    CHECK(hub_info_url("https://h", {hub_repo_type::model, "gpt2"}, "") == "https://h/api/models/gpt2");

    CHECK(hub_tree_url("https://huggingface.co", tiny, commit) ==
          "https://huggingface.co/api/models/acme/tiny/tree/" + commit + "?recursive=true&expand=false");
    CHECK(hub_tree_url("https://h/", {hub_repo_type::dataset, "org/x"}, "refs/pr/1") ==
          "https://h/api/datasets/org/x/tree/refs%2Fpr%2F1?recursive=true&expand=false");

    CHECK(hub_resolve_url("https://huggingface.co", tiny, commit, "sub/dir/weights.bin") ==
          "https://huggingface.co/acme/tiny/resolve/" + commit + "/sub/dir/weights.bin");
    CHECK(hub_resolve_url("https://h", tiny, "main", "to?/a%b:c") == "https://h/acme/tiny/resolve/main/to%3F/a%25b%3Ac");
    CHECK(hub_resolve_url("https://h", {hub_repo_type::dataset, "org/x"}, "refs/pr/1", "data/train.parquet") ==
          "https://h/datasets/org/x/resolve/refs%2Fpr%2F1/data/train.parquet");
    CHECK(hub_resolve_url("https://h", {hub_repo_type::space, "org/app"}, "main", "app.py") ==
          "https://h/spaces/org/app/resolve/main/app.py");
    CHECK(hub_resolve_url("https://h", tiny, "main", "a b/caf\xc3\xa9 #1+~x-y_z.bin") ==
          "https://h/acme/tiny/resolve/main/a%20b/caf%C3%A9%20%231%2B~x-y_z.bin");
}

TEST_CASE("hub URLs: a revision keeps only unreserved characters") {
    CHECK(encode_hub_revision("main") == "main");
    CHECK(encode_hub_revision("refs/pr/1") == "refs%2Fpr%2F1");
    CHECK(encode_hub_revision("v1.0-rc_2~x") == "v1.0-rc_2~x");
    CHECK(encode_hub_revision("a b?c#d%e&f=g+h:i") == "a%20b%3Fc%23d%25e%26f%3Dg%2Bh%3Ai");
    CHECK(encode_hub_revision("\xc3\xa9") == "%C3%A9");
    CHECK(encode_hub_path("to?/a%b:c") == "to%3F/a%25b%3Ac");
    CHECK(encode_hub_path("a/b/c") == "a/b/c");
}

TEST_CASE("hub repo info: id and sha required, gated and private read") {
    std::string message;
    auto info = parse_hub_repo_info(R"({"_id": "x", "id": "acme/tiny", "sha": ")" + commit +
                                        R"(", "private": false, "gated": false, "disabled": false,
                                        "siblings": [{"rfilename": "README.md"}], "tags": []})",
                                    message);
    INFO(message);
    REQUIRE(info.has_value());
    CHECK(info->id == "acme/tiny");
    CHECK(info->sha == commit);
    CHECK_FALSE(info->gated.has_value());
    CHECK_FALSE(info->is_private);

    info = parse_hub_repo_info(R"({"id": "acme/gated", "sha": ")" + commit + R"(", "gated": "manual", "private": true})",
                               message);
    REQUIRE(info.has_value());
    CHECK(info->gated == "manual");
    CHECK(info->is_private);

    auto refused = [&](const std::string& json, const std::string& part) {
        std::string why;
        auto parsed = parse_hub_repo_info(json, why);
        CAPTURE(json);
        CAPTURE(why);
        CHECK_FALSE(parsed.has_value());
        CHECK(why.find('\n') == std::string::npos);
        CHECK_MESSAGE(contains(why, part), "missing '" << part << "'");
    };
    refused(R"({"id": "acme/tiny"})", "has no commit sha");
    refused(R"({"id": "acme/tiny", "sha": null})", "has no commit sha");
    refused(R"({"id": "acme/tiny", "sha": "0123"})", "names commit \"0123\", not 40 lowercase hex digits");
    refused(R"({"id": "acme/tiny", "sha": ")" + std::string(40, 'A') + "\"}", "not 40 lowercase hex digits");
    refused(R"({"id": "acme/tiny", "sha": 12})", "names commit 12");
    refused(R"({"sha": ")" + commit + "\"}", "has no id");
    refused(R"([1, 2])", "not a JSON object");
    refused(R"({"id": "acme/tiny", "sha": )", "not valid JSON");
    refused("", "not valid JSON");
}

TEST_CASE("hub tree: the worked example's page gives its three files") {
    std::string message;
    auto page = parse_hub_tree_page(worked_example_tree, message);
    INFO(message);
    REQUIRE(page.has_value());
    REQUIRE(page->size() == 3);
    auto& readme = (*page)[0];
    CHECK(readme.path == "README.md");
    CHECK(readme.size == 7);
    CHECK(readme.blob_id == readme_oid);
    CHECK_FALSE(readme.lfs_sha256.has_value());
    CHECK(readme.etag() == readme_oid);
    CHECK((*page)[1].path == "config.json");
    CHECK((*page)[1].size == 23);
    CHECK((*page)[1].etag() == config_oid);
    auto& weights = (*page)[2];
    CHECK(weights.path == "sub/dir/weights.bin");
    CHECK(weights.size == 1048576);
    CHECK(weights.blob_id == weights_oid);
    CHECK(weights.lfs_sha256 == weights_sha256);
    CHECK(weights.etag() == weights_sha256);

    // An empty page, directories only, and lfs: null are fine.
    page = parse_hub_tree_page("[]", message);
    REQUIRE(page.has_value());
    CHECK(page->empty());
    page = parse_hub_tree_page(R"([{"type": "directory", "path": "sub", "oid": "x"}])", message);
    REQUIRE(page.has_value());
    CHECK(page->empty());
    page = parse_hub_tree_page(one_entry(R"("a")", regular_fields() + R"(, "lfs": null)"), message);
    REQUIRE(page.has_value());
    CHECK_FALSE(page->at(0).lfs_sha256.has_value());
    // Sizes up to 2^53.
    page = parse_hub_tree_page(one_entry(R"("big")", regular_fields("9007199254740992")), message);
    REQUIRE(page.has_value());
    CHECK(page->at(0).size == (std::uint64_t(1) << 53));
}

TEST_CASE("hub tree: a hostile or malformed entry refuses the whole page") {
    // Paths the cache must never be asked to write.
    page_refused(one_entry(R"("../x")", regular_fields()), R"(the Hub's listing has an unsafe path "../x")");
    page_refused(one_entry(R"("/etc/passwd")", regular_fields()), R"(unsafe path "/etc/passwd")");
    page_refused(one_entry(R"("a//b")", regular_fields()), R"(unsafe path "a//b")");
    page_refused(one_entry(R"("a\\b")", regular_fields()), R"(unsafe path "a\\b")");
    page_refused(one_entry(R"("a/\u0000b")", regular_fields()), R"(unsafe path "a/\x00b")");
    page_refused(one_entry(R"("sub/../../x")", regular_fields()), R"(unsafe path "sub/../../x")");
    page_refused(one_entry(R"("./a")", regular_fields()), R"(unsafe path "./a")");
    page_refused(one_entry(R"("a/")", regular_fields()), R"(unsafe path "a/")");
    page_refused(one_entry(R"("")", regular_fields()), R"(unsafe path "")");
    // Whatever a path holds, the message stays on one line.
    page_refused(one_entry(R"("x\ny")", R"("type": "file", "size": 7, "oid": "zz")"),
                 R"(bad entry "x\x0ay": oid "zz" is not a git sha1)");
    page_refused(R"([{"type": "directory", "path": "../up", "oid": "x"}])", R"(unsafe path "../up")");
    page_refused(R"([{"type": "file", "size": 7, "oid": ")" + readme_oid + "\"}]", "an entry without a path (entry 1)");
    page_refused(one_entry("7", regular_fields()), "an entry without a path (entry 1)");
    page_refused(R"([{"type": "directory", "path": "a"}, 3])", "an entry that is not an object (entry 2)");

    // Types.
    page_refused(one_entry(R"("m")", R"("type": "submodule", "size": 0, "oid": ")" + readme_oid + "\""),
                 R"(the Hub's listing has a bad entry "m": unknown type "submodule")");
    page_refused(one_entry(R"("m")", R"("type": "File", "size": 0, "oid": ")" + readme_oid + "\""),
                 R"(unknown type "File")");
    page_refused(one_entry(R"("m")", R"("size": 0, "oid": ")" + readme_oid + "\""), R"(bad entry "m": no type)");

    // git sha1 of a file.
    page_refused(one_entry(R"("a.bin")", R"("type": "file", "size": 7, "oid": "zz")"),
                 R"(the Hub's listing has a bad entry "a.bin": oid "zz" is not a git sha1)");
    page_refused(one_entry(R"("a.bin")", R"("type": "file", "size": 7, "oid": ")" + std::string(40, 'F') + "\""),
                 "is not a git sha1");
    page_refused(one_entry(R"("a.bin")", R"("type": "file", "size": 7, "oid": ")" + weights_sha256 + "\""),
                 "is not a git sha1");
    page_refused(one_entry(R"("a.bin")", R"("type": "file", "size": 7)"), R"(bad entry "a.bin": no oid)");

    // Sizes.
    page_refused(one_entry(R"("a")", regular_fields("-1")), R"(bad entry "a": size -1 is not a byte count)");
    page_refused(one_entry(R"("a")", regular_fields("7.5")), "size 7.5E0 is not a byte count");
    page_refused(one_entry(R"("a")", regular_fields(R"("7")")), R"(size "7" is not a byte count)");
    page_refused(one_entry(R"("a")", regular_fields("9007199254740993")), "is not a byte count");
    page_refused(one_entry(R"("a")", R"("type": "file", "oid": ")" + readme_oid + "\""), R"(bad entry "a": no size)");

    // LFS.
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"oid": "abc", "size": 1048576, "pointerSize": 132})")),
                 R"(the Hub's listing has a bad entry "w.bin": lfs oid "abc" is not a sha256)");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"oid": ")" + weights_oid +
                                                    R"(", "size": 1048576, "pointerSize": 132})")),
                 "lfs oid \"" + weights_oid + "\" is not a sha256");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"oid": ")" + weights_sha256 +
                                                    R"(", "size": 1048575, "pointerSize": 132})")),
                 R"(bad entry "w.bin": lfs size 1048575 disagrees with its size 1048576)");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"oid": ")" + weights_sha256 + R"(", "pointerSize": 132})")),
                 "lfs has no size");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"oid": ")" + weights_sha256 + R"(", "size": 1048576})")),
                 "lfs pointerSize (missing) is not a byte count");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"({"size": 1048576, "pointerSize": 132})")), "lfs has no oid");
    page_refused(one_entry(R"("w.bin")", lfs_fields(R"("yes")")), "lfs is not an object");

    // Duplicates, and a file where another file needs a directory.
    page_refused(R"([{"path": "a", )" + regular_fields() + R"(}, {"path": "b", )" + regular_fields() +
                     R"(}, {"path": "a", )" + regular_fields() + "}]",
                 R"(the Hub's listing has "a" twice)");
    page_refused(R"([{"type": "directory", "path": "a", "oid": "x"}, {"path": "a", )" + regular_fields() + "}]",
                 R"(has "a" twice)");
    page_refused(R"([{"path": "a", )" + regular_fields() + R"(}, {"path": "a/b", )" + regular_fields() + "}]",
                 R"(has both a file "a" and "a/b" beneath it)");
    page_refused(R"([{"path": "a/b/c", )" + regular_fields() + R"(}, {"path": "a/b", )" + regular_fields() + "}]",
                 R"(has both a file "a/b" and "a/b/c" beneath it)");

    // Not a page at all.
    page_refused(R"({"error": "x"})", "the Hub's tree listing is not a JSON array");
    page_refused(R"([{"path": "a")", "the Hub's tree listing is not valid JSON");
    page_refused("<html>", "not valid JSON");
}

TEST_CASE("hub tree: pages put together refuse a path seen on an earlier page") {
    auto file = [](std::string path) {
        hub_tree_file f;
        f.path = std::move(path);
        f.blob_id = readme_oid;
        return f;
    };
    hub_tree_listing listing;
    std::string message;
    CHECK(listing.add_page({file("a/x"), file("b")}, message));
    CHECK(listing.add_page({}, message));
    CHECK(listing.add_page({file("c"), file("a/y")}, message));
    CHECK(listing.files().size() == 4);

    CHECK_FALSE(listing.add_page({file("d"), file("b")}, message));
    CHECK(message == R"(the Hub's listing has "b" twice)");
    CHECK_FALSE(listing.add_page({file("a")}, message));
    CHECK(message == R"(the Hub's listing has both a file "a" and "a/x" beneath it)");
    CHECK_FALSE(listing.add_page({file("c/z")}, message));
    CHECK(message == R"(the Hub's listing has both a file "c" and "c/z" beneath it)");
    CHECK_FALSE(listing.add_page({file("e"), file("e")}, message));
    // Nothing of a refused page was kept: "d" and "e" are still free.
    CHECK(listing.files().size() == 4);
    CHECK(listing.add_page({file("d"), file("e")}, message));
    auto files = listing.take();
    REQUIRE(files.size() == 6);
    CHECK(files[0].path == "a/x");
    CHECK(files[5].path == "e");
}

TEST_CASE("hub Link: the next page's URL") {
    const std::string next = "https://huggingface.co/api/models/acme/tiny/tree/" + commit +
                             "?recursive=true&expand=false&cursor=ZXlKbWFXeGxYMjVoYldVaU9pSjRJbjA9";
    CHECK(next_page_link("<" + next + ">; rel=\"next\"") == next);
    CHECK(next_page_link("<" + next + ">; rel=next") == next);
    CHECK(next_page_link("<" + next + ">;rel=\"next\"") == next);
    CHECK(next_page_link("  <" + next + "> ; REL = \"Next\"  ") == next);
    CHECK(next_page_link("<" + next + ">; rel=\"prefetch next\"") == next);
    CHECK(next_page_link("<" + next + ">; title=\"a, b; c\"; rel=\"next\"; type=\"application/json\"") == next);
    CHECK(next_page_link("<https://h/first>; rel=\"first\", <" + next + ">; rel=\"next\", <https://h/last>; rel=last") ==
          next);
    CHECK(next_page_link("<https://h/a,b>; rel=\"prev\", <http://h/p?x=1,2>; rel=next") == "http://h/p?x=1,2");
    CHECK(next_page_link("<https://hub/xet-read-token/" + commit + ">; rel=\"xet-auth\", <" + next + ">; rel=\"next\"") ==
          next);

    // No next link.
    CHECK_FALSE(next_page_link("").has_value());
    CHECK_FALSE(next_page_link("<https://h/x>; rel=\"prev\"").has_value());
    CHECK_FALSE(next_page_link("<https://h/x>; rel=\"nextpage\"").has_value());
    CHECK_FALSE(next_page_link("<https://h/x>; title=\"next\"").has_value());
    CHECK_FALSE(next_page_link("<https://h/x>; rel=\"prev\"; rel=\"next\"").has_value()); // the first rel counts
    CHECK_FALSE(next_page_link("https://h/x; rel=\"next\"").has_value());
    CHECK_FALSE(next_page_link("<https://h/x; rel=\"next\"").has_value());
    CHECK_FALSE(next_page_link("<https://h/x>; rel=\"next").has_value());
    // Not absolute http(s): not followed here...
    CHECK_FALSE(next_page_link("</api/models/acme/tiny/tree/main?cursor=abc>; rel=\"next\"").has_value());
    CHECK_FALSE(next_page_link("<ftp://h/x>; rel=\"next\"").has_value());
    // ...but resolved against the page's URL by the other overload.
    CHECK(next_page_link("</api/models/acme/tiny/tree/main?cursor=abc>; rel=\"next\"",
                         "https://hub.example:8443/api/models/acme/tiny/tree/main?recursive=true") ==
          "https://hub.example:8443/api/models/acme/tiny/tree/main?cursor=abc");
    CHECK(next_page_link("<" + next + ">; rel=next", "https://other/x") == next);
    CHECK_FALSE(next_page_link("<ftp://h/x>; rel=\"next\"", "https://other/x").has_value());
    CHECK_FALSE(next_page_link("", "https://other/x").has_value());
    // A malformed link-value before the next one is skipped.
    CHECK(next_page_link("garbage; rel=\"next\", <" + next + ">; rel=\"next\"") == next);
}

TEST_CASE("hub errors: each answer in words, with the request id") {
    hub_error_context anonymous{"acme/gated", "main", "config.json", "https://huggingface.co", false};
    hub_error_context with_token = anonymous;
    with_token.had_token = true;

    CHECK(describe_hub_error(401, "GatedRepo", "Access to model acme/gated is restricted.", "abc", anonymous) ==
          "acme/gated is a gated repo: accept its terms on the Hub and pass a token (--token or HF_TOKEN) "
          "(request id abc)");
    auto gated_token = describe_hub_error(403, "GatedRepo", "not in the authorized list", "abc", with_token);
    CHECK(contains(gated_token, "acme/gated is a gated repo"));
    CHECK(contains(gated_token, "this token has no access yet"));
    CHECK(contains(gated_token, "(request id abc)"));

    hub_error_context tiny_context{"acme/tiny", "v9", "", "https://huggingface.co", false};
    CHECK(describe_hub_error(404, "RevisionNotFound", "Invalid rev id: v9", "r1", tiny_context) ==
          "revision v9 not found in acme/tiny (request id r1)");
    tiny_context.revision = "refs/pr/7";
    CHECK(describe_hub_error(404, "RevisionNotFound", "", "", tiny_context) == "revision refs/pr/7 not found in acme/tiny");

    hub_error_context nope{"acme/nope", "main", "", "https://host/", false};
    CHECK(describe_hub_error(401, "RepoNotFound", "Repository Not Found for url: https://host/api/models/acme/nope.",
                             "r2", nope) ==
          "acme/nope not found on https://host, or private: pass a token that can read it (request id r2)");
    nope.had_token = true;
    CHECK(describe_hub_error(404, "RepoNotFound", "", "", nope) ==
          "acme/nope not found on https://host, or the token cannot read it");

    hub_error_context entry{"acme/tiny", "0123abcd" + std::string(32, 'e'), "x.bin", "https://huggingface.co", false};
    CHECK(describe_hub_error(404, "EntryNotFound", "Entry not found: x.bin", "r3", entry) ==
          "x.bin not found in acme/tiny at 0123abcd (request id r3)");
    entry.revision = "main";
    CHECK(describe_hub_error(404, "EntryNotFound", "", "", entry) == "x.bin not found in acme/tiny at main");

    CHECK(describe_hub_error(401, "", "Invalid credentials in Authorization header", "r4", with_token) ==
          "the token was refused: invalid credentials in Authorization header (request id r4)");
    CHECK(describe_hub_error(401, "", "Invalid credentials in Authorization header", "", anonymous) ==
          "the token was refused: invalid credentials in Authorization header");

    hub_error_context disabled{"acme/x", "main", "", "https://huggingface.co", false};
    CHECK(describe_hub_error(403, "", "Access to this resource is disabled.", "", disabled) ==
          "acme/x is disabled on the Hub");
    CHECK(describe_hub_error(403, "", "Access to this resource is disabled.", "r5", disabled) ==
          "acme/x is disabled on the Hub (request id r5)");

    CHECK(describe_hub_error(429, "", "", "", disabled) == "rate limited by the Hub");
    CHECK(describe_hub_error(429, "", "You have been rate-limited.", "r6", disabled) ==
          "rate limited by the Hub: you have been rate-limited (request id r6)");
    CHECK(describe_hub_error(500, "", "Internal Error - We're working hard to fix this as soon as possible!", "r7",
                             disabled) ==
          "the Hub answered 500: internal Error - We're working hard to fix this as soon as possible! (request id r7)");
    CHECK(describe_hub_error(503, "", "", "", disabled) == "the Hub answered 503");
    CHECK(describe_hub_error(408, "", "", "", disabled) == "the Hub timed out (408)");
    CHECK(describe_hub_error(400, "", "Invalid cursor", "", disabled) == "the Hub answered 400: invalid cursor");

    // Bare statuses: huggingface_hub's readings.
    CHECK(describe_hub_error(401, "", "", "", nope) == "the token was refused");
    hub_error_context anonymous_nope{"acme/nope", "main", "", "https://host", false};
    CHECK(describe_hub_error(401, "", "", "", anonymous_nope) ==
          "acme/nope not found on https://host, or private: pass a token that can read it");
    CHECK(describe_hub_error(404, "", "Sorry, we can't find the page you are looking for.", "", anonymous_nope) ==
          "acme/nope not found on https://host, or private: pass a token that can read it");
    CHECK(describe_hub_error(404, "", "", "", entry) == "x.bin not found in acme/tiny at main");
    CHECK(describe_hub_error(403, "", "Forbidden", "", anonymous_nope) == "access to acme/nope refused: forbidden");
    CHECK(describe_hub_error(403, "", "", "", nope) == "the token may not read acme/nope");

    // Whatever the Hub sends, one line.
    auto hostile = describe_hub_error(502, "", "bad\r\ngateway\x01  now.", "id\nwith newline", disabled);
    CHECK(hostile == "the Hub answered 502: bad gateway now (request id id with newline)");
    auto long_message = describe_hub_error(500, "", std::string(5000, 'x'), "", disabled);
    CHECK(long_message.size() < 300);
}

TEST_CASE("hub errors: which are final and which are worth a retry") {
    for (auto code : {"RepoNotFound", "GatedRepo", "RevisionNotFound", "EntryNotFound"}) {
        CAPTURE(code);
        CHECK_FALSE(hub_error_is_retryable(401, code));
        CHECK_FALSE(hub_error_is_retryable(403, code));
        CHECK_FALSE(hub_error_is_retryable(404, code));
        CHECK_FALSE(hub_error_is_retryable(500, code));
    }
    for (unsigned status : {400u, 401u, 403u, 404u, 410u, 416u})
        CHECK_FALSE(hub_error_is_retryable(status, ""));
    for (unsigned status : {408u, 429u, 500u, 502u, 503u, 504u})
        CHECK(hub_error_is_retryable(status, ""));
}
