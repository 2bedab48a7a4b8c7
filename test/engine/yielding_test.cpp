// An engine that yields to other traffic (engine_config::yield_delay_target), over a real shaped
// link: a network namespace of the test's own whose loopback is a token bucket (tc tbf), so that
// the queue the round trips measure is the kernel's. Needs root (CAP_NET_ADMIN) and `tc`; without
// them the test says so and checks nothing.

#include "test/engine/engine_fixture.hpp"
#include "test/sanitized_build.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <exception>
#include <thread>

#include <sched.h>

namespace asio = boost::asio;
using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

/// Runs `body` on a thread of its own in a new network namespace whose loopback carries at most
/// `rate` (tc's syntax) behind a queue of `queue_ms`. Threads `body` starts inherit the namespace;
/// the test's other threads keep theirs. False when the namespace or the shaper could not be made.
bool run_on_shaped_loopback(const char* rate, int queue_ms, const std::function<void()>& body) {
    bool made = false;
    std::exception_ptr failure;
    std::thread runner([&] {
        if (::unshare(CLONE_NEWNET) != 0)
            return;
        // A 1500-byte MTU: the bucket's burst must hold a packet, and loopback's 64 KiB ones would
        // make it a different link.
        std::string shape = std::string("ip link set lo mtu 1500 up && tc qdisc add dev lo root tbf rate ") + rate +
                            " burst 32k latency " + std::to_string(queue_ms) + "ms";
        if (std::system(shape.c_str()) != 0)
            return;
        made = true;
        try {
            body();
        } catch (...) {
            failure = std::current_exception();
        }
    });
    runner.join();
    if (failure)
        std::rethrow_exception(failure);
    return made;
}

} // namespace

TEST_CASE("yielding: beside another download on a shaped link it takes the smaller share, then the rest") {
    // 40 Mbit/s (5 MB/s) with a 300 ms queue. The yielding engine pulls 36 MiB; once it has
    // learnt the link (3 MiB in), an engine with the default settings pulls 24 MiB. While both
    // run, the yielding one must take clearly less than the other; then it finishes. Measured
    // here: 5–12 MB in most runs while the other took its 25 (and 22 MB when the first did not
    // yield: two engines that do not yield split the link about evenly).
    bool ran = run_on_shaped_loopback("40mbit", 300, [] {
        engine_fixture f;
        auto yielding_config = f.config();
        yielding_config.yield_delay_target = 25ms;
        yielding_config.max_connections = yielding_config.max_connections_per_host = 8;
        auto other_config = f.config();
        auto yielding_model = f.model({{"yield.bin", 36 * MiB}});
        yielding_model.id = "yielding";
        auto other_model = f.model({{"other.bin", 24 * MiB}});
        other_model.id = "other";

        asio::io_context io;
        std::optional<model_result> yielding_result, other_result;
        std::optional<engine_stats> yielding_stats;
        std::uint64_t yielded_at_start = 0, yielded_at_end = 0, yielded_now = 0;
        std::chrono::steady_clock::time_point other_started, other_ended;
        {
            engine yielding(io.get_executor(), yielding_config);
            engine other(io.get_executor(), other_config);
            bool other_added = false;
            yielding.subscribe([&](const event& e) {
                if (e.what != event::kind::progress)
                    return;
                yielded_now = e.bytes;
                if (other_added || e.bytes < 3 * MiB)
                    return;
                other_added = true;
                yielded_at_start = e.bytes;
                other_started = std::chrono::steady_clock::now();
                REQUIRE(other.add(other_model));
                asio::co_spawn(
                    io,
                    [&]() -> asio::awaitable<void> {
                        auto waiting = other.wait("other");
                        other_result = co_await std::move(waiting);
                        other_ended = std::chrono::steady_clock::now();
                        yielded_at_end = yielded_now;
                        auto snapshot = yielding.stats();
                        yielding_stats = co_await std::move(snapshot);
                    },
                    asio::detached);
            });
            REQUIRE(yielding.add(yielding_model));
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                    auto waiting = yielding.wait("yielding");
                    yielding_result = co_await std::move(waiting);
                },
                asio::detached);
            io.run_for(90s);
        }
        REQUIRE_MESSAGE(other_result.has_value(), "the other download did not finish in time");
        REQUIRE_MESSAGE(yielding_result.has_value(), "the yielding download did not finish in time");
        CHECK(only_file(*other_result).outcome == file_outcome::done);
        CHECK(only_file(*yielding_result).outcome == file_outcome::done);
        CHECK(f.matches_synthetic("other.bin", 24 * MiB));
        CHECK(f.matches_synthetic("yield.bin", 36 * MiB));

        auto yielded = yielded_at_end - yielded_at_start;
        auto seconds = std::chrono::duration<double>(other_ended - other_started).count();
        MESSAGE("while the other ran (" << seconds << " s): yielding " << yielded / 1e6 << " MB, other "
                                        << 24 * MiB / 1e6 << " MB");
        // Clearly less than the other's 24 MiB (two engines that do not yield take about 22 MB
        // each): under two thirds of it. 5-12 MB in most runs, 16 once in 16 on a busy machine.
        // Not under a sanitizer: there the client's own stalls (tens of ms) swamp the queueing
        // delay it yields to (19 MB seen under ASan in CI).
        if (!sanitized_build)
            CHECK(yielded < 24 * MiB * 2 / 3);
        // The yielding engine measured the link: a base delay and a pace (its limit) of its own.
        REQUIRE(yielding_stats.has_value());
        REQUIRE(yielding_stats->yielding.has_value());
        CHECK(yielding_stats->yielding->base_delay_us > 0);
        CHECK(yielding_stats->limit_rate > 0);
        // The server sent each file about once: yielding cost no refetching to speak of.
        auto sent = f.server.stats(false).body_bytes_sent;
        CHECK(sent <= 60 * MiB + 4 * MiB);
    });
    if (!ran)
        MESSAGE("skipped: no network namespace with tc here (needs root and iproute2)");
}
