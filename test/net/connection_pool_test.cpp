// The pool's waiting discipline against real servers on 127.0.0.1: holds (hold_host) and the
// circuit breaker fed by failures to establish connections.

#include "net/connection_pool.hpp"
#include "net/descriptor_limit.hpp"
#include "net/error.hpp"
#include "net/tls_context.hpp"
#include "tools/origin/origin_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ferry::connection_pool;
using ferry::pool_config;
using ferry::url;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "ferry-pool-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

url parse(const std::string& text) {
    auto u = ferry::parse_url(text);
    REQUIRE(u.has_value());
    return *u;
}

/// An origin serving small synthetic files, and a client TLS context that trusts it.
struct served_origin {
    temp_dir dir;
    ferry::origin::origin_server server;
    boost::asio::ssl::context tls = start();

    explicit served_origin(ferry::origin::origin_config config = {}) : server(config) {}

    boost::asio::ssl::context start() {
        server.start();
        server.write_ca(dir.path / "ca.pem");
        for (const char* name : {"a", "b", "c"})
            server.add_synthetic(name, 1000);
        return ferry::make_client_tls_context(dir.path / "ca.pem");
    }
};

/// A TCP listener on 127.0.0.1 that counts the connections it accepts and closes each at once
/// (a host that is down for TLS), or keeps them open without a word (a host that hangs).
struct dead_listener {
    asio::ip::tcp::acceptor acceptor;
    bool hang = false;
    int accepted = 0;
    std::vector<asio::ip::tcp::socket> kept;
    std::function<void()> on_accept;

    dead_listener(asio::io_context& io, bool hang_up) : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}), hang(hang_up) {
        asio::co_spawn(io, run(), asio::detached);
    }
    std::string url(const std::string& path) const {
        return "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/" + path;
    }
    asio::awaitable<void> run() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
            if (ec)
                co_return;
            ++accepted;
            if (hang)
                kept.push_back(std::move(socket));
            else
                socket.close();
            if (on_accept)
                on_accept();
        }
    }
};

/// Starts `count` acquire() calls for `target` at once; each connection, once handed out, is kept
/// in `held`.
void acquire_into(asio::io_context& io, connection_pool& pool, const url& target, int count,
                  std::vector<connection_pool::handle>& held) {
    for (int i = 0; i < count; ++i)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto acquiring = pool.acquire(target);
                auto conn = co_await std::move(acquiring);
                REQUIRE(conn.has_value());
                held.push_back(std::move(*conn));
            },
            asio::detached);
}

/// GETs `target` on a pooled connection and reads the whole body (so the connection goes back).
asio::awaitable<boost::system::error_code> fetch(connection_pool& pool, const url& target, int priority = 0) {
    // Each operation in a named variable before co_await: GCC 12 mishandles temporaries there.
    auto acquiring = pool.acquire(target, priority);
    auto conn = co_await std::move(acquiring);
    if (!conn)
        co_return conn.error();
    const ferry::http_request get;
    auto sending = (*conn)->send(target, get);
    if (auto ec = co_await std::move(sending))
        co_return ec;
    auto reading = (*conn)->read_head();
    auto head = co_await std::move(reading);
    if (!head)
        co_return head.error();
    std::vector<char> body(16 * 1024);
    for (;;) {
        auto chunk = (*conn)->read_body(body.data(), body.size());
        auto n = co_await std::move(chunk);
        if (!n)
            co_return n.error();
        if (*n == 0)
            co_return boost::system::error_code{};
    }
}

/// When the origin received its request for `path` (the first one).
std::optional<clock_type::time_point> received(const ferry::origin::origin_server& server, const std::string& path) {
    for (auto& r : server.stats().log)
        if (r.path == path)
            return r.received;
    return std::nullopt;
}

pool_config breaker_config(std::size_t threshold, std::chrono::milliseconds cool_down) {
    pool_config c;
    c.circuit.failure_threshold = threshold;
    c.circuit.window = 60s;
    c.circuit.cool_down = cool_down;
    c.timeouts.connect = 5s;
    c.timeouts.handshake = 5s;
    return c;
}

} // namespace

