// End-to-end downloads through the engine against the real HTTPS origin, asserting what the origin
// saw and what landed on disk.
#include "engine_fixture.hpp"

#include "memory/resume_journal.hpp"

#include <algorithm>

using namespace ferry;
using ferry::test::engine_fixture;
using ferry::test::only_file;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

/// Runs the test case twice: body writes on the engine's strand (ferry get) and on write threads of
/// their own (ferry serve); returns the engine_config::write_threads of this run.
std::size_t write_threads_of_this_run() {
    std::size_t threads = 0;
    SUBCASE("writes on the loop") {}
    SUBCASE("writes on write threads") { threads = 2; }
    return threads;
}

} // namespace

TEST_CASE("files of every boundary size arrive byte-identical") {
    engine_fixture f;
    auto c = f.config();
    c.write_threads = write_threads_of_this_run();
    c.connections_per_file = 4;
    c.min_piece = 64 * 1024;
    const std::uint64_t piece = c.min_piece;
    std::vector<std::pair<std::string, std::uint64_t>> files = {
        {"zero.bin", 0},         {"one.bin", 1},          {"piece-1.bin", piece - 1},
        {"piece.bin", piece},    {"piece+1.bin", piece + 1}, {"prime.bin", 7919},
        {"big-prime.bin", 1'000'003}, {"two-pieces+1.bin", 2 * piece + 1}, {"many.bin", 5 * MiB + 13},
    };
    auto result = f.run(c, f.model(files));
    REQUIRE(result.ok());
    for (auto& [name, size] : files) {
        CAPTURE(name);
        CHECK(std::filesystem::file_size(f.out / name) == size);
        CHECK(f.matches_synthetic(name, size));
        CHECK_FALSE(f.leftovers(name));
    }
    // Split files were fetched with ranged requests.
    auto stats = f.server.stats();
    std::size_t ranged = 0;
    for (auto& r : stats.log)
        if (r.path == "/many.bin" && !r.range.empty())
            ++ranged;
    CHECK(ranged >= 4);
}

TEST_CASE("a new connection resumes the TLS session of an earlier one") {
    // The origin closes every connection after one response, and files go one at a time, one
    // connection each: every connection after the first can offer the session of the one before.
    engine_fixture f;
    origin::fault close;
    close.close = true;
    f.server.add_fault("/session-*", close);
    auto c = f.config();
    c.max_files = 1;
    c.connections_per_file = 1;
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (int i = 0; i < 4; ++i)
        files.emplace_back("session-" + std::to_string(i) + ".bin", 1000);
    REQUIRE(f.run(c, f.model(files)).ok());
    auto stats = f.server.stats();
    CHECK(stats.connections_accepted == 4);
    CHECK(stats.tls_resumed == 3);
}

