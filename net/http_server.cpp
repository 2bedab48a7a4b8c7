// Accepting connections, the deadline sweep, and one coroutine per HTTP/1.1 connection. The only
// translation unit of net/ that instantiates Beast's HTTP server templates.
#include "net/server_state.hpp"

#include "net/block_recycler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <array>
#include <ctime>

namespace ferry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using namespace server_detail;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
/// How long a closing connection reads what its peer still sends, so that our last answer is not
/// destroyed by a reset.
constexpr std::chrono::seconds lingering_close{1};

/// The Date header's text, formatted once per second (a busy server answers thousands of calls in
/// one). Each thread keeps its own.
const std::string& http_date_now() {
    thread_local std::time_t formatted_at = -1;
    thread_local std::string text;
    std::time_t now = std::time(nullptr);
    if (now != formatted_at) {
        std::tm utc{};
        gmtime_r(&now, &utc);
        char buffer[64];
        std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
        text = buffer;
        formatted_at = now;
    }
    return text;
}

bool has_line_break(std::string_view text) {
    // Two scans of memchr speed, rather than find_first_of's search of the set per character.
    return text.find('\n') != std::string_view::npos || text.find('\r') != std::string_view::npos;
}

/// An HTTP status for a request Beast could not read; 0 when the connection just ended.
unsigned status_for_read_error(const error_code& ec) {
    if (ec == http::error::header_limit)
        return 431;
    if (ec == http::error::body_limit)
        return 413;
    if (ec.category() == http::make_error_code(http::error::bad_method).category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
        return 400;
    return 0;
}

http_call make_call(const request_message& req, const tcp::endpoint& peer, std::uint64_t connection) {
    http_call call;
    call.method = std::string(req.method_string());
    call.target = std::string(req.target());
    auto question = call.target.find('?');
    call.path = call.target.substr(0, question);
    if (question != std::string::npos)
        call.query = call.target.substr(question + 1);
    for (const auto& field : req)
        call.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    call.peer = peer;
    call.connection = connection;
    return call;
}

http_answer plain_answer(unsigned status, std::string text, bool close) {
    http_answer answer;
    answer.status = status;
    answer.content_type = "text/plain; charset=utf-8";
    answer.body = std::move(text);
    answer.close = close;
    return answer;
}

http_answer busy_answer(const http_server::state& s) {
    auto answer = plain_answer(503, "busy: too many calls waiting\n", false);
    answer.headers.emplace_back("Retry-After", std::to_string(s.gate.retry_after().count()));
    return answer;
}

/// The status line and header fields of an answer, up to and with the blank line. Written by hand
/// rather than through Beast's serializer: one string, no allocation per field.
std::string answer_head(const http_server::state& s, const http_answer& answer, bool keep_alive) {
    std::string head;
    head.reserve(256);
    const auto reason = http::obsolete_reason(http::int_to_status(answer.status));
    head.append("HTTP/1.1 ").append(std::to_string(answer.status)).append(" ");
    head.append(reason.data(), reason.size()).append("\r\n");
    auto field = [&](std::string_view name, std::string_view value) {
        // Fields with line breaks would let a value inject fields or a second response: left out.
        if (!name.empty() && !has_line_break(name) && !has_line_break(value))
            head.append(name).append(": ").append(value).append("\r\n");
    };
    field("Server", s.config.server_name);
    field("Date", http_date_now());
    if (!answer.content_type.empty())
        field("Content-Type", answer.content_type);
    for (auto& [name, value] : s.cors.answer_headers())
        field(name, value);
    for (auto& [name, value] : answer.headers)
        field(name, value);
    field("Connection", keep_alive ? "keep-alive" : "close");
    field("Content-Length", std::to_string(answer.body.size()));
    head.append("\r\n");
    return head;
}

/// What an application's answer looks like when it threw.
http_answer failed_answer() { return plain_answer(500, "internal error\n", false); }

/// The answer to one complete request: a preflight, a busy refusal, or the application's.
asio::awaitable<http_answer> answer_call(http_server::state& s, const http_call& call) {
    if (s.cors.is_preflight(call))
        co_return s.cors.preflight_answer(call);
    if (s.stopped || !s.app.on_request)
        co_return plain_answer(503, "stopping\n", true);
    std::optional<request_class> what = request_class::status;
    if (s.app.classify_request)
        what = s.app.classify_request(call);
    request_gate::pass turn;
    if (what) {
        turn = co_await s.gate.enter(*what);
        if (!turn) {
            ++s.counters.busy;
            co_return busy_answer(s);
        }
    }
    try {
        auto answering = s.app.on_request(call);
        co_return co_await std::move(answering);
    } catch (const std::exception&) {
        co_return failed_answer();
    }
}

/// Our FIN goes after the last answer, and what the peer still sends is read for a moment, so that
/// closing does not reset the connection while the answer is in flight.
asio::awaitable<void> close_gently(tcp::socket& socket, connection_slot& slot) {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    slot.expires_after(lingering_close);
    std::array<char, 1024> sink;
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
        if (ec)
            break;
    }
    socket.close(ignored);
}

