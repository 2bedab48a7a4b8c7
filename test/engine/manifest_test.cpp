// parse_manifest: the GUIDE.md example is accepted; every bad manifest is refused before anything
// starts, with one line naming the model, the file and the problem.
#include "engine/manifest.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry;

namespace {

const std::string hex_a = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string hex_b = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

const std::filesystem::path dest = "/srv/models";

/// A one-model manifest around `files` (a JSON array body), with `extra` model fields.
std::string one_model(const std::string& files, const std::string& extra = R"("base_url": "https://models.example/m/")") {
    return R"({ "models": [ { "id": "m", )" + extra + R"(, "files": [ )" + files + " ] } ] }";
}

/// Checks that `json` is refused with an error holding every one of `parts`.
void refused(const std::string& json, std::initializer_list<std::string> parts) {
    auto parsed = parse_manifest(json, dest);
    CAPTURE(json);
    CAPTURE(parsed.error);
    REQUIRE_FALSE(parsed.error.empty());
    CHECK(parsed.models.empty());
    CHECK(parsed.error.find('\n') == std::string::npos);
    for (auto& part : parts)
        CHECK_MESSAGE(parsed.error.find(part) != std::string::npos, "missing '" << part << "'");
}

} // namespace

TEST_CASE("the GUIDE.md manifest example is accepted") {
    std::string json = R"({ "models": [ {
    "id": "t2v-A14B", "priority": "high",
    "base_url": "https://models.example/t2v-A14B/",
    "dir": "t2v-A14B",
    "files": [
      { "path": "config.json", "size": 1523, "sha256": ")" + hex_a + R"(" },
      { "path": "diffusion/model-00001-of-00006.safetensors", "size": 9663676416,
        "sha256": ")" + hex_b + R"(", "urls": ["https://mirror-a.example/m1", "https://mirror-b.example/m1"] } ] } ] })";
    auto parsed = parse_manifest(json, dest);
    INFO(parsed.error);
    REQUIRE(parsed.error.empty());
    REQUIRE(parsed.models.size() == 1);
    auto& m = parsed.models.front();
    CHECK(m.id == "t2v-A14B");
    CHECK(m.prio == priority::high);
    CHECK(m.dir == dest / "t2v-A14B");
    CHECK(m.limit_rate == 0);
    REQUIRE(m.files.size() == 2);
    CHECK(m.files[0].path == "config.json");
    CHECK(m.files[0].size == 1523u);
    REQUIRE(m.files[0].sha256.has_value());
    CHECK(to_hex(*m.files[0].sha256) == hex_a);
    REQUIRE(m.files[0].urls.size() == 1);
    CHECK(m.files[0].urls[0] == "https://models.example/t2v-A14B/config.json");
    CHECK(m.files[1].path == "diffusion/model-00001-of-00006.safetensors");
    CHECK(m.files[1].size == 9663676416u);
    CHECK(to_hex(*m.files[1].sha256) == hex_b);
    REQUIRE(m.files[1].urls.size() == 2);
    CHECK(m.files[1].urls[0] == "https://mirror-a.example/m1");
    CHECK(m.files[1].urls[1] == "https://mirror-b.example/m1");
}

TEST_CASE("manifest defaults: dir is the id, priority normal; limit_rate is read") {
    auto parsed = parse_manifest(
        R"({ "models": [ { "id": "small", "limit_rate": 1048576, "base_url": "https://h.example/",
             "files": [ { "path": "a/b.bin", "size": 0 } ] },
           { "id": "other", "priority": "low", "files": [ { "path": "x", "size": 1, "urls": ["https://h.example/x"] } ] } ] })",
        dest);
    INFO(parsed.error);
    REQUIRE(parsed.error.empty());
    REQUIRE(parsed.models.size() == 2);
    CHECK(parsed.models[0].dir == dest / "small");
    CHECK(parsed.models[0].prio == priority::normal);
    CHECK(parsed.models[0].limit_rate == 1048576u);
    CHECK(parsed.models[0].files[0].urls[0] == "https://h.example/a/b.bin");
    CHECK_FALSE(parsed.models[0].files[0].sha256.has_value());
    CHECK(parsed.models[1].prio == priority::low);
}