TEST_CASE("hold_host: no request to the held origin starts before the hold ends; others go on") {
    served_origin held;
    served_origin other;
    asio::io_context io;
    // One pool for both origins: its TLS context trusts both CAs.
    auto both = held.dir.path / "both.pem";
    {
        std::ofstream out(both);
        out << held.server.ca_pem() << other.server.ca_pem();
    }
    auto tls = ferry::make_client_tls_context(both);
    connection_pool pool(io.get_executor(), tls);

    const auto held_url = parse(held.server.url("a"));
    const auto start = clock_type::now();
    const auto until = start + 500ms;
    pool.hold_host(held_url.origin(), until);
    REQUIRE(pool.held_until(held_url.origin()) == until);
    CHECK_FALSE(pool.held_until(parse(other.server.url("a")).origin()));
    auto stats = pool.per_origin();
    REQUIRE(stats.count(held_url.origin()));
    CHECK(stats[held_url.origin()].held_for > 0.4);
    CHECK(stats[held_url.origin()].held_for <= 0.5);

    std::optional<boost::system::error_code> held_done, other_done;
    std::optional<clock_type::time_point> other_finished;
    const auto other_url = parse(other.server.url("b"));
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto fetching = fetch(pool, held_url);
        held_done = co_await std::move(fetching);
    }, asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto fetching = fetch(pool, other_url);
        other_done = co_await std::move(fetching);
        other_finished = clock_type::now();
    }, asio::detached);
    io.run_for(10s);

    REQUIRE(held_done);
    REQUIRE(other_done);
    CHECK_FALSE(*held_done);
    CHECK_FALSE(*other_done);
    auto held_at = received(held.server, "/a");
    auto other_at = received(other.server, "/b");
    REQUIRE(held_at);
    REQUIRE(other_at);
    CHECK(*held_at >= until);
    // The other origin did not wait for the hold (its whole fetch ended inside the window).
    CHECK(*other_finished < until);
    CHECK_FALSE(pool.held_until(held_url.origin())); // released once passed
    CHECK(pool.per_origin()[held_url.origin()].held_for == 0);
}

TEST_CASE("hold_host: a later hold extends, an earlier one does not shorten") {
    asio::io_context io;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    connection_pool pool(io.get_executor(), tls);
    const std::string origin = "https://127.0.0.1:9";
    const auto now = clock_type::now();
    pool.hold_host(origin, now + 10s);
    CHECK(pool.held_until(origin) == now + 10s);
    pool.hold_host(origin, now + 2s);
    CHECK(pool.held_until(origin) == now + 10s);
    pool.hold_host(origin, now + 20s);
    CHECK(pool.held_until(origin) == now + 20s);
    // A hold in the past is no hold.
    pool.hold_host("https://127.0.0.1:10", now - 1s);
    CHECK_FALSE(pool.held_until("https://127.0.0.1:10"));
    pool.shutdown();
}

TEST_CASE("hold_host: when a hold ends, waiters go by priority then arrival; a hold extended meanwhile holds") {
    served_origin origin;
    asio::io_context io;
    auto cfg = pool_config{};
    cfg.max_per_host = 1; // one connection: the order of requests is the order of service
    connection_pool pool(io.get_executor(), origin.tls, cfg);
    const auto a = parse(origin.server.url("a"));
    const auto start = clock_type::now();
    pool.hold_host(a.origin(), start + 200ms);

    int done = 0;
    auto spawn = [&](const char* path, int priority) {
        asio::co_spawn(io, [&, path, priority]() -> asio::awaitable<void> {
            const auto target = parse(origin.server.url(path));
            auto fetching = fetch(pool, target, priority);
            auto ec = co_await std::move(fetching);
            CHECK_FALSE(ec);
            ++done;
        }, asio::detached);
    };
    spawn("a", 2); // low priority, first to arrive
    spawn("b", 0); // high priority
    spawn("c", 2); // low priority, last
    // Extend the hold from inside the window, before the first end passes.
    asio::steady_timer extend(io, start + 100ms);
    extend.async_wait([&](boost::system::error_code) { pool.hold_host(a.origin(), start + 400ms); });
    io.run_for(10s);

    REQUIRE(done == 3);
    auto log = origin.server.stats().log;
    REQUIRE(log.size() == 3);
    CHECK(log[0].path == "/b");
    CHECK(log[1].path == "/a");
    CHECK(log[2].path == "/c");
    for (auto& r : log)
        CHECK(r.received >= start + 400ms);
    // The connection was reused for all three: the hold changed the order, not the pooling.
    CHECK(pool.totals().opened == 1);
}