asio::awaitable<bool> write_answer(http_server::state& s, tcp::socket& socket, connection_slot& slot,
                                   http_answer answer, bool keep_alive, bool head_only) {
    const std::string head = answer_head(s, answer, keep_alive);
    std::array<asio::const_buffer, 2> pieces{asio::buffer(head), asio::buffer(answer.body)};
    if (head_only)
        pieces[1] = asio::const_buffer();
    slot.expires_after(s.config.io_timeout);
    auto [ec, n] = co_await asio::async_write(socket, pieces, use_nothrow);
    co_return !ec;
}

asio::awaitable<void> refuse_and_close(http_server::state& s, tcp::socket& socket, connection_slot& slot,
                                       unsigned status, std::string text) {
    // Each operation in a named variable before co_await: GCC 12 mishandles temporaries there.
    auto writing = write_answer(s, socket, slot, plain_answer(status, std::move(text), true), false, false);
    if (!co_await std::move(writing))
        co_return;
    auto closing = close_gently(socket, slot);
    co_await std::move(closing);
}

/// A request that could not be read: a status when it was malformed or too large, silence when
/// the peer went away or the connection timed out.
asio::awaitable<void> refuse_unreadable(http_server::state& s, tcp::socket& socket, connection_slot& slot,
                                        const error_code& ec) {
    auto status = status_for_read_error(ec);
    if (!status || slot.timed_out())
        co_return;
    if (status == 413)
        ++s.counters.too_large;
    else
        ++s.counters.bad_requests;
    auto refusing = refuse_and_close(s, socket, slot, status, ec.message() + "\n");
    co_await std::move(refusing);
}

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

