// Scheduling as the origin sees it: which paths got their first request first (priority, small
// files first) and how many connections were open at once (files per model, files in total,
// connections per host).
#include "engine_fixture.hpp"

#include <algorithm>
#include <limits>

using namespace ferry;
using ferry::test::engine_fixture;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

/// Sequence number of the first request the origin saw for `name` (max when none).
std::uint64_t first_request(const origin::origin_stats& stats, const std::string& name) {
    for (auto& r : stats.log)
        if (r.path == "/" + name)
            return r.sequence;
    return std::numeric_limits<std::uint64_t>::max();
}

model_spec named(model_spec m, std::string id, priority p) {
    m.id = std::move(id);
    m.prio = p;
    return m;
}

/// Adds every model, runs them to completion on a fresh io_context (bounded in time) and returns
/// their results in order. `setup` may subscribe before the models are added.
std::vector<model_result> run_models(engine_config c, std::vector<model_spec> models,
                                     std::function<void(engine&)> setup = {},
                                     std::chrono::seconds limit = std::chrono::seconds(60)) {
    boost::asio::io_context io;
    std::vector<model_result> results;
    bool finished = false;
    {
        engine e(io.get_executor(), c);
        if (setup)
            setup(e);
        std::vector<std::string> ids;
        for (auto& m : models) {
            auto added = e.add(m);
            REQUIRE_MESSAGE(added, added.error);
            ids.push_back(added.id);
        }
        boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                for (auto& id : ids) {
                    auto one = e.wait(id);
                    results.push_back(co_await std::move(one));
                }
                finished = true;
            },
            boost::asio::detached);
        io.run_for(limit);
    }
    REQUIRE_MESSAGE(finished, "the downloads did not finish in time");
    return results;
}

/// Runs `low`; when `starts` first matches a file's start event, adds `high`. Both must finish
/// (within 60 s) and succeed.
void run_low_then_high(const engine_config& c, const model_spec& low, const model_spec& high,
                       std::function<bool(const event&)> starts) {
    boost::asio::io_context io;
    std::optional<model_result> low_result, high_result;
    {
        engine e(io.get_executor(), c);
        bool added_high = false;
        e.subscribe([&](const event& ev) {
            if (ev.what == event::kind::started && starts(ev) && !added_high) {
                added_high = true;
                auto added = e.add(high);
                CHECK_MESSAGE(added, added.error);
                boost::asio::co_spawn(
                    io, [&]() -> boost::asio::awaitable<void> { high_result = co_await e.wait("high"); },
                    boost::asio::detached);
            }
        });
        REQUIRE(e.add(low));
        boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { low_result = co_await e.wait("low"); },
                              boost::asio::detached);
        io.run_for(std::chrono::seconds(60));
    }
    REQUIRE(low_result.has_value());
    REQUIRE(high_result.has_value());
    CHECK(low_result->ok());
    CHECK(high_result->ok());
}

} // namespace

TEST_CASE("a high-priority model added after a low one, before the executor runs, is fetched first") {
    engine_fixture f;
    auto c = f.config();
    c.max_files = 1;
    auto low = named(f.model({{"low-1.bin", 200 * KiB}, {"low-2.bin", 200 * KiB}}), "low", priority::low);
    auto normal = named(f.model({{"normal-1.bin", 100 * KiB}}), "normal", priority::normal);
    auto high = named(f.model({{"high-1.bin", 300 * KiB}, {"high-2.bin", 300 * KiB}}), "high", priority::high);
    auto results = run_models(c, {low, normal, high});
    for (auto& r : results)
        CHECK(r.ok());

    auto stats = f.server.stats();
    // One file at a time: every request of a model comes before any of the next priority's.
    auto last_of = [&](const std::vector<std::string>& names) {
        std::uint64_t last = 0;
        for (auto& r : stats.log)
            for (auto& n : names)
                if (r.path == "/" + n)
                    last = std::max(last, r.sequence);
        return last;
    };
    CHECK(last_of({"high-1.bin", "high-2.bin"}) < first_request(stats, "normal-1.bin"));
    CHECK(last_of({"normal-1.bin"}) < std::min(first_request(stats, "low-1.bin"), first_request(stats, "low-2.bin")));
}

TEST_CASE("a high-priority model added while a low one runs gets the next free slot") {
    engine_fixture f;
    origin::fault late;
    late.first_byte_delay = std::chrono::milliseconds(200); // low-1 holds the only slot a while
    f.server.add_fault("/busy-1.bin", late);
    auto c = f.config();
    c.max_files = 1;
    auto low = named(f.model({{"busy-1.bin", 100 * KiB}, {"busy-2.bin", 150 * KiB}, {"busy-3.bin", 200 * KiB}}), "low",
                     priority::low);
    auto high = named(f.model({{"urgent-1.bin", 100 * KiB}, {"urgent-2.bin", 100 * KiB}}), "high", priority::high);

    // Once the low model's first file runs, the high one arrives.
    run_low_then_high(c, low, high, [](const event& ev) { return ev.model == "low"; });

    auto stats = f.server.stats();
    auto busy1 = first_request(stats, "busy-1.bin");
    auto urgent1 = first_request(stats, "urgent-1.bin");
    auto urgent2 = first_request(stats, "urgent-2.bin");
    auto busy2 = first_request(stats, "busy-2.bin");
    CHECK(busy1 < urgent1);  // it was running: no preemption
    CHECK(urgent1 < busy2);  // but the next slot went to the high model
    CHECK(urgent2 < busy2);  // and so did the one after
}

