#pragma once

// An origin on its own threads and an engine run on a test-owned io_context, with helpers to run a
// model to completion (bounded by time) and check what landed on disk.

#include "engine/engine.hpp"
#include "memory/sha256.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry::test {

inline std::filesystem::path make_temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ferry-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    return pattern;
}

/// The result of a model of one file.
inline const file_result& only_file(const model_result& r) {
    REQUIRE(r.files.size() == 1);
    return r.files.front();
}

struct engine_fixture {
    origin::origin_server server;
    std::filesystem::path dir = make_temp_dir();
    std::filesystem::path ca_file = dir / "ca.pem";
    std::filesystem::path out = dir / "out";

    explicit engine_fixture(origin::origin_config config = {}) : server(config) {
        server.start();
        server.write_ca(ca_file);
        std::filesystem::create_directories(out);
    }
    ~engine_fixture() {
        server.stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }

    /// Paces every response for `path` (a prefix when it ends in '*') to `rate` bytes/s, as a
    /// server that caps each connection.
    void cap_rate(const std::string& path, std::uint64_t rate) {
        origin::fault capped;
        capped.rate = rate;
        server.add_fault(path, capped);
    }

    /// Quick retries and timeouts, so that fault tests finish fast.
    engine_config config() const {
        engine_config c;
        c.ca_file = ca_file;
        c.retry.base_delay = std::chrono::milliseconds(20);
        c.retry.max_delay = std::chrono::milliseconds(200);
        c.retry.give_up_after = std::chrono::milliseconds(0);
        c.proxy.use_environment = false; // a proxy set on the machine must not see test traffic
        c.timeouts.stall = std::chrono::milliseconds(2000);
        c.timeouts.first_byte = std::chrono::milliseconds(5000);
        c.fsync = false;
        return c;
    }

    /// config() with adaptive connections (no -x) that may grow to `ceiling`, pieces of 256 KiB
    /// and room for them on one host.
    engine_config adaptive_config(std::size_t ceiling) const {
        auto c = config();
        c.connections_per_file = 0;
        c.max_connections_per_file = ceiling;
        c.max_connections_per_host = 64;
        c.max_connections = 64;
        c.min_piece = 256 * 1024;
        return c;
    }

    /// A model of synthetic files served at /NAME, landing in `out`.
    model_spec model(const std::vector<std::pair<std::string, std::uint64_t>>& files, bool with_digests = true) {
        model_spec m;
        m.id = "test";
        m.dir = out;
        for (auto& [name, size] : files) {
            server.add_synthetic(name, size);
            file_spec f;
            f.urls = {server.url(name)};
            f.path = name;
            f.size = size;
            if (with_digests)
                f.sha256 = origin::synthetic_sha256(name, size, server.config().seed);
            m.files.push_back(f);
        }
        return m;
    }

    /// A model of one file fetched from `path` on the origin (whatever is served there, or not).
    model_spec single(const std::string& path) const {
        model_spec m;
        m.id = "single";
        m.dir = out;
        file_spec spec;
        spec.urls = {server.url(path)};
        spec.path = path;
        m.files.push_back(spec);
        return m;
    }

    /// A setup for run() that stops the engine once a file has `bytes` done (a download cut short).
    static std::function<void(engine&)> stop_at(std::uint64_t bytes) {
        return [bytes](engine& e) {
            e.subscribe([&e, bytes](const event& ev) {
                if (ev.what == event::kind::progress && ev.bytes >= bytes)
                    e.stop();
            });
        };
    }

    /// Runs `m` to completion on a fresh io_context; `setup` may subscribe or schedule control
    /// calls. Fails the test if it does not finish within `limit`.
    model_result run(const engine_config& c, model_spec m, std::function<void(engine&)> setup = {},
                     std::chrono::seconds limit = std::chrono::seconds(120)) {
        boost::asio::io_context io;
        std::optional<model_result> result;
        {
            engine e(io.get_executor(), c);
            if (setup)
                setup(e);
            auto added = e.add(std::move(m));
            REQUIRE_MESSAGE(added, added.error);
            boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { result = co_await e.wait(added.id); },
                                  boost::asio::detached);
            io.run_for(limit);
        }
        REQUIRE_MESSAGE(result.has_value(), "the download did not finish in time");
        return *result;
    }

    bool matches_synthetic(const std::string& name, std::uint64_t size, std::uint64_t version = 0) const {
        return sha256_of_file(out / name) == origin::synthetic_sha256(name, size, server.config().seed + version);
    }
    bool leftovers(const std::string& name) const {
        return std::filesystem::exists(out / (name + ".part")) || std::filesystem::exists(out / (name + ".part.journal"));
    }
};

} // namespace ferry::test
