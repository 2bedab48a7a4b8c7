// loop_lag_probe on a real io_context: an unblocked loop shows small lags, a handler that holds
// the loop shows up as one late wake-up of about its length.
#include "perf/loop_lag_probe.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("loop_lag_probe: a handler holding the loop is measured as lag") {
    asio::io_context io;
    ferry::loop_lag_probe probe(io.get_executor(), 20ms);
    probe.start();
    asio::steady_timer block(io);
    bool blocked = false;
    block.expires_after(50ms);
    block.async_wait([&](boost::system::error_code) {
        // Work that does not yield (a hash of a big file on the loop): what the probe exists to see.
        std::this_thread::sleep_for(120ms);
        blocked = true;
    });
    asio::steady_timer end(io);
    end.expires_after(400ms);
    end.async_wait([&](boost::system::error_code) { probe.stop(); });
    io.run_for(5s);
    CHECK(blocked);
    CHECK(io.stopped()); // stop() left nothing running
    auto& lags = probe.lags();
    CHECK(lags.count() >= 5);
    CHECK(lags.count() <= 20);
    REQUIRE(lags.max());
    CHECK(*lags.max() >= 60ms); // the wake-up due during the block came at least that late
    CHECK(*lags.max() <= 2s);
    REQUIRE(lags.percentile(50));
    CHECK(*lags.percentile(50) < 60ms); // most wake-ups were not held up
}

TEST_CASE("loop_lag_probe: destroying a running probe stops it") {
    asio::io_context io;
    {
        ferry::loop_lag_probe probe(io.get_executor(), 10ms);
        probe.start();
        probe.start(); // once is enough
        io.run_for(50ms);
        CHECK(probe.lags().count() >= 1);
    }
    io.restart();
    io.run_for(1s);
    CHECK(io.stopped());
}