TEST_CASE("small files of a model start before its big shards") {
    engine_fixture f;
    auto c = f.config();
    c.max_files = 1;
    auto m = f.model({{"shard-1.safetensors", 3 * MiB},
                      {"config.json", 1523},
                      {"tokenizer.json", 50 * KiB},
                      {"shard-2.safetensors", 2 * MiB},
                      {"model.safetensors.index.json", 10 * KiB}});
    auto results = run_models(c, {m});
    REQUIRE(results.front().ok());
    auto stats = f.server.stats();
    std::vector<std::string> expected = {"config.json", "model.safetensors.index.json", "tokenizer.json",
                                         "shard-2.safetensors", "shard-1.safetensors"};
    for (std::size_t i = 0; i + 1 < expected.size(); ++i) {
        CAPTURE(expected[i]);
        CHECK(first_request(stats, expected[i]) < first_request(stats, expected[i + 1]));
    }
}

TEST_CASE("files in flight per model, in total, and connections per host: peaks seen at the origin") {
    engine_fixture f;
    f.cap_rate("/peak-*", 1 * MiB); // each response takes a quarter of a second: files overlap
    auto c = f.config();
    c.connections_per_file = 1;
    std::vector<std::pair<std::string, std::uint64_t>> a_files, b_files;
    for (int i = 0; i < 6; ++i) {
        a_files.emplace_back("peak-a" + std::to_string(i) + ".bin", 256 * KiB);
        b_files.emplace_back("peak-b" + std::to_string(i) + ".bin", 256 * KiB);
    }
    auto a = named(f.model(a_files), "a", priority::normal);
    auto b = named(f.model(b_files), "b", priority::normal);
    std::uint64_t expected = 0;
    std::vector<model_spec> models;

    SUBCASE("max_files_per_model") {
        c.max_files = 8;
        c.max_files_per_model = 2;
        models = {a};
        expected = 2;
    }
    SUBCASE("max_files_per_model across two models") {
        c.max_files = 8;
        c.max_files_per_model = 2;
        models = {a, b};
        expected = 4;
    }
    SUBCASE("max_files") {
        c.max_files = 3;
        c.max_files_per_model = 8;
        models = {a, b};
        expected = 3;
    }
    SUBCASE("max_connections_per_host") {
        c.max_files = 8;
        c.max_files_per_model = 8;
        c.max_connections_per_host = 3;
        models = {a, b};
        expected = 3;
    }
    f.server.reset_stats();
    auto results = run_models(c, models);
    for (auto& r : results)
        CHECK(r.ok());
    auto stats = f.server.stats();
    CAPTURE(stats.connections_accepted);
    CHECK(stats.peak_connections_open == expected);
    // Keep-alive: no more connections than the cap ever needed.
    CHECK(stats.connections_accepted == expected);
}

TEST_CASE("with the per-host connection cap reached, a high-priority request gets the next connection first") {
    engine_fixture f;
    origin::fault late;
    late.first_byte_delay = std::chrono::milliseconds(300); // held-1 keeps the only connection a while
    f.server.add_fault("/held-1.bin", late);
    auto c = f.config();
    c.max_files = 4;
    c.connections_per_file = 1;
    c.max_connections_per_host = 1;
    // All three low files start at once: held-1 gets the connection, the other two wait for it.
    auto low = named(f.model({{"held-1.bin", 100 * KiB}, {"queued-2.bin", 150 * KiB}, {"queued-3.bin", 200 * KiB}}),
                     "low", priority::low);
    auto high = named(f.model({{"jump-1.bin", 100 * KiB}}), "high", priority::high);

    // The last low file is about to ask for a connection: the high model comes after it.
    run_low_then_high(c, low, high, [](const event& ev) { return ev.file == "queued-3.bin"; });

    auto stats = f.server.stats();
    CHECK(stats.connections_accepted == 1);
    auto held = first_request(stats, "held-1.bin");
    auto jump = first_request(stats, "jump-1.bin");
    auto queued2 = first_request(stats, "queued-2.bin");
    auto queued3 = first_request(stats, "queued-3.bin");
    CHECK(held < jump);     // it had the connection: no preemption
    CHECK(jump < queued2);  // the high request waited least, yet was served first
    CHECK(queued2 < queued3); // first come, first served within one priority
}
