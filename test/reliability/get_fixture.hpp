#pragma once

// What the reliability tests that run the real `ferry get` binary share (crash_test, disk_test):
// the in-process origin serving synthetic files, a scratch directory holding its CA, manifests
// with sizes and digests, and `ferry get` command lines.

#include "cli/child_process.hpp"

#include "memory/sha256.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ferry::test {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;

/// An origin (started, with `config`) and a scratch directory `/tmp/PREFIX-XXXXXX` holding the CA
/// to trust (`ca`), the manifests and the output of runs. The origin stops first on destruction.
struct get_fixture {
    origin::origin_server server;
    scratch_dir dir;
    std::filesystem::path ca = dir / "ca.pem";

    explicit get_fixture(const char* prefix, origin::origin_config config = {}) : server(config), dir(prefix) {
        server.start();
        server.write_ca(ca);
    }
    ~get_fixture() { server.stop(); }
    get_fixture(const get_fixture&) = delete;
    get_fixture& operator=(const get_fixture&) = delete;

    void serve(const std::string& name, std::uint64_t size) { server.add_synthetic(name, size); }
    /// The URL of `name`, by IP (ferry needs no resolver for it).
    std::string url(const std::string& name) const { return server.ip_url(name); }
    sha256_digest digest(const std::string& name, std::uint64_t size) const {
        return origin::synthetic_sha256(name, size, server.config().seed);
    }
    /// `file` is a regular file (not a symlink) holding exactly the synthetic bytes of `name`.
    bool matches(const std::filesystem::path& file, const std::string& name, std::uint64_t size) const {
        std::error_code ec;
        return std::filesystem::is_regular_file(std::filesystem::symlink_status(file, ec)) &&
               std::filesystem::file_size(file, ec) == size && sha256_of_file(file) == digest(name, size);
    }

    /// `PREFIX... ferry get --ca-cert CA --no-fsync -q -d DEST REST...`.
    std::vector<std::string> get(const std::filesystem::path& dest, std::vector<std::string> rest,
                                 std::vector<std::string> prefix = {}) const {
        std::vector<std::string> argv = std::move(prefix);
        for (std::string a : {std::string(FERRY_BINARY), std::string("get"), std::string("--ca-cert"), ca.string(),
                              std::string("--no-fsync"), std::string("-q"), std::string("-d"), dest.string()})
            argv.push_back(std::move(a));
        argv.insert(argv.end(), rest.begin(), rest.end());
        return argv;
    }

    /// Writes DIR/ID.json: one model `id` (its directory is `id`) whose base_url is the origin,
    /// with each file's size and sha256. The files must be served (serve()) to be fetched.
    std::filesystem::path manifest(const std::string& id, const std::vector<std::pair<std::string, std::uint64_t>>& files) {
        std::string text = R"({"models":[{"id":")" + id + R"(","base_url":")" + server.ip_url("") + R"(","files":[)";
        bool first = true;
        for (auto& [name, size] : files) {
            if (!first)
                text += ',';
            first = false;
            text.append(R"({"path":")").append(name).append(R"(","size":)").append(std::to_string(size));
            text.append(R"(,"sha256":")").append(to_hex(digest(name, size))).append(R"("})");
        }
        text += "]}]}";
        auto path = dir / (id + ".json");
        spit(path, text);
        return path;
    }

    /// Runs a program to completion (killed after `timeout`), its output captured in DIR.
    run_result run(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(60)) {
        return run_program(argv, dir.path(), timeout);
    }
};

} // namespace ferry::test