TEST_CASE("a wrong checksum fails the file and leaves nothing in place") {
    engine_fixture f;
    auto m = f.model({{"wrong.bin", 300'000}});
    m.files[0].sha256 = origin::synthetic_sha256("other", 300'000, 0);
    auto r = only_file(f.run(f.config(), m));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("sha256 mismatch") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(f.out / "wrong.bin"));
    CHECK_FALSE(f.leftovers("wrong.bin"));
}

TEST_CASE("an untrusted certificate is refused with its reason") {
    engine_fixture f;
    auto c = f.config();
    c.ca_file.clear(); // only the system store: the origin's CA is unknown
    auto r = only_file(f.run(c, f.model({{"secret.bin", 1000}})));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("certificate verify failed") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(f.out / "secret.bin"));
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("a certificate for another host name is refused") {
    origin::origin_config oc;
    oc.pki.dns_names = {"elsewhere.example"};
    oc.pki.ip_addresses = {};
    engine_fixture f(oc);
    auto r = only_file(f.run(f.config(), f.model({{"x.bin", 1000}})));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("certificate verify failed") != std::string::npos);
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("keep-alive connections are reused across files") {
    engine_fixture f;
    auto c = f.config();
    c.max_files = 1;
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (int i = 0; i < 20; ++i)
        files.emplace_back("small-" + std::to_string(i) + ".json", 1000 + i);
    auto result = f.run(c, f.model(files));
    REQUIRE(result.ok());
    auto stats = f.server.stats();
    CHECK(stats.connections_accepted == 1);
    CHECK(stats.requests == 20);
}

TEST_CASE("a server that ignores Range is read as one stream") {
    engine_fixture f;
    origin::fault ignore;
    ignore.ignore_range = true;
    f.server.add_fault("/norange.bin", ignore);
    auto c = f.config();
    c.write_threads = write_threads_of_this_run();
    c.connections_per_file = 4;
    auto r = only_file(f.run(c, f.model({{"norange.bin", 6 * MiB + 5}})));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("norange.bin", 6 * MiB + 5));
    CHECK(f.server.stats().body_bytes_sent <= 7 * MiB); // one full body, no duplicate streams
}

TEST_CASE("a Content-Range that does not match the request is never written") {
    engine_fixture f;
    origin::fault lie;
    lie.content_range_shift = 1;
    lie.shifted_body = true;
    lie.skip = 1;
    lie.times = 2;
    f.server.add_fault("/shifted.bin", lie);
    auto c = f.config();
    c.connections_per_file = 2;
    c.min_piece = 256 * 1024;
    auto r = only_file(f.run(c, f.model({{"shifted.bin", 2 * MiB}})));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);
    CHECK(r.retries >= 1);
    CHECK(f.matches_synthetic("shifted.bin", 2 * MiB));
}

TEST_CASE("503 and 429 with Retry-After are retried") {
    engine_fixture f;
    origin::fault busy;
    busy.status = 503;
    busy.retry_after = "0";
    busy.times = 2;
    f.server.add_fault("/busy.bin", busy);
    origin::fault slow_down;
    slow_down.status = 429;
    slow_down.retry_after = "Thu, 01 Jan 1970 00:00:00 GMT"; // an HTTP-date in the past: no wait
    slow_down.times = 1;
    f.server.add_fault("/limited.bin", slow_down);
    auto result = f.run(f.config(), f.model({{"busy.bin", 100'000}, {"limited.bin", 100'000}}));
    REQUIRE(result.ok());
    for (auto& file : result.files)
        CHECK(file.retries >= 1);
    CHECK(f.matches_synthetic("busy.bin", 100'000));
    auto log = f.server.stats().log;
    CHECK(std::count_if(log.begin(), log.end(), [](auto& r) { return r.path == "/busy.bin"; }) == 3);
}

TEST_CASE("404 fails fast with a clear message") {
    engine_fixture f;
    auto m = f.single("nothing-here.bin");
    auto r = only_file(f.run(f.config(), m));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("404") != std::string::npos);
    CHECK(f.server.stats().requests == 1);
    CHECK_FALSE(std::filesystem::exists(f.out / "nothing-here.bin"));
}

TEST_CASE("dropped connections resume their range without refetching the file") {
    engine_fixture f;
    origin::fault drop;
    drop.drop_after = 300'000;
    drop.times = 3;
    f.server.add_fault("/flaky.bin", drop);
    auto c = f.config();
    c.connections_per_file = 2;
    const std::uint64_t size = 4 * MiB;
    auto r = only_file(f.run(c, f.model({{"flaky.bin", size}})));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("flaky.bin", size));
    CHECK(f.server.stats().body_bytes_sent < size + size / 5);
}

TEST_CASE("a stalled response times out and the transfer recovers") {
    engine_fixture f;
    origin::fault stall;
    stall.stall_after = 100'000;
    stall.times = 1;
    f.server.add_fault("/stall.bin", stall);
    auto c = f.config();
    c.timeouts.stall = std::chrono::milliseconds(500);
    c.connections_per_file = 1;
    auto r = only_file(f.run(c, f.model({{"stall.bin", 1 * MiB}})));
    CHECK(r.outcome == file_outcome::done);
    CHECK(r.retries >= 1);
    CHECK(f.matches_synthetic("stall.bin", 1 * MiB));
}

TEST_CASE("redirects are followed and credentials stay with the host that was named") {
    engine_fixture f;
    f.server.add_synthetic("target.bin", 50'000);
    origin::fault moved;
    moved.status = 302;
    moved.location = f.server.ip_url("target.bin"); // another host name: 127.0.0.1
    f.server.add_fault("/start.bin", moved);

    auto m = f.single("start.bin");
    m.files[0].sha256 = origin::synthetic_sha256("target.bin", 50'000, f.server.config().seed);
    auto c = f.config();
    c.headers = {{"Authorization", "Bearer secret-token"}, {"Cookie", "session=1"}};
    auto r = only_file(f.run(c, m));
    CAPTURE(r.message);
    CHECK(r.outcome == file_outcome::done);

    auto stats = f.server.stats();
    bool saw_start = false, saw_target = false;
    for (auto& rec : stats.log) {
        if (rec.path == "/start.bin") {
            saw_start = true;
            CHECK(rec.authorization == "Bearer secret-token");
        }
        if (rec.path == "/target.bin") {
            saw_target = true;
            CHECK(rec.authorization.empty());
            CHECK(rec.cookie.empty());
        }
    }
    CHECK(saw_start);
    CHECK(saw_target);
}

TEST_CASE("a redirect from https to http is refused") {
    engine_fixture f;
    origin::fault downgrade;
    downgrade.status = 301;
    downgrade.location = "http://localhost:" + std::to_string(f.server.port()) + "/plain.bin";
    f.server.add_fault("/secure.bin", downgrade);
    auto m = f.single("secure.bin");
    auto r = only_file(f.run(f.config(), m));
    CHECK(r.outcome == file_outcome::failed);
    CHECK(r.message.find("https to http") != std::string::npos);
}

TEST_CASE("a file that changes on the server mid-download restarts and ends as the new version") {
    engine_fixture f;
    origin::fault changed;
    changed.version = 1;
    changed.skip = 3; // the first requests see version 0, later ones version 1
    f.server.add_fault("/moving.bin", changed);
    auto c = f.config();
    c.write_threads = write_threads_of_this_run();
    c.connections_per_file = 4;
    c.min_piece = 256 * 1024;
    c.max_request = 512 * 1024;
    const std::uint64_t size = 4 * MiB;
    auto m = f.model({{"moving.bin", size}}, false);
    auto r = only_file(f.run(c, m));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("moving.bin", size, 1));
}

TEST_CASE("one slow connection does not hold the file back: its range is stolen") {
    engine_fixture f;
    origin::fault slow;
    slow.rate = 16 * 1024; // the second request crawls: its 4 MiB would take over four minutes
    slow.skip = 1;
    slow.times = 1;
    f.server.add_fault("/tail.bin", slow);
    auto c = f.config();
    c.write_threads = write_threads_of_this_run();
    c.connections_per_file = 4;
    c.min_piece = 64 * 1024;
    const std::uint64_t size = 16 * MiB;
    // Finishing within the limit is only possible if the others took over the slow claim.
    auto r = only_file(f.run(c, f.model({{"tail.bin", size}}), {}, std::chrono::seconds(90)));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("tail.bin", size));
    CHECK(f.server.stats().body_bytes_sent < size + 4 * MiB);
}

TEST_CASE("a file ends with its last byte, not when an idle connection next looks for a claim to hedge") {
    // Every response crawls at 1 MiB/s: connections whose claims are done wait for the others to
    // go slow; one of them watches with a timer far longer than the whole download.
    engine_fixture f;
    f.cap_rate("/even.bin", 1 * MiB);
    auto c = f.config();
    c.write_threads = write_threads_of_this_run();
    c.connections_per_file = 4;
    c.min_piece = 64 * 1024;
    c.hedge_watch = std::chrono::minutes(10);
    const std::uint64_t size = 4 * MiB;
    auto started = std::chrono::steady_clock::now();
    auto r = only_file(f.run(c, f.model({{"even.bin", size}}), {}, std::chrono::seconds(120)));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("even.bin", size));
    // About a second of transfer; the watcher's ten minutes would end the run's two.
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(120));
    CHECK(f.server.stats().body_bytes_sent <= size + 1 * MiB);
}