TEST_CASE("failures to connect open the circuit; its waiters wait for the cool-down and one probe goes at a time") {
    asio::io_context io;
    dead_listener dead(io, false);
    asio::ssl::context tls(asio::ssl::context::tls_client);
    const auto cool_down = 300ms;
    connection_pool pool(io.get_executor(), tls, breaker_config(2, cool_down));
    const auto target = parse(dead.url("a"));

    // Two failed attempts (the TLS handshake meets a closed connection) trip the circuit.
    std::vector<boost::system::error_code> first;
    const auto before = clock_type::now();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto acquiring = pool.acquire(target);
            auto got = co_await std::move(acquiring);
            first.push_back(got ? boost::system::error_code{} : got.error());
        }
        io.stop(); // the listener would keep run_for() busy
    }, asio::detached);
    io.run_for(10s);
    REQUIRE(first.size() == 2);
    for (auto& ec : first) {
        CHECK(ec);
        CHECK(ec != asio::error::operation_aborted);
    }
    CHECK(dead.accepted == 2);
    CHECK(pool.per_origin()[target.origin()].circuit == "open");
    CHECK(pool.per_origin()[target.origin()].failed == 2);

    // Five callers come while it is open. Each probe fails, the circuit opens again, and the
    // listener sees exactly one connection per cool-down.
    io.restart();
    struct outcome {
        boost::system::error_code ec;
        int accepted_then = 0;
        clock_type::time_point at;
    };
    std::vector<outcome> ended;
    for (int i = 0; i < 5; ++i)
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            auto acquiring = pool.acquire(target);
            auto got = co_await std::move(acquiring);
            ended.push_back({got ? boost::system::error_code{} : got.error(), dead.accepted, clock_type::now()});
            if (ended.size() == 2)
                pool.shutdown(); // two probes seen: enough
            if (ended.size() == 5)
                io.stop();
        }, asio::detached);
    io.run_for(20s);

    REQUIRE(ended.size() == 5);
    // The first two to end are the probes: each met the dead host, one per half-open circuit.
    CHECK(ended[0].ec);
    CHECK(ended[0].ec != asio::error::operation_aborted);
    CHECK(ended[0].accepted_then == 3);
    CHECK(ended[1].ec);
    CHECK(ended[1].ec != asio::error::operation_aborted);
    CHECK(ended[1].accepted_then == 4);
    // Each probe waited for a whole cool-down after the circuit (re)opened.
    CHECK(ended[0].at - before >= cool_down);
    CHECK(ended[1].at - before >= 2 * cool_down);
    // The rest never reached the host: the pool's shutdown woke them.
    for (std::size_t i = 2; i < ended.size(); ++i)
        CHECK(ended[i].ec == asio::error::operation_aborted);
    CHECK(dead.accepted == 4);
}

TEST_CASE("a success closes the circuit and lets its waiters through at once") {
    asio::io_context io;
    dead_listener dead(io, false);
    asio::ssl::context tls(asio::ssl::context::tls_client);
    connection_pool pool(io.get_executor(), tls, breaker_config(1, 60s));
    const auto target = parse(dead.url("a"));
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        auto acquiring = pool.acquire(target);
        co_await std::move(acquiring);
        io.stop();
    }, asio::detached);
    io.run_for(10s);
    REQUIRE(pool.per_origin()[target.origin()].circuit == "open");

    io.restart();
    int ended = 0;
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            auto acquiring = pool.acquire(target);
            co_await std::move(acquiring);
            if (++ended == 3)
                io.stop();
        }, asio::detached);
    // Once the waiters are in line, the engine hears the host answer (another request succeeded).
    asio::post(io, [&] { pool.record_success(target.origin()); });
    const auto start = clock_type::now();
    io.run_for(30s);
    CHECK(ended == 3);
    CHECK(clock_type::now() - start < 30s); // far from the 60 s cool-down
    CHECK(dead.accepted == 4);
}