// GCC 12 reports a false -Wmismatched-new-delete here: it pairs the coroutine frame's class-specific
// operator new (Asio's recycling allocator) with the free() inside Asio's matching operator delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<void> run_connection(std::shared_ptr<http_server::state> s, tcp::socket socket) {
    connection_slot slot(*s, socket);
    beast::basic_flat_buffer<block_recycler<char>> buffer;
    error_code no_peer;
    const auto peer = socket.remote_endpoint(no_peer); // once: a system call
    for (;;) {
        // Between requests a connection holds its socket and nothing else: no read buffer until
        // the peer sends a byte (thousands of idle keep-alive clients cost next to nothing).
        if (buffer.size() == 0) {
            buffer.shrink_to_fit();
            slot.idle(buffer.capacity());
            slot.expires_after(s->config.idle_timeout);
            auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, use_nothrow);
            slot.busy();
            if (ec || s->stopped)
                co_return;
        }

        slot.expires_after(s->config.io_timeout);
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(s->config.header_limit, UINT32_MAX)));
        parser.body_limit(s->config.body_limit);
        auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, use_nothrow);
        if (ec) {
            // A Content-Length over the cap fails here already (body_limit): 413 before any body.
            auto refusing = refuse_unreadable(*s, socket, slot, ec);
            co_await std::move(refusing);
            co_return;
        }
        ++s->counters.requests;
        const auto& req = parser.get();

        if (!s->config.websocket_path.empty() && beast::websocket::is_upgrade(req) &&
            req.target().substr(0, req.target().find('?')) == s->config.websocket_path) {
            auto call = make_call(req, peer, slot.id());
            if (s->stopped || (s->app.accept_websocket && !s->app.accept_websocket(call))) {
                auto refusing = refuse_and_close(*s, socket, slot, 403, "websocket refused\n");
                co_await std::move(refusing);
                co_return;
            }
            auto serving = run_websocket(s, std::move(socket), parser.release(), slot);
            co_await std::move(serving);
            co_return;
        }

        if (!parser.is_done()) {
            if (beast::iequals(req[http::field::expect], "100-continue")) {
                slot.expires_after(s->config.io_timeout);
                auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(continue_line), use_nothrow);
                if (wec)
                    co_return;
            }
            slot.expires_after(s->config.io_timeout);
            auto [bec, bn] = co_await http::async_read(socket, buffer, parser, use_nothrow);
            if (bec) {
                auto refusing = refuse_unreadable(*s, socket, slot, bec); // a chunked body over the cap: 413
                co_await std::move(refusing);
                co_return;
            }
        }

        auto call = make_call(req, peer, slot.id());
        call.body = std::move(parser.get().body());
        slot.expires_never(); // the application takes its time; the queue bounds how much of it
        auto answering = answer_call(*s, call);
        auto answer = co_await std::move(answering);
        const bool keep_alive = req.keep_alive() && !answer.close && !s->stopped;
        auto writing = write_answer(*s, socket, slot, std::move(answer), keep_alive, req.method() == http::verb::head);
        if (!co_await std::move(writing))
            co_return;
        if (!keep_alive) {
            auto closing = close_gently(socket, slot);
            co_await std::move(closing);
            co_return;
        }
    }
}

#pragma GCC diagnostic pop

/// Over max_connections: a canned 503 written without waiting (it fits any socket buffer), then
/// closed. Costs no coroutine and no buffer.
void refuse_connection(tcp::socket& socket) {
    static constexpr std::string_view busy = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                                             "Content-Length: 0\r\nConnection: close\r\n\r\n";
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(busy), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
}

