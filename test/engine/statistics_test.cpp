// Snapshot statistics against the real origin: request latency per host (time to first byte and
// duration, counted against the requests the origin saw), a model's speed and ETA while it runs,
// and the same numbers in the stats JSON.
#include "engine_fixture.hpp"

#include "engine/stats_json.hpp"

#include <boost/asio/post.hpp>

using namespace ferry;
using ferry::test::engine_fixture;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

struct finished_run {
    model_result result;
    engine_stats stats; ///< taken once the model finished
};

/// Runs `m` to completion on a fresh io_context and takes a snapshot right after.
finished_run run_then_snapshot(const engine_config& c, model_spec m) {
    asio::io_context io;
    std::optional<finished_run> out;
    {
        engine e(io.get_executor(), c);
        auto added = e.add(std::move(m));
        REQUIRE_MESSAGE(added, added.error);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto waiting = e.wait(added.id);
                auto result = co_await std::move(waiting);
                auto snapshot = e.stats();
                auto stats = co_await std::move(snapshot);
                out = finished_run{std::move(result), std::move(stats)};
            },
            asio::detached);
        io.run_for(std::chrono::seconds(120));
    }
    REQUIRE_MESSAGE(out.has_value(), "the download did not finish in time");
    return std::move(*out);
}

double seconds(latency_histogram::duration d) { return std::chrono::duration<double>(d).count(); }

} // namespace

TEST_CASE("every request is timed per host: time to first byte at least the origin's delay") {
    engine_fixture f;
    origin::fault late;
    late.first_byte_delay = 300ms;
    f.server.add_fault("*", late);
    auto c = f.config();
    // Several requests: the first piece, then the other connections' shares.
    auto run = run_then_snapshot(c, f.model({{"late-a.bin", 3 * MiB}, {"late-b.bin", 100 * KiB}}));
    REQUIRE(run.result.ok());

    auto seen = f.server.stats();
    CAPTURE(seen.requests);
    CHECK(seen.requests >= 3);
    REQUIRE(run.stats.latency.size() == 1);
    auto& [origin, latency] = *run.stats.latency.begin();
    CHECK(run.stats.hosts.count(origin) == 1);
    CHECK(latency.ttfb.count() == seen.requests);
    CHECK(latency.duration.count() == seen.requests);

    auto ttfb_p50 = latency.ttfb.percentile(50);
    REQUIRE(ttfb_p50.has_value());
    CHECK(*ttfb_p50 >= 300ms);
    CHECK(*latency.ttfb.percentile(99) >= *ttfb_p50);
    // A request lasts at least until its head: so does every percentile.
    for (double p : {50.0, 95.0, 99.0})
        CHECK(*latency.duration.percentile(p) >= *latency.ttfb.percentile(p));

    // The same numbers in the stats JSON, in seconds.
    auto json = to_json(run.stats);
    auto& host = json.at("hosts").at(origin).as_object();
    CHECK(host.at("ttfb").at("count").to_number<std::uint64_t>() == seen.requests);
    CHECK(host.at("duration").at("count").to_number<std::uint64_t>() == seen.requests);
    CHECK(host.at("ttfb").at("p50").as_double() == doctest::Approx(seconds(*ttfb_p50)));
    CHECK(host.at("ttfb").at("p50").as_double() >= 0.3);
    for (auto* key : {"p95", "p99", "max"})
        CHECK(host.at("duration").at(key).as_double() >= 0.3);
    // Done: nothing left to wait for.
    auto& model = json.at("models").as_array().at(0).as_object();
    CHECK(model.at("eta_seconds").as_double() == 0);
    CHECK(model.at("completion").as_double() == 1);
    CHECK(model.contains("speed"));
    CHECK(model.at("state").as_string() == "complete");
    CHECK_FALSE(model.contains("position")); // it left the queue
    CHECK(json.contains("speed"));
    CHECK(json.at("files_ended").at("done").to_number<std::uint64_t>() == run.stats.files_ended.done);
    CHECK(run.stats.files_ended.done >= 1);
    CHECK(json.at("retries").to_number<std::uint64_t>() == 0);
}

TEST_CASE("a host that answered nothing yet has empty latency histograms, null percentiles in JSON") {
    engine_stats stats;
    stats.hosts["https://nowhere.example:443"] = {};
    auto json = to_json(stats);
    auto& ttfb = json.at("hosts").at("https://nowhere.example:443").at("ttfb").as_object();
    CHECK(ttfb.at("count").to_number<std::uint64_t>() == 0);
    CHECK(ttfb.at("p50").is_null());
    CHECK(ttfb.at("max").is_null());
}