TEST_CASE("certificate verification failures count against the host") {
    ferry::origin::origin_config config;
    config.pki.expired = true;
    served_origin expired(config);
    asio::io_context io;
    connection_pool pool(io.get_executor(), expired.tls, breaker_config(2, 60s));
    const auto target = parse(expired.server.url("a"));
    std::vector<boost::system::error_code> errors;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto acquiring = pool.acquire(target);
            auto got = co_await std::move(acquiring);
            errors.push_back(got ? boost::system::error_code{} : got.error());
        }
    }, asio::detached);
    io.run_for(10s);
    REQUIRE(errors.size() == 2);
    for (auto& ec : errors)
        CHECK(ferry::is_verify_error(ec));
    CHECK(pool.per_origin()[target.origin()].circuit == "open");
}

TEST_CASE("a cancelled connection attempt does not count against the host") {
    asio::io_context io;
    dead_listener hanging(io, true); // accepts and never answers the TLS handshake
    asio::ssl::context tls(asio::ssl::context::tls_client);
    connection_pool pool(io.get_executor(), tls, breaker_config(1, 60s));
    const auto target = parse(hanging.url("a"));
    asio::cancellation_signal cancel;
    hanging.on_accept = [&] { cancel.emit(asio::cancellation_type::terminal); };
    std::optional<boost::system::error_code> result;
    asio::co_spawn(io, pool.acquire(target),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr, auto got) {
                       result = got ? boost::system::error_code{} : got.error();
                       io.stop();
                   }));
    io.run_for(10s);
    REQUIRE(result);
    CHECK(*result == asio::error::operation_aborted);
    CHECK(hanging.accepted == 1);
    CHECK(pool.per_origin()[target.origin()].circuit == "closed");
}

/// Runs one acquire of `target` to its end; what it got joins `held`. Its error, none on success.
std::optional<boost::system::error_code> acquire_and_keep(asio::io_context& io, connection_pool& pool,
                                                          const url& target,
                                                          std::vector<connection_pool::handle>& held) {
    std::optional<boost::system::error_code> result;
    asio::co_spawn(io, pool.acquire(target), [&](std::exception_ptr, auto got) {
        result = got ? boost::system::error_code{} : got.error();
        if (got)
            held.push_back(std::move(*got));
    });
    io.restart();
    io.run_for(10s);
    return result;
}

/// While it lives, every descriptor the process may have is taken: a low limit (256 above those
/// open), filled with /dev/null. Then both are given back.
struct descriptor_shortage {
    rlimit saved{};
    std::vector<int> fillers;
    descriptor_shortage() {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
        rlimit low = saved;
        low.rlim_cur = static_cast<rlim_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                         std::filesystem::directory_iterator{})) + 256;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;)
            fillers.push_back(fd);
        CHECK(ferry::descriptors_exhausted());
    }
    ~descriptor_shortage() {
        for (int fd : fillers)
            ::close(fd);
        ::setrlimit(RLIMIT_NOFILE, &saved);
    }
};

/// acquire_and_keep() while every descriptor the process may have is taken.
std::optional<boost::system::error_code> acquire_without_descriptors(asio::io_context& io, connection_pool& pool,
                                                                     const url& target,
                                                                     std::vector<connection_pool::handle>& held) {
    descriptor_shortage shortage;
    return acquire_and_keep(io, pool, target, held);
}