TEST_CASE("without -x, a file adds connections while each one adds speed, up to the ceiling") {
    // Every response is capped at 1 MiB/s, as a CDN caps each connection: doubling the
    // connections doubles the rate, so the file grows 4 -> 8 -> 16 and stops at the ceiling.
    engine_fixture f;
    f.cap_rate("/capped.bin", 1 * MiB);
    auto c = f.adaptive_config(16);
    const std::uint64_t size = 24 * MiB;
    auto r = only_file(f.run(c, f.model({{"capped.bin", size}}), {}, std::chrono::seconds(90)));
    CHECK(r.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("capped.bin", size));
    // 16 open at once (a connection closed after a steal cut its response may be replaced, and
    // the origin may see the replacement before the close).
    auto stats = f.server.stats();
    CHECK(stats.peak_connections_open >= 16);
    CHECK(stats.connections_accepted >= 16);
}

TEST_CASE("a cancelled download resumes and fetches only what was missing") {
    engine_fixture f;
    f.cap_rate("/resume.bin", 4 * MiB); // slow enough to stop it midway
    auto c = f.config();
    c.connections_per_file = 2;
    const std::uint64_t size = 8 * MiB;
    auto m = f.model({{"resume.bin", size}});

    auto first = only_file(f.run(c, m, engine_fixture::stop_at(4 * MiB)));
    CHECK(first.outcome == file_outcome::cancelled);
    CHECK(std::filesystem::exists(f.out / "resume.bin.part"));
    auto journal = read_journal(f.out / "resume.bin.part.journal");
    REQUIRE(journal.has_value());
    std::uint64_t saved = 0;
    for (auto& range : journal->done)
        saved += range.size();
    CHECK(saved >= 4 * MiB);

    f.server.clear_faults();
    f.server.reset_stats();
    auto second = only_file(f.run(c, m));
    CHECK(second.outcome == file_outcome::done);
    CHECK(second.bytes_resumed == saved);
    CHECK(second.bytes_fetched == size - saved);
    // What the origin sent beyond the missing bytes is only what a steal cut short (data in
    // flight in socket buffers, which loopback autotuning grows past a MiB on a slow client),
    // less than the saved part it did not send again.
    CHECK(f.server.stats().body_bytes_sent <= size - saved + 2 * MiB);
    CHECK(f.matches_synthetic("resume.bin", size));
    CHECK_FALSE(f.leftovers("resume.bin"));
    // Every resumed range asked for the version the journal holds: a server with another one
    // answers with the whole new file instead of mixing versions.
    auto log = f.server.stats().log;
    REQUIRE_FALSE(log.empty());
    for (const auto& q : log) {
        CHECK_FALSE(q.range.empty());
        CHECK(q.if_range == f.server.etag("/resume.bin"));
    }
}