TEST_CASE("bad manifests are refused, naming the model, the file and the problem") {
    SUBCASE("unknown priority") {
        refused(one_model(R"({ "path": "a.bin", "size": 1 })", R"("priority": "urgent", "base_url": "https://h.example/")"),
                {"model 'm'", "priority"});
    }
    SUBCASE("missing size") {
        refused(one_model(R"({ "path": "a.bin" })"), {"model 'm'", "file 'a.bin'", "size"});
    }
    SUBCASE("size that is not a number") {
        refused(one_model(R"({ "path": "a.bin", "size": "12" })"), {"model 'm'", "file 'a.bin'", "size"});
    }
    SUBCASE("negative size") {
        refused(one_model(R"({ "path": "a.bin", "size": -1 })"), {"model 'm'", "file 'a.bin'", "size"});
    }
    SUBCASE("enormous size") {
        refused(one_model(R"({ "path": "a.bin", "size": 18446744073709551615 })"),
                {"model 'm'", "file 'a.bin'", "size", "not plausible"});
    }
    SUBCASE("a size beyond 64 bits") {
        refused(one_model(R"({ "path": "a.bin", "size": 1e30 })"), {"model 'm'", "file 'a.bin'", "size"});
    }
    SUBCASE("missing url: no urls and no base_url") {
        refused(one_model(R"({ "path": "a.bin", "size": 1 })", R"("dir": "d")"), {"model 'm'", "file 'a.bin'", "URL"});
    }
    SUBCASE("empty urls") {
        refused(one_model(R"({ "path": "a.bin", "size": 1, "urls": [] })"), {"model 'm'", "file 'a.bin'", "urls"});
    }
    SUBCASE("a URL that is not one") {
        refused(one_model(R"({ "path": "a.bin", "size": 1, "urls": ["not a url"] })"),
                {"model 'm'", "file 'a.bin'", "bad URL"});
    }
    SUBCASE("bad hex digest: wrong length") {
        refused(one_model(R"({ "path": "a.bin", "size": 1, "sha256": "9f86d0" })"),
                {"model 'm'", "file 'a.bin'", "sha256", "hex"});
    }
    SUBCASE("bad hex digest: not hex") {
        std::string bad(64, 'g');
        refused(one_model(R"({ "path": "a.bin", "size": 1, "sha256": ")" + bad + R"(" })"),
                {"model 'm'", "file 'a.bin'", "sha256", "hex"});
    }
    SUBCASE("absolute path") {
        refused(one_model(R"({ "path": "/etc/passwd", "size": 1 })"), {"model 'm'", "file '/etc/passwd'", "absolute"});
    }
    SUBCASE("a path with ..") {
        refused(one_model(R"({ "path": "sub/../../escape.bin", "size": 1 })"),
                {"model 'm'", "file 'sub/../../escape.bin'", "'..'"});
    }
    SUBCASE("a path that is only ..") {
        refused(one_model(R"({ "path": "..", "size": 1 })"), {"model 'm'", "'..'"});
    }
    SUBCASE("empty path") {
        refused(one_model(R"({ "path": "", "size": 1 })"), {"model 'm'", "file ''", "empty"});
    }
    SUBCASE("missing path") {
        refused(one_model(R"({ "size": 1 })"), {"model 'm'", "path"});
    }
    SUBCASE("a dir with ..") {
        refused(one_model(R"({ "path": "a.bin", "size": 1 })", R"("dir": "../up", "base_url": "https://h.example/")"),
                {"model 'm'", "dir", "'..'"});
    }
    SUBCASE("duplicate destinations within a model") {
        refused(one_model(R"({ "path": "a.bin", "size": 1 }, { "path": "a.bin", "size": 2 })"),
                {"model 'm'", "file 'a.bin'", "used twice"});
    }
    SUBCASE("duplicate destinations across models with overlapping dirs") {
        refused(R"({ "models": [
            { "id": "one", "dir": "shared", "base_url": "https://h.example/",
              "files": [ { "path": "sub/w.bin", "size": 1 } ] },
            { "id": "two", "dir": "shared/sub", "base_url": "https://h.example/",
              "files": [ { "path": "w.bin", "size": 1 } ] } ] })",
                {"model 'two'", "file 'w.bin'", "used twice"});
    }
    SUBCASE("duplicate model ids") {
        refused(R"({ "models": [
            { "id": "same", "dir": "a", "base_url": "https://h.example/", "files": [ { "path": "x", "size": 1 } ] },
            { "id": "same", "dir": "b", "base_url": "https://h.example/", "files": [ { "path": "y", "size": 1 } ] } ] })",
                {"model 'same'", "twice"});
    }
    SUBCASE("a model without files") {
        refused(one_model(""), {"model 'm'", "files"});
    }
    SUBCASE("a model without an id") {
        refused(R"({ "models": [ { "base_url": "https://h.example/", "files": [ { "path": "x", "size": 1 } ] } ] })",
                {"id"});
    }
    SUBCASE("malformed JSON") {
        refused(R"({ "models": [ { "id": "m", )", {"malformed JSON"});
    }
    SUBCASE("not a manifest object") {
        refused(R"([1, 2, 3])", {"models"});
    }
    SUBCASE("no models") {
        refused(R"({ "models": [] })", {"no models"});
    }
}