TEST_CASE("running out of descriptors is a shortage of ours: transient, and not counted against the host") {
    served_origin origin;
    asio::io_context io;
    connection_pool pool(io.get_executor(), origin.tls, breaker_config(1, 60s));
    const auto target = parse(origin.server.url("a"));
    std::vector<connection_pool::handle> held; // each acquire must open a connection of its own
    auto acquire_one = [&] { return acquire_and_keep(io, pool, target, held); };
    // The first connection, with descriptors to spare, also looks the name up.
    auto first = acquire_one();
    REQUIRE(first);
    REQUIRE_FALSE(*first);

    auto short_of_descriptors = acquire_without_descriptors(io, pool, target, held);

    REQUIRE(short_of_descriptors);
    CHECK(*short_of_descriptors == asio::error::no_descriptors);
    CHECK(ferry::is_transient(*short_of_descriptors));
    CHECK(pool.per_origin()[target.origin()].circuit == "closed"); // one host failure would open it
    CHECK(origin.server.stats().connections_accepted == 1);

    // With descriptors back, the same pool connects at once.
    auto connected = acquire_one();
    REQUIRE(connected);
    CHECK_FALSE(*connected);
    CHECK(origin.server.stats().connections_accepted == 2);
}

TEST_CASE("a name looked up without descriptors to spare: a shortage of ours, not a missing host") {
    // The system resolver answers "no such name" when it can open neither /etc/hosts nor a
    // socket; counted against the host, that would open its circuit.
    served_origin origin;
    asio::io_context io;
    connection_pool pool(io.get_executor(), origin.tls, breaker_config(1, 60s));
    const auto target = parse(origin.server.url("a"));
    REQUIRE(target.host == "localhost"); // a name: nothing looked up or cached yet
    CHECK_FALSE(ferry::descriptors_exhausted());
    std::vector<connection_pool::handle> held;
    auto looked_up = acquire_without_descriptors(io, pool, target, held);
    REQUIRE(looked_up);
    CHECK(*looked_up == asio::error::no_descriptors);
    CHECK(ferry::is_transient(*looked_up));
    CHECK(pool.per_origin()[target.origin()].circuit == "closed");
    CHECK(origin.server.stats().connections_accepted == 0);

    auto connected = acquire_and_keep(io, pool, target, held);
    REQUIRE(connected);
    CHECK_FALSE(*connected);
    CHECK(origin.server.stats().connections_accepted == 1);
}

TEST_CASE("a raised host cap lets the host's line through, the total growing with it") {
    served_origin origin;
    asio::io_context io;
    pool_config c;
    c.max_connections = 2;
    c.max_per_host = 2;
    connection_pool pool(io.get_executor(), origin.tls, c);
    const auto target = parse(origin.server.url("a"));
    std::vector<connection_pool::handle> held;
    bool third = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 2; ++i) {
                auto acquiring = pool.acquire(target);
                auto conn = co_await std::move(acquiring);
                REQUIRE(conn.has_value());
                held.push_back(std::move(*conn));
            }
            auto acquiring = pool.acquire(target); // waits: the host is at its cap, and the pool too
            auto conn = co_await std::move(acquiring);
            REQUIRE(conn.has_value());
            third = true;
            held.push_back(std::move(*conn));
        },
        asio::detached);
    io.run_for(500ms);
    REQUIRE(held.size() == 2);
    CHECK_FALSE(third);
    auto at_cap = pool.hosts_at_cap();
    REQUIRE(at_cap.size() == 1);
    CHECK(pool.host_cap(at_cap.front()) == 2);

    pool.raise_host_cap(at_cap.front(), 1); // never lowers
    CHECK(pool.host_cap(at_cap.front()) == 2);
    pool.raise_host_cap(at_cap.front(), 3);
    io.run_for(500ms);
    CHECK(third);
    CHECK(pool.host_cap(at_cap.front()) == 3);
    CHECK(pool.totals().open == 3); // one past max_connections: the raise counts in the total
    CHECK(pool.hosts_at_cap().empty());
    held.clear();
    pool.shutdown();
    io.run_for(100ms);
}

