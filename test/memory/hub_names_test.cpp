// The name checks of memory/hub_cache.hpp (memory/hub_names.cpp): what the network says is
// checked before it names a folder or file of the cache.
#include "memory/hub_cache.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace ferry;

TEST_CASE("hub names: repo types and folder names") {
    CHECK(std::string(to_string(hub_repo_type::model)) == "model");
    CHECK(std::string(to_string(hub_repo_type::dataset)) == "dataset");
    CHECK(std::string(to_string(hub_repo_type::space)) == "space");
    CHECK(parse_hub_repo_type("model") == hub_repo_type::model);
    CHECK(parse_hub_repo_type("dataset") == hub_repo_type::dataset);
    CHECK(parse_hub_repo_type("space") == hub_repo_type::space);
    CHECK_FALSE(parse_hub_repo_type("Model").has_value());
    CHECK_FALSE(parse_hub_repo_type("").has_value());

    CHECK(hub_repo_id{hub_repo_type::model, "acme/tiny"}.folder_name() == "models--acme--tiny");
    CHECK(hub_repo_id{hub_repo_type::model, "gpt2"}.folder_name() == "models--gpt2");
    CHECK(hub_repo_id{hub_repo_type::dataset, "org/x"}.folder_name() == "datasets--org--x");
    CHECK(hub_repo_id{hub_repo_type::space, "org/app"}.folder_name() == "spaces--org--app");
}

TEST_CASE("hub names: repo ids") {
    CHECK(valid_hub_repo_id("acme/tiny"));
    CHECK(valid_hub_repo_id("gpt2"));
    CHECK(valid_hub_repo_id("Org_1.x/Model-2.5B_v1"));
    CHECK(valid_hub_repo_id(std::string(96, 'a') + "/" + std::string(96, 'b')));
    CHECK_FALSE(valid_hub_repo_id(std::string(97, 'a')));
    CHECK_FALSE(valid_hub_repo_id(""));
    CHECK_FALSE(valid_hub_repo_id("a/b/c"));
    CHECK_FALSE(valid_hub_repo_id("/tiny"));
    CHECK_FALSE(valid_hub_repo_id("acme/"));
    CHECK_FALSE(valid_hub_repo_id("../tiny"));
    CHECK_FALSE(valid_hub_repo_id("acme/.."));
    CHECK_FALSE(valid_hub_repo_id("./x"));
    CHECK_FALSE(valid_hub_repo_id("acme--x/tiny")); // would read as models--acme--x--tiny
    CHECK_FALSE(valid_hub_repo_id("acme/ti ny"));
    CHECK_FALSE(valid_hub_repo_id("acme\\tiny"));
}

TEST_CASE("hub names: shas, etags, paths and revisions") {
    const std::string sha = "0123456789abcdef0123456789abcdef01234567";
    CHECK(is_commit_sha(sha));
    CHECK_FALSE(is_commit_sha(sha.substr(1)));
    CHECK_FALSE(is_commit_sha(sha + "0"));
    CHECK_FALSE(is_commit_sha("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK_FALSE(is_commit_sha("g123456789abcdef0123456789abcdef01234567"));
    CHECK(is_blob_etag(sha));
    CHECK(is_blob_etag(std::string(64, 'f')));
    CHECK_FALSE(is_blob_etag(std::string(63, 'f')));
    CHECK_FALSE(is_blob_etag(std::string(64, 'F')));
    CHECK_FALSE(is_blob_etag("../../x"));

    CHECK(valid_hub_file_path("config.json"));
    CHECK(valid_hub_file_path("sub/dir/weights.bin"));
    CHECK(valid_hub_file_path(".gitattributes"));
    CHECK(valid_hub_file_path("a/..b/c.."));
    CHECK(valid_hub_file_path(std::string(4096, 'a')));
    CHECK_FALSE(valid_hub_file_path(std::string(4097, 'a')));
    for (auto bad : {"", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a/./b", "a//b", "a/", "a\\b", ".", ".."})
        CHECK_MESSAGE(!valid_hub_file_path(bad), bad);
    CHECK_FALSE(valid_hub_file_path(std::string("a\0b", 3)));

    CHECK(valid_hub_revision("main"));
    CHECK(valid_hub_revision("refs/pr/1"));
    CHECK(valid_hub_revision("v1.0"));
    CHECK_FALSE(valid_hub_revision(".hidden"));
    CHECK_FALSE(valid_hub_revision("../main"));
    CHECK_FALSE(valid_hub_revision("refs//pr"));
    CHECK_FALSE(valid_hub_revision(""));
}
