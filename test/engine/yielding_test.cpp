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

/// Both engines' bytes at one moment.
struct byte_mark {
    std::uint64_t yielding = 0, other = 0;
};

/// One run of the scenario below on a fresh origin: the yielding engine pulls 36 MiB; once it
/// has learnt the link (3 MiB in), another engine with the same number of connections and no
/// yielding pulls 24 MiB. Checks that both files arrive whole, each about once, and that the
/// yielding engine measured the link; returns the share it took while the other fetched the
/// middle half of its file (its bytes over the other's). Before that window the other's
/// connections are still opening, and the yielding one may use what they leave.
double yielded_share(std::chrono::milliseconds target) {
    engine_fixture f;
    auto yielding_config = f.config();
    yielding_config.yield_delay_target = target;
    yielding_config.max_connections = yielding_config.max_connections_per_host = 8;
    auto other_config = f.config();
    other_config.max_connections = other_config.max_connections_per_host = 8;
    auto yielding_model = f.model({{"yield.bin", 36 * MiB}});
    yielding_model.id = "yielding";
    auto other_model = f.model({{"other.bin", 24 * MiB}});
    other_model.id = "other";

    asio::io_context io;
    std::optional<model_result> yielding_result, other_result;
    std::optional<engine_stats> yielding_stats;
    std::uint64_t yielded_now = 0;
    std::optional<byte_mark> quarter, three_quarters; // when the other had 1/4 and 3/4 of its file
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
            REQUIRE(other.add(other_model));
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                    auto waiting = other.wait("other");
                    other_result = co_await std::move(waiting);
                    auto snapshot = yielding.stats();
                    yielding_stats = co_await std::move(snapshot);
                },
                asio::detached);
        });
        other.subscribe([&](const event& e) {
            if (e.what != event::kind::progress)
                return;
            if (!quarter && e.bytes >= 6 * MiB)
                quarter = byte_mark{yielded_now, e.bytes};
            if (!three_quarters && e.bytes >= 18 * MiB)
                three_quarters = byte_mark{yielded_now, e.bytes};
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
    // The yielding engine measured the link: a base delay and a pace (its limit) of its own.
    REQUIRE(yielding_stats.has_value());
    REQUIRE(yielding_stats->yielding.has_value());
    CHECK(yielding_stats->yielding->base_delay_us > 0);
    CHECK(yielding_stats->limit_rate > 0);
    // The server sent each file about once: yielding cost no refetching to speak of.
    CHECK(f.server.stats(false).body_bytes_sent <= 60 * MiB + 4 * MiB);

    REQUIRE(quarter.has_value());
    REQUIRE(three_quarters.has_value());
    auto yielded = three_quarters->yielding - quarter->yielding;
    auto other_took = three_quarters->other - quarter->other;
    MESSAGE("while the other fetched " << other_took / 1e6 << " MB, the yielding engine fetched " << yielded / 1e6
                                       << " MB");
    return static_cast<double>(yielded) / static_cast<double>(other_took);
}

} // namespace

TEST_CASE("yielding: beside another download on a shaped link it takes the smaller share, then the rest") {
    // 40 Mbit/s (5 MB/s) with a 300 ms queue. The other engine keeps 20-50 ms of it filled
    // (its receive buffers, not losses, hold it back), so the yielding one aims at 10 ms: under
    // its usual 25 it would share rather than yield. It must take clearly less than the other,
    // under half; measured here 0.06-0.31 of the other's bytes, 0.58 once in 30 runs
    // (1.0-1.1 when it does not yield: two engines alike split the link evenly). A share that
    // depends on when round-trip samples come is a distribution: one run over half is tried once
    // more, and a yield that is missing fails both. Not under a sanitizer: there the client's
    // own stalls (tens of ms) swamp the queueing delay it yields to.
    bool ran = run_on_shaped_loopback("40mbit", 300, [] {
        double share = yielded_share(10ms);
        if (share >= 0.5 && !sanitized_build) {
            MESSAGE("over half in one run (" << share << "): once more");
            share = yielded_share(10ms);
        }
        if (!sanitized_build)
            CHECK(share < 0.5);
    });
    if (!ran)
        MESSAGE("skipped: no network namespace with tc here (needs root and iproute2)");
}
