// hub_settings_from with an injected environment (and real token files).
#include "engine/hub_settings.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using namespace ferry;
namespace fs = std::filesystem;

namespace {

environment_lookup environment(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end())
            return std::nullopt;
        return it->second;
    };
}

struct token_dir {
    fs::path path;
    token_dir() {
        std::string pattern = "/tmp/ferry-hub-settings-XXXXXX";
        REQUIRE(::mkdtemp(pattern.data()));
        path = pattern;
    }
    ~token_dir() { fs::remove_all(path); }
    void write(const fs::path& file, const std::string& text) const {
        fs::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
    }
};

} // namespace

TEST_CASE("defaults: ~/.cache/huggingface, hub under it, the public endpoint, no token") {
    auto s = hub_settings_from(environment({{"HOME", "/home/u"}}));
    CHECK(s.endpoint == "https://huggingface.co");
    CHECK(s.home == fs::path("/home/u/.cache/huggingface"));
    CHECK(s.cache == fs::path("/home/u/.cache/huggingface/hub"));
    CHECK_FALSE(s.token);
    CHECK_FALSE(s.offline);
    CHECK(s.implicit_token);
    CHECK(s.user_agent_origin.empty());
    CHECK(s.etag_timeout == std::chrono::seconds(10));
    CHECK(s.download_timeout == std::chrono::seconds(10));
}

TEST_CASE("XDG_CACHE_HOME, HF_HOME with ~ and $VAR, HF_HUB_CACHE before HUGGINGFACE_HUB_CACHE") {
    CHECK(hub_settings_from(environment({{"HOME", "/h"}, {"XDG_CACHE_HOME", "/xdg"}})).home ==
          fs::path("/xdg/huggingface"));
    auto s = hub_settings_from(environment({{"HOME", "/h"}, {"DATA", "/data"}, {"HF_HOME", "~/hf"}}));
    CHECK(s.home == fs::path("/h/hf"));
    CHECK(s.cache == fs::path("/h/hf/hub"));
    CHECK(hub_settings_from(environment({{"DATA", "/data"}, {"HF_HOME", "$DATA/hf"}})).home == fs::path("/data/hf"));
    CHECK(hub_settings_from(environment({{"DATA", "/data"}, {"HF_HOME", "${DATA}x/$UNSET/y"}})).home ==
          fs::path("/datax/$UNSET/y"));
    CHECK(hub_settings_from(environment({{"HF_HOME", "/a"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}})).cache ==
          fs::path("/legacy"));
    CHECK(hub_settings_from(environment({{"HF_HUB_CACHE", "/new"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}})).cache ==
          fs::path("/new"));
    CHECK(hub_settings_from(environment({{"HOME", "/h"}, {"HF_HUB_CACHE", "~/c"}})).cache == fs::path("/h/c"));
    // Empty counts as unset.
    CHECK(hub_settings_from(environment({{"HOME", "/h"}, {"HF_HOME", ""}})).home == fs::path("/h/.cache/huggingface"));
}

TEST_CASE("HF_ENDPOINT loses its trailing slashes") {
    CHECK(hub_settings_from(environment({{"HF_ENDPOINT", "https://hub.example/prefix//"}})).endpoint ==
          "https://hub.example/prefix");
    CHECK(hub_settings_from(environment({{"HF_ENDPOINT", "http://127.0.0.1:8080"}})).endpoint ==
          "http://127.0.0.1:8080");
}

TEST_CASE("tokens: HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the token file, cleaned") {
    token_dir tmp;
    auto home = tmp.path / "hf";
    tmp.write(home / "token", "  hf_file\r\n");
    CHECK(hub_settings_from(environment({{"HF_HOME", home.string()}})).token == "hf_file");
    CHECK(hub_settings_from(environment({{"HF_HOME", home.string()}, {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"}}))
              .token == "hf_legacy");
    CHECK(hub_settings_from(environment({{"HF_HOME", home.string()},
                                         {"HUGGING_FACE_HUB_TOKEN", "hf_legacy"},
                                         {"HF_TOKEN", " hf_a\nb \n"}}))
              .token == "hf_ab");
    // A token of spaces is none: the next source counts.
    CHECK(hub_settings_from(environment({{"HF_HOME", home.string()}, {"HF_TOKEN", " \r\n"}})).token == "hf_file");

    tmp.write(tmp.path / "elsewhere", "hf_path\n");
    CHECK(hub_settings_from(environment({{"HF_HOME", home.string()}, {"HF_TOKEN_PATH", (tmp.path / "elsewhere").string()}}))
              .token == "hf_path");
    tmp.write(home / "token", "\n\n");
    CHECK_FALSE(hub_settings_from(environment({{"HF_HOME", home.string()}})).token);
    CHECK_FALSE(hub_settings_from(environment({{"HF_HOME", (tmp.path / "none").string()}})).token);
}

TEST_CASE("truthy flags and timeouts") {
    for (const char* yes : {"1", "ON", "on", "Yes", "TRUE", "true", " 1 "})
        CHECK_MESSAGE(is_truthy(yes), yes);
    for (const char* no : {"", "0", "off", "no", "false", "2", "y"})
        CHECK_MESSAGE(!is_truthy(no), no);
    auto s = hub_settings_from(environment({{"HF_HUB_OFFLINE", "yes"},
                                            {"HF_HUB_DISABLE_IMPLICIT_TOKEN", "1"},
                                            {"HF_HUB_USER_AGENT_ORIGIN", "my-app"},
                                            {"HF_HUB_ETAG_TIMEOUT", "3"},
                                            {"HF_HUB_DOWNLOAD_TIMEOUT", "60"}}));
    CHECK(s.offline);
    CHECK_FALSE(s.implicit_token);
    CHECK(s.user_agent_origin == "my-app");
    CHECK(s.etag_timeout == std::chrono::seconds(3));
    CHECK(s.download_timeout == std::chrono::seconds(60));
    auto bad = hub_settings_from(environment({{"HF_HUB_ETAG_TIMEOUT", "soon"}, {"HF_HUB_DOWNLOAD_TIMEOUT", "-5"}}));
    CHECK(bad.etag_timeout == std::chrono::seconds(10));
    CHECK(bad.download_timeout == std::chrono::seconds(10));
}

TEST_CASE("process_environment reads getenv") {
    ::setenv("FERRY_HUB_SETTINGS_TEST", "x", 1);
    auto env = process_environment();
    CHECK(env("FERRY_HUB_SETTINGS_TEST") == "x");
    ::unsetenv("FERRY_HUB_SETTINGS_TEST");
    CHECK_FALSE(env("FERRY_HUB_SETTINGS_TEST"));
}