TEST_CASE("a resumed file whose server has a new version starts over as that version") {
    engine_fixture f;
    f.cap_rate("/moved-on.bin", 4 * MiB);
    auto c = f.config();
    c.connections_per_file = 2;
    const std::uint64_t size = 8 * MiB;
    auto m = f.model({{"moved-on.bin", size}}, false);
    auto first = only_file(f.run(c, m, engine_fixture::stop_at(4 * MiB)));
    REQUIRE(first.outcome == file_outcome::cancelled);
    f.server.clear_faults();
    origin::fault changed;
    changed.version = 1;
    f.server.add_fault("/moved-on.bin", changed);
    f.server.reset_stats();
    auto second = only_file(f.run(c, m));
    CHECK(second.outcome == file_outcome::done);
    CHECK(f.matches_synthetic("moved-on.bin", size, 1));
    // The first resumed request carried the old validator; the origin answered the new version
    // whole (If-Range did not match): a new version, so the file started over (not a strike).
    auto log = f.server.stats().log;
    REQUIRE_FALSE(log.empty());
    CHECK(log.front().if_range == f.server.etag("/moved-on.bin"));
    CHECK(log.front().status == 200);
}

TEST_CASE("a file already complete is skipped without a request") {
    engine_fixture f;
    auto m = f.model({{"done.bin", 123'456}});
    REQUIRE(f.run(f.config(), m).ok());
    f.server.reset_stats();
    auto r = only_file(f.run(f.config(), m));
    CHECK(r.outcome == file_outcome::skipped);
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("wait_for gives up after its timeout while the model goes on") {
    engine_fixture f;
    origin::fault slow;
    slow.first_byte_delay = std::chrono::milliseconds(800);
    f.server.add_fault("/late.bin", slow);
    boost::asio::io_context io;
    engine e(io.get_executor(), f.config());
    auto added = e.add(f.model({{"late.bin", 1000}}));
    REQUIRE(added);
    bool timed_out = false, finished = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto early = co_await e.wait_for(added.id, std::chrono::milliseconds(50));
            timed_out = !early.has_value();
            auto late = co_await e.wait_for(added.id, std::chrono::seconds(30));
            finished = late.has_value() && late->ok();
        },
        boost::asio::detached);
    io.run_for(std::chrono::seconds(60));
    CHECK(timed_out);
    CHECK(finished);
}

TEST_CASE("under memory pressure no new file starts") {
    engine_fixture f;
    auto c = f.config();
    c.memory_pressure_limit = 1; // any resident set is above it
    boost::asio::io_context io;
    engine e(io.get_executor(), c);
    auto added = e.add(f.model({{"held.bin", 1000}}));
    REQUIRE(added);
    std::optional<model_result> early, late;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto first = e.wait_for(added.id, std::chrono::milliseconds(600));
            early = co_await std::move(first);
            e.stop();
            auto second = e.wait(added.id);
            late = co_await std::move(second);
        },
        boost::asio::detached);
    io.run_for(std::chrono::seconds(30));
    CHECK_FALSE(early.has_value());
    REQUIRE(late.has_value());
    CHECK(late->files.front().outcome == file_outcome::cancelled);
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("two engines share one io_context") {
    engine_fixture f;
    boost::asio::io_context io;
    engine first(io.get_executor(), f.config());
    engine second(io.get_executor(), f.config());
    auto a = f.model({{"first.bin", 2 * MiB}});
    a.id = "a";
    auto b = f.model({{"second.bin", 3 * MiB}});
    b.id = "b";
    auto added_a = first.add(a);
    auto added_b = second.add(b);
    REQUIRE(added_a);
    REQUIRE(added_b);
    int done = 0;
    auto handler = [&](std::exception_ptr e, model_result r) {
        CHECK_FALSE(e);
        CHECK(r.ok());
        ++done;
    };
    first.async_wait(added_a.id, handler);
    second.async_wait(added_b.id, handler);
    io.run_for(std::chrono::seconds(60));
    CHECK(done == 2);
    CHECK(f.matches_synthetic("first.bin", 2 * MiB));
    CHECK(f.matches_synthetic("second.bin", 3 * MiB));
}

TEST_CASE("a response without a body leaves no deadline behind: the io_context runs out when the work is done") {
    // An empty file answers the first range with 416 and a redirect has no body: both heads end
    // their response. The first-byte deadline set for them must not outlive it, or io_context::run
    // only returns when that deadline passes.
    engine_fixture f;
    f.server.add_synthetic("zero.bin", 0);
    auto c = f.config();
    c.timeouts.first_byte = std::chrono::seconds(600);
    c.timeouts.stall = std::chrono::seconds(600);
    boost::asio::io_context io;
    std::optional<model_result> result;
    {
        engine e(io.get_executor(), c);
        auto added = e.add(f.single("zero.bin"));
        REQUIRE(added);
        boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { result = co_await e.wait(added.id); },
                              boost::asio::detached);
        auto started = std::chrono::steady_clock::now();
        io.run_for(std::chrono::seconds(300));
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(300));
        CHECK(io.stopped()); // ran out of work, not out of time
    }
    REQUIRE(result.has_value());
    CHECK(only_file(*result).outcome == file_outcome::done);
    CHECK(std::filesystem::file_size(f.out / "zero.bin") == 0);
}
