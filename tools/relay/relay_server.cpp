#include "tools/relay/relay_server.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace ferry::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = delay_line::clock;
using time_point = delay_line::time_point;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

/// A chunk read and not yet delivered: its bytes, and when they may be delivered.
struct chunk {
    std::vector<char> data;
    std::size_t size = 0;
    time_point release;
};

/// Most full-size buffers a direction keeps for reuse.
constexpr std::size_t spare_buffers = 4;

} // namespace

struct relayed;

struct relay_server::impl : std::enable_shared_from_this<impl> {
    asio::io_context& io;
    relay_options options;
    tcp::endpoint origin;
    tcp::acceptor acceptor;
    std::map<std::uint64_t, std::weak_ptr<relayed>> links;  // open connections
    std::uint64_t next_id = 0;
    bool stopped = false;
    std::atomic<std::uint64_t> accepted{0}, open{0}, to_origin{0}, to_client{0};

    impl(asio::io_context& io_, relay_options o) : io(io_), options(std::move(o)), acceptor(io_) {}

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> open_link(tcp::socket client);
};

/// One direction of a relayed connection.
struct direction {
    tcp::socket& from;
    tcp::socket& to;
    std::atomic<std::uint64_t>& counter;
    delay_line line;
    std::deque<chunk> queue;
    std::vector<std::vector<char>> spares;
    asio::steady_timer reader_wake;  // waits for room in the window
    asio::steady_timer writer_wake;  // waits for a chunk, or for its release time
    bool ended = false;              // the reader is done: end of stream or an error
    bool failed = false;             // ... an error: close rather than half-close after the queue

    direction(tcp::socket& f, tcp::socket& t, std::atomic<std::uint64_t>& c, delay_line::settings s, time_point start)
        : from(f), to(t), counter(c), line(s, start), reader_wake(f.get_executor()), writer_wake(f.get_executor()) {}
};

/// A relayed connection: the client's socket, the origin's, and the two directions.
struct relayed : std::enable_shared_from_this<relayed> {
    std::weak_ptr<relay_server::impl> server;
    std::uint64_t id;
    std::size_t buffer;
    tcp::socket client;
    tcp::socket origin;
    direction up;    // client → origin
    direction down;  // origin → client
    bool closed = false;

    relayed(std::shared_ptr<relay_server::impl> s, std::uint64_t id_, tcp::socket c, tcp::socket o, time_point accepted)
        : server(s), id(id_), buffer(std::max<std::size_t>(s->options.buffer, 1024)), client(std::move(c)),
          origin(std::move(o)),
          up(client, origin, s->to_origin, settings(*s), accepted + s->options.rtt),
          down(origin, client, s->to_client, settings(*s), time_point::min()) {
        ++s->accepted;
        ++s->open;
    }
    ~relayed() {
        if (auto s = server.lock()) {
            --s->open;
            s->links.erase(id);
        }
    }

    static delay_line::settings settings(const relay_server::impl& s) {
        delay_line::settings d;
        d.delay = std::chrono::duration_cast<delay_line::duration>(s.options.rtt) / 2;
        d.window = s.options.window;
        d.rate = s.options.rate;
        return d;
    }

    /// Closes both sockets and wakes every waiter: all four coroutines then end.
    void close() {
        if (closed)
            return;
        closed = true;
        boost::system::error_code ignored;
        client.close(ignored);
        origin.close(ignored);
        for (direction* d : {&up, &down}) {
            d->reader_wake.cancel();
            d->writer_wake.cancel();
        }
    }

    std::vector<char> take_buffer(direction& d) {
        if (d.spares.empty())
            return std::vector<char>(buffer);
        std::vector<char> b = std::move(d.spares.back());
        d.spares.pop_back();
        return b;
    }

    // `self` keeps the connection alive while the coroutine runs.
    asio::awaitable<void> read(std::shared_ptr<relayed> self, direction& d);
    asio::awaitable<void> write(std::shared_ptr<relayed> self, direction& d);
};

asio::awaitable<void> relayed::read([[maybe_unused]] std::shared_ptr<relayed> self, direction& d) {
    std::vector<char> scratch = take_buffer(d);
    while (!closed) {
        std::uint64_t room = d.line.room(clock::now());
        if (room == 0) {
            auto next = d.line.next_room();
            d.reader_wake.expires_at(next ? *next : time_point::max());
            co_await d.reader_wake.async_wait(use_tuple);
            continue;  // woken early by a delivery or a close: look again
        }
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, buffer));
        auto [ec, n] = co_await d.from.async_read_some(asio::buffer(scratch.data(), want), use_tuple);
        if (n > 0 && !closed) {
            chunk c;
            c.size = n;
            if (n >= buffer / 4) {  // hand the buffer itself over; small reads are copied
                c.data = std::move(scratch);
                scratch = take_buffer(d);
            } else {
                c.data.assign(scratch.data(), scratch.data() + n);
            }
            c.release = d.line.send(n, clock::now());
            d.queue.push_back(std::move(c));
            d.writer_wake.cancel();
        }
        if (ec) {
            d.ended = true;
            d.failed = ec != asio::error::eof;
            d.writer_wake.cancel();
            break;
        }
    }
    co_return;
}

