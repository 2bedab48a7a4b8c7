// socket_stream::read_some on a socket its peer keeps full: reads complete without suspending,
// and the stream still lets the loop's other handlers run every turn's bytes.
#include "net/socket_stream.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct reading {
    std::size_t total = 0;
    std::size_t ticks = 0;
    std::size_t most_between_ticks = 0; ///< bytes read with no tick of the other coroutine between
    std::size_t since_tick = 0;
    bool done = false;
    std::string error;
};

asio::awaitable<void> read_all(ferry::socket_stream& stream, std::size_t want, reading& r) {
    std::vector<char> buffer(64 * 1024);
    while (r.total < want) {
        auto n = co_await stream.read_some(buffer.data(), buffer.size());
        if (!n) {
            r.error = n.error().message();
            break;
        }
        r.total += *n;
        r.since_tick += *n;
        r.most_between_ticks = std::max(r.most_between_ticks, r.since_tick);
    }
    r.done = true;
}

/// Another handler of the same loop: runs whenever the loop gets to it.
asio::awaitable<void> tick(reading& r) {
    while (!r.done) {
        ++r.ticks;
        r.since_tick = 0;
        co_await asio::post(asio::use_awaitable);
    }
}

} // namespace

TEST_CASE("socket_stream: a turn is 1 MiB for one full stream; several share 512 KiB, 64 KiB each at least") {
    using ferry::socket_stream;
    CHECK(socket_stream::turn_bytes(0) == 1024 * 1024);
    CHECK(socket_stream::turn_bytes(1) == 1024 * 1024);
    CHECK(socket_stream::turn_bytes(2) == 256 * 1024);
    CHECK(socket_stream::turn_bytes(6) == 512 * 1024 / 6);
    CHECK(socket_stream::turn_bytes(8) == 64 * 1024);
    CHECK(socket_stream::turn_bytes(5000) == 64 * 1024);
}

TEST_CASE("socket_stream: a stream whose peer keeps it full yields to the loop after each turn") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept();
    // Deep buffers, filled before the reader starts: its reads find data every time.
    server.set_option(asio::socket_base::send_buffer_size(8 * 1024 * 1024));
    client.set_option(asio::socket_base::receive_buffer_size(8 * 1024 * 1024));

    const std::size_t total = 32 * 1024 * 1024;
    std::atomic<bool> writer_failed{false};
    std::thread writer([&] {
        std::vector<char> chunk(1024 * 1024, 'x');
        boost::system::error_code ec;
        for (std::size_t sent = 0; sent < total && !ec; sent += chunk.size())
            asio::write(server, asio::buffer(chunk), ec);
        writer_failed = bool(ec);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    ferry::socket_stream stream(io.get_executor());
    REQUIRE_FALSE(stream.adopt(std::move(client)));
    reading r;
    asio::co_spawn(io, read_all(stream, total, r), asio::detached);
    asio::co_spawn(io, tick(r), asio::detached);
    io.run();
    writer.join();

    CHECK(r.error.empty());
    CHECK_FALSE(writer_failed);
    CHECK(r.total == total);
    // Between two runs of the other coroutine: a turn plus one read's worth, or a few reads more
    // (1.23 MiB once under ASan, in a full suite run); without the yield it would be all 32 MiB.
    auto turn = ferry::socket_stream::turn_bytes(1);
    CHECK(r.most_between_ticks <= 2 * turn);
    CHECK(r.ticks > total / (2 * turn));
}