TEST_CASE("mid-transfer under a rate limit a model has a speed and an ETA; paused, no ETA") {
    engine_fixture f;
    auto c = f.config();
    c.limit_rate = 1 * MiB; // 8 MiB would take 8 s: the model is cancelled once measured
    auto m = f.model({{"limited.bin", 8 * MiB}});

    asio::io_context io;
    std::optional<engine_stats> running, paused, finished;
    std::optional<model_result> result;
    {
        engine e(io.get_executor(), c);
        bool measuring = false;
        e.subscribe([&](const event& ev) {
            // A quarter in, some seconds of transfer lie behind: measure, pause, measure, cancel.
            if (ev.what != event::kind::progress || ev.bytes < 2 * MiB || measuring)
                return;
            measuring = true;
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                    auto first = e.stats();
                    running = co_await std::move(first);
                    e.pause("test");
                    // Queued behind the pause on the engine's strand: the snapshot sees it.
                    auto behind_pause = asio::post(e.get_executor(), asio::use_awaitable);
                    co_await std::move(behind_pause);
                    auto second = e.stats();
                    paused = co_await std::move(second);
                    e.cancel("test");
                },
                asio::detached);
        });
        REQUIRE(e.add(m));
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto waiting = e.wait("test");
                result = co_await std::move(waiting);
                auto last = e.stats();
                finished = co_await std::move(last);
            },
            asio::detached);
        io.run_for(std::chrono::seconds(60));
    }
    REQUIRE(result.has_value());
    REQUIRE(running.has_value());
    REQUIRE(paused.has_value());
    REQUIRE(finished.has_value());

    auto& mid = running->models.at(0);
    CAPTURE(mid.speed);
    CAPTURE(mid.bytes_done);
    CHECK(mid.speed > 0);
    CHECK(mid.speed < 4.0 * double(c.limit_rate)); // the limit, give or take its burst
    CHECK(running->speed > 0);
    CHECK(mid.completion() > 0);
    CHECK(mid.completion() < 1);
    REQUIRE(mid.eta_seconds.has_value());
    CHECK(*mid.eta_seconds > 0);
    CHECK(*mid.eta_seconds == doctest::Approx(double(mid.bytes_total - mid.bytes_done) / mid.speed));

    auto running_json = to_json(*running);
    auto& json_model = running_json.at("models").as_array().at(0).as_object();
    CHECK(json_model.at("speed").as_double() > 0);
    CHECK(json_model.at("eta_seconds").as_double() > 0);

    CHECK(paused->models.at(0).paused);
    CHECK_FALSE(paused->models.at(0).eta_seconds.has_value());
    auto paused_json = to_json(*paused);
    CHECK_FALSE(paused_json.at("models").as_array().at(0).as_object().contains("eta_seconds"));
    CHECK(paused_json.at("models").as_array().at(0).at("state").as_string() == "paused");
    CHECK(paused_json.at("models").as_array().at(0).at("position").to_number<std::uint64_t>() == 0);

    // Cancelled: every file has finished, nothing is left to wait for.
    CHECK(finished->models.at(0).eta_seconds == 0.0);

    // The resources: this process, and the disk the running model writes to.
    auto& r = running->resources;
    CHECK(r.resident_bytes > 0);
    CHECK(r.cpu_seconds > 0);
    CHECK(r.cpus >= 1);
    CHECK(r.open_fds > 0);
    REQUIRE(r.disks.size() == 1);
    CHECK(r.disks[0].dir == m.dir.string());
    CHECK(r.disks[0].free_bytes > 0);
    CHECK(r.disks[0].total_bytes >= r.disks[0].free_bytes);
    CHECK(finished->resources.disks.empty()); // nothing left in the queue to write
    auto& resources_json = running_json.at("resources").as_object();
    CHECK(resources_json.at("resident_bytes").to_number<std::uint64_t>() == r.resident_bytes);
    CHECK(resources_json.at("disks").as_array().at(0).at("dir").as_string() == m.dir.string());
    CHECK(resources_json.at("cgroup").as_object().contains("memory_max"));
}

TEST_CASE("slow connections hold no buffer while they wait for their server") {
    engine_fixture f;
    // 24 files at 32 KiB/s each, all at once: every connection waits most of the time.
    f.cap_rate("/slow-*", 32 * KiB);
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (int i = 0; i < 24; ++i)
        files.emplace_back("slow-" + std::to_string(i) + ".bin", 48 * KiB);
    auto c = f.config();
    c.max_files = 24;
    c.connections_per_file = 1;
    auto run = run_then_snapshot(c, f.model(files));
    for (const auto& file : run.result.files)
        CHECK(file.outcome == file_outcome::done);
    CHECK(f.server.stats().body_bytes_sent == 24 * 48 * KiB);
    // A buffer is taken when bytes are there and given back once they are written: the most ever
    // made stays well below one per connection (each of the 24 held one before).
    CAPTURE(run.stats.buffers_allocated);
    CHECK(run.stats.buffers_allocated <= 12);
    CHECK(run.stats.buffers_in_use == 0);
}