asio::awaitable<void> relayed::write([[maybe_unused]] std::shared_ptr<relayed> self, direction& d) {
    while (!closed) {
        if (d.queue.empty()) {
            if (d.ended)
                break;
            d.writer_wake.expires_at(time_point::max());
            co_await d.writer_wake.async_wait(use_tuple);
            continue;
        }
        time_point release = d.queue.front().release;
        if (clock::now() < release) {
            d.writer_wake.expires_at(release);
            co_await d.writer_wake.async_wait(use_tuple);
            continue;
        }
        chunk& c = d.queue.front();
        auto [ec, n] = co_await asio::async_write(d.to, asio::buffer(c.data.data(), c.size), use_tuple);
        if (ec || closed) {
            close();
            co_return;
        }
        d.counter += n;
        d.line.delivered(clock::now());
        if (c.data.size() == buffer && d.spares.size() < spare_buffers)
            d.spares.push_back(std::move(c.data));
        d.queue.pop_front();
        d.reader_wake.cancel();
    }
    if (closed)
        co_return;
    if (d.failed) {
        close();
        co_return;
    }
    // Everything before the end of stream is delivered: pass the end on. Once both directions
    // ended, the connection is done.
    boost::system::error_code ignored;
    d.to.shutdown(tcp::socket::shutdown_send, ignored);
    if (up.ended && down.ended && up.queue.empty() && down.queue.empty())
        close();
}

relay_server::relay_server(asio::io_context& io, relay_options options)
    : impl_(std::make_shared<impl>(io, std::move(options))) {
    auto& o = impl_->options;
    tcp::resolver resolver(io);
    auto found = resolver.resolve(o.to_host, std::to_string(o.to_port), tcp::resolver::numeric_service);
    if (found.empty())
        throw std::system_error(std::make_error_code(std::errc::host_unreachable), "resolve " + o.to_host);
    impl_->origin = found.begin()->endpoint();
    tcp::endpoint listen(asio::ip::make_address("127.0.0.1"), o.listen_port);
    impl_->acceptor.open(listen.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(listen);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
}

relay_server::~relay_server() {
    if (impl_) {
        impl_->stopped = true;
        boost::system::error_code ignored;
        impl_->acceptor.close(ignored);
    }
}

std::uint16_t relay_server::port() const noexcept {
    boost::system::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void relay_server::start() {
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

void relay_server::stop() {
    impl_->stopped = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    auto links = impl_->links;  // closing may erase entries
    for (auto& [id, weak] : links)
        if (auto l = weak.lock())
            l->close();
}

relay_stats relay_server::stats() const noexcept {
    relay_stats s;
    s.connections_accepted = impl_->accepted.load();
    s.connections_open = impl_->open.load();
    s.bytes_to_origin = impl_->to_origin.load();
    s.bytes_to_client = impl_->to_client.load();
    return s;
}

asio::awaitable<void> relay_server::impl::accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
                break;
            // Out of descriptors or similar: the client sees its connection refused; keep accepting
            // after a pause instead of spinning.
            asio::steady_timer pause(io, std::chrono::milliseconds(50));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        auto opened = open_link(std::move(socket));
        asio::co_spawn(io, std::move(opened), asio::detached);
    }
}

asio::awaitable<void> relay_server::impl::open_link(tcp::socket client) {
    auto self = shared_from_this();
    time_point accepted_at = clock::now();
    tcp::socket upstream(io);
    auto [ec] = co_await upstream.async_connect(origin, use_tuple);
    if (ec || stopped)
        co_return;  // the client's socket closes: it sees the connection end
    boost::system::error_code ignored;
    client.set_option(tcp::no_delay(true), ignored);
    upstream.set_option(tcp::no_delay(true), ignored);
    std::uint64_t id = next_id++;
    auto l = std::make_shared<relayed>(self, id, std::move(client), std::move(upstream), accepted_at);
    links[id] = l;
    auto up_read = l->read(l, l->up);
    auto up_write = l->write(l, l->up);
    auto down_read = l->read(l, l->down);
    auto down_write = l->write(l, l->down);
    asio::co_spawn(io, std::move(up_read), asio::detached);
    asio::co_spawn(io, std::move(up_write), asio::detached);
    asio::co_spawn(io, std::move(down_read), asio::detached);
    asio::co_spawn(io, std::move(down_write), asio::detached);
}

} // namespace ferry::relay