/// Takes one accepted connection: refused when the server is full, otherwise served by its own
/// coroutine.
void admit_connection(const std::shared_ptr<http_server::state>& s, tcp::socket socket) {
    ++s->counters.connections_accepted;
    if (s->connections.size() >= s->config.max_connections) {
        ++s->counters.connections_refused;
        refuse_connection(socket);
        return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(s->executor, run_connection(s, std::move(socket)), asio::detached);
}

/// At most this many connections are taken from the listen queue in one turn of the loop.
constexpr int accepts_per_turn = 256;

asio::awaitable<void> accept_loop(std::shared_ptr<http_server::state> s, tcp::acceptor& acceptor) {
    asio::steady_timer backoff(s->executor);
    error_code ec;
    // Non-blocking, so that after a wake-up the rest of the listen queue is taken at once: one
    // connection per turn of a loop busy with thousands of clients let a storm of connections
    // overflow the kernel's queue (the dropped ones came back a second later).
    acceptor.non_blocking(true, ec);
    while (!s->stopped) {
        auto [accept_ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (s->stopped || accept_ec == asio::error::operation_aborted)
            co_return;
        ec = accept_ec;
        if (!ec) {
            admit_connection(s, std::move(socket));
            for (int taken = 1; taken < accepts_per_turn && !ec; ++taken) {
                tcp::socket next(s->executor);
                acceptor.accept(next, ec);
                if (!ec)
                    admit_connection(s, std::move(next));
            }
            if (ec == asio::error::would_block || ec == asio::error::try_again)
                ec = {};
        }
        if (ec) {
            // Out of descriptors and the like: wait a little rather than spin.
            backoff.expires_after(std::chrono::milliseconds(20));
            co_await backoff.async_wait(use_nothrow);
        }
    }
}

asio::awaitable<void> sweep_deadlines(std::shared_ptr<http_server::state> s) {
    while (!s->stopped) {
        s->sweep_timer.expires_after(s->sweep_tick);
        co_await s->sweep_timer.async_wait(use_nothrow);
        auto now = clock::now();
        for (auto& [id, entry] : s->connections) {
            if (entry.deadline <= now && entry.socket && !entry.timed_out) {
                entry.timed_out = true;
                ++s->counters.timeouts;
                error_code ignored;
                entry.socket->close(ignored);
            }
        }
        check_idle_websockets(*s, now);
    }
}

} // namespace

namespace server_detail {

connection_slot::connection_slot(http_server::state& s, tcp::socket& socket)
    : state_(s), id_(s.next_connection++), entry_(&s.connections[id_]) {
    entry_->socket = &socket;
}

connection_slot::~connection_slot() { state_.connections.erase(id_); }

void connection_slot::idle(std::size_t buffer_capacity) {
    auto& e = entry();
    e.idle = true;
    e.idle_buffer = buffer_capacity;
}

void connection_slot::busy() { entry().idle = false; }

void connection_slot::upgraded(tcp::socket& socket) {
    auto& e = entry();
    e.socket = &socket;
    e.websocket = true;
    e.deadline = clock::time_point::max(); // the WebSocket session keeps its own timeouts
}

} // namespace server_detail

http_server::state::state(asio::any_io_executor ex, http_server_config c, http_application a)
    : executor(std::move(ex)), config(std::move(c)), app(std::move(a)), cors(config.cors),
      gate(executor, config.queue), sweep_timer(executor) {
    auto shortest = std::min({config.idle_timeout, config.io_timeout,
                              std::chrono::duration_cast<std::chrono::milliseconds>(config.websocket_idle_timeout / 2)});
    sweep_tick = std::clamp<clock::duration>(shortest / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
}

http_server::http_server(asio::any_io_executor executor, http_server_config config, http_application application)
    : state_(std::make_shared<state>(std::move(executor), std::move(config), std::move(application))) {}

http_server::~http_server() { stop(); }

error_code http_server::start() {
    auto& s = *state_;
    if (s.started)
        return asio::error::already_started;
    std::uint16_t port = s.config.port;
    for (const auto& text : s.config.addresses) {
        error_code ec;
        auto address = asio::ip::make_address(text, ec);
        if (ec) {
            s.acceptors.clear();
            return ec;
        }
        tcp::endpoint endpoint(address, port);
        auto& acceptor = s.acceptors.emplace_back(s.executor);
        acceptor.open(endpoint.protocol(), ec);
        if (!ec && address.is_v6())
            acceptor.set_option(asio::ip::v6_only(true), ec);
        if (!ec)
            acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec)
            acceptor.bind(endpoint, ec);
        if (!ec)
            acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            s.acceptors.clear();
            return ec;
        }
        port = acceptor.local_endpoint().port(); // the others take the port the first one got
    }
    s.port = port;
    s.started = true;
    for (auto& acceptor : s.acceptors)
        asio::co_spawn(s.executor, accept_loop(state_, acceptor), asio::detached);
    asio::co_spawn(s.executor, sweep_deadlines(state_), asio::detached);
    return {};
}

void http_server::stop() {
    auto& s = *state_;
    if (!s.started || s.stopped)
        return;
    s.stopped = true;
    error_code ignored;
    for (auto& acceptor : s.acceptors)
        acceptor.close(ignored);
    s.sweep_timer.cancel();
    for (auto& [id, entry] : s.connections)
        if (!entry.websocket && entry.socket)
            entry.socket->close(ignored);
    close_websockets(s);
}

std::uint16_t http_server::port() const noexcept { return state_->port; }

http_server_stats http_server::stats() const {
    auto counters = state_->counters;
    counters.connections_open = state_->connections.size();
    counters.websockets_open = state_->websockets.size();
    counters.idle_connections = 0;
    counters.idle_buffer_bytes = 0;
    for (const auto& [id, entry] : state_->connections) {
        if (entry.idle) {
            ++counters.idle_connections;
            counters.idle_buffer_bytes += entry.idle_buffer;
        }
    }
    return counters;
}

const request_queue& http_server::queue() const noexcept { return state_->gate.queue(); }

} // namespace ferry