TEST_CASE("connections opened together to one host look its name up once; a host that refuses is asked again") {
    served_origin origin;
    asio::io_context io;
    pool_config c;
    c.max_connections = 16; // room for the refusing host beside the eight held
    c.max_per_host = 8;
    connection_pool pool(io.get_executor(), origin.tls, c);
    const auto target = parse(origin.server.url("a"));
    REQUIRE(target.host == "localhost"); // a name, not an IP literal
    std::vector<connection_pool::handle> held;
    acquire_into(io, pool, target, 8, held);
    for (int i = 0; i < 200 && held.size() < 8; ++i) {
        io.restart();
        io.run_for(20ms);
    }
    REQUIRE(held.size() == 8);
    CHECK(pool.totals().opened == 8);
    CHECK(pool.lookups() == 1);

    // Nothing listens on this port: each failed connect forgets the name, so each try asks again.
    std::uint16_t closed_port = 0;
    {
        asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
        closed_port = probe.local_endpoint().port();
    }
    const auto refused = parse("https://localhost:" + std::to_string(closed_port) + "/a");
    int failures = 0;
    for (int attempt = 0; attempt < 2; ++attempt) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto acquiring = pool.acquire(refused);
                auto conn = co_await std::move(acquiring);
                CHECK_FALSE(conn.has_value());
                ++failures;
            },
            asio::detached);
        for (int i = 0; i < 200 && failures <= attempt; ++i) {
            io.restart(); // run_for() stops the context when it runs out of work
            io.run_for(20ms);
        }
    }
    REQUIRE(failures == 2);
    CHECK(pool.lookups() == 3);
    held.clear();
    pool.shutdown();
    io.run_for(100ms);
}

TEST_CASE("connections warmed ahead of need serve the requests that come, and no more are opened") {
    served_origin origin;
    asio::io_context io;
    pool_config c;
    c.max_per_host = 4;
    connection_pool pool(io.get_executor(), origin.tls, c);
    const auto target = parse(origin.server.url("a"));

    // Three warm; four acquire at once, before the warm ones have landed: three of them wait
    // for those, the fourth opens its own (the cap allows it).
    REQUIRE(pool.reserve_warm(target.origin(), 3) == 3);
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(io, pool.warm(target), asio::detached);
    std::vector<connection_pool::handle> held;
    acquire_into(io, pool, target, 4, held);
    const auto until = clock_type::now() + 10s;
    while (held.size() < 4 && clock_type::now() < until)
        io.run_one_for(100ms);
    REQUIRE(held.size() == 4);
    CHECK(origin.server.stats(false).connections_accepted == 4);
    CHECK(std::count_if(held.begin(), held.end(), [](auto& h) { return h.reused(); }) == 3);
    auto totals = pool.totals();
    CHECK(totals.opened == 4);
    CHECK(totals.open == 4);

    // At the cap nothing more is reserved, idle connections counting as open.
    CHECK(pool.reserve_warm(target.origin(), 2) == 0);
    held.pop_back();
    held.pop_back(); // two back to the idle list: open stays 4
    CHECK(pool.reserve_warm(target.origin(), 2) == 0);
    held.clear();
    pool.shutdown();
    io.run_for(100ms);
}

TEST_CASE("stop_warming ends the warm-ups in progress and gives their room back") {
    asio::io_context io;
    dead_listener hung(io, true); // accepts and says nothing: a TLS handshake that never ends
    served_origin origin;         // (for its client TLS context)
    connection_pool pool(io.get_executor(), origin.tls, {});
    const auto target = parse(hung.url("x"));
    REQUIRE(pool.reserve_warm(target.origin(), 2) == 2);
    int ended = 0;
    for (int i = 0; i < 2; ++i)
        asio::co_spawn(io, pool.warm(target), [&](std::exception_ptr) { ++ended; });
    const auto accepted_by = clock_type::now() + 5s;
    while (hung.accepted < 2 && clock_type::now() < accepted_by)
        io.run_one_for(100ms);
    REQUIRE(hung.accepted == 2);
    CHECK(ended == 0); // their handshakes wait for an answer that never comes
    CHECK(pool.totals().open == 2);
    pool.stop_warming();
    const auto until = clock_type::now() + 5s;
    while (ended < 2 && clock_type::now() < until)
        io.run_one_for(100ms);
    CHECK(ended == 2);
    CHECK(pool.totals().open == 0);
    CHECK(pool.totals().idle == 0);
    pool.shutdown();
    io.run_for(100ms);
}
