// One WebSocket of the server: a reader that hands text messages to the application (several at
// once, up to a bound), a writer that sends replies and pushed notifications in order. The only
// translation unit that instantiates Beast's WebSocket templates.
#include "net/block_recycler.hpp"
#include "net/server_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <deque>
#include <memory>
#include <optional>

namespace ferry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using boost::system::error_code;
using namespace server_detail;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}

class websocket_session : public std::enable_shared_from_this<websocket_session> {
public:
    websocket_session(std::shared_ptr<http_server::state> s, tcp::socket socket, std::uint64_t id)
        : state_(std::move(s)), ws_(std::move(socket)), id_(id), send_signal_(state_->executor),
          calls_signal_(state_->executor) {}
    ~websocket_session() { state_->websockets.erase(id_); }
    websocket_session(const websocket_session&) = delete;
    websocket_session& operator=(const websocket_session&) = delete;

    tcp::socket& socket() noexcept { return ws_.next_layer(); }

    /// Accepts the upgrade, then reads until the socket closes.
    asio::awaitable<void> run(request_message upgrade) {
        auto& config = state_->config;
        websocket::stream_base::timeout timeouts;
        timeouts.handshake_timeout = config.io_timeout;
        timeouts.idle_timeout = config.websocket_idle_timeout;
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [name = config.server_name](websocket::response_type& res) { res.set(beast::http::field::server, name); }));
        ws_.read_message_max(config.websocket_message_limit);
        auto [ec] = co_await ws_.async_accept(upgrade, use_nothrow);
        if (ec)
            co_return;
        ws_.text(true);

        state_->websockets.emplace(id_, this);
        if (state_->app.on_open)
            state_->app.on_open(id_);
        asio::co_spawn(state_->executor, write_loop(shared_from_this()), asio::detached);
        auto reading = read_loop();
        co_await std::move(reading);
        finish();
    }

    /// Queues a message; a peer with too many messages queued is too slow and is dropped.
    bool push(std::shared_ptr<const std::string> text) {
        if (done_ || closing_)
            return false;
        if (outbox_.size() >= state_->config.websocket_send_backlog) {
            error_code ignored;
            beast::get_lowest_layer(ws_).close(ignored); // reads and writes fail: the session ends
            return false;
        }
        outbox_.push_back(std::move(text));
        wake_writer();
        return true;
    }

    /// Sends a close frame after what is queued (the server stops).
    void close(websocket::close_code code) {
        if (closing_ || done_)
            return;
        closing_ = code;
        wake_writer();
    }

private:
    asio::awaitable<void> read_loop() {
        beast::basic_flat_buffer<block_recycler<char>> buffer;
        for (;;) {
            while (calls_ >= std::max<std::size_t>(state_->config.websocket_calls_per_socket, 1)) {
                calls_signal_.expires_at(asio::steady_timer::time_point::max());
                reader_waiting_ = true;
                co_await calls_signal_.async_wait(use_nothrow);
                reader_waiting_ = false;
                if (done_)
                    co_return;
            }
            auto [ec, n] = co_await ws_.async_read(buffer, use_nothrow);
            if (ec == websocket::error::message_too_big)
                ++state_->counters.too_large; // Beast has sent close 1009
            if (ec)
                co_return;
            if (!ws_.got_text() || closing_) {
                // Binary frames mean nothing here (JSON-RPC is text): say so and close. Reading
                // goes on until the peer answers the close frame.
                buffer.consume(buffer.size());
                close(websocket::close_code::unknown_data);
                continue;
            }
            ++state_->counters.websocket_messages;
            std::string text = beast::buffers_to_string(buffer.data());
            buffer.consume(buffer.size());
            buffer.shrink_to_fit(); // messages may be large, the time between them long (freed blocks are reused)
            std::optional<request_class> what = request_class::status;
            if (state_->app.classify_message)
                what = state_->app.classify_message(text);
            ++calls_;
            asio::co_spawn(state_->executor, handle(shared_from_this(), std::move(text), what), asio::detached);
        }
    }

    /// One call: its turn in the request queue (`what`; none for a long poll), the application's
    /// answer, the reply queued.
    static asio::awaitable<void> handle(std::shared_ptr<websocket_session> self, std::string text,
                                        std::optional<request_class> what) {
        auto& s = *self->state_;
        struct call_done {
            websocket_session& session;
            ~call_done() {
                --session.calls_;
                if (session.reader_waiting_)
                    session.calls_signal_.cancel();
            }
        } done{*self};

        request_gate::pass turn;
        if (what) {
            turn = co_await s.gate.enter(*what);
            if (!turn) {
                ++s.counters.busy;
                if (s.app.busy_reply)
                    if (auto reply = s.app.busy_reply(text); !reply.empty())
                        self->push(std::make_shared<const std::string>(std::move(reply)));
                co_return;
            }
        }
        if (s.stopped || self->done_ || !s.app.on_message)
            co_return;
        std::string reply;
        try {
            auto answering = s.app.on_message(self->id_, std::move(text));
            reply = co_await std::move(answering);
        } catch (const std::exception&) {
            // The application failed this message; the socket goes on.
        }
        turn.reset();
        if (!reply.empty())
            self->push(std::make_shared<const std::string>(std::move(reply)));
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<websocket_session> self) {
        auto& ws = self->ws_;
        while (!self->done_) {
            if (self->outbox_.empty()) {
                if (self->closing_) {
                    auto closing = ws.async_close(*self->closing_, use_nothrow);
                    co_await std::move(closing); // a failed close needs nothing more: the socket is done
                    co_return;
                }
                self->send_signal_.expires_at(asio::steady_timer::time_point::max());
                self->writer_waiting_ = true;
                co_await self->send_signal_.async_wait(use_nothrow);
                self->writer_waiting_ = false;
                continue;
            }
            auto text = self->outbox_.front();
            auto [ec, n] = co_await ws.async_write(asio::buffer(*text), use_nothrow);
            if (ec) {
                error_code ignored;
                beast::get_lowest_layer(ws).close(ignored);
                co_return;
            }
            self->outbox_.pop_front();
        }
    }

    /// Timers as condition variables: cancelled only when someone waits (a cancel takes the
    /// reactor's lock and, with a wait pending, a round through the scheduler).
    void wake_writer() {
        if (writer_waiting_)
            send_signal_.cancel();
    }

    /// The reader ended: the socket is closed or closing; nothing more is sent or handled.
    void finish() {
        done_ = true;
        outbox_.clear();
        send_signal_.cancel();
        calls_signal_.cancel();
        state_->websockets.erase(id_);
        if (state_->app.on_close)
            state_->app.on_close(id_);
    }

    std::shared_ptr<http_server::state> state_;
    websocket::stream<tcp::socket> ws_;
    std::uint64_t id_;
    std::deque<std::shared_ptr<const std::string>> outbox_;
    asio::steady_timer send_signal_;  ///< wakes the writer: something to send, or closing
    asio::steady_timer calls_signal_; ///< wakes the reader: a call finished
    std::size_t calls_ = 0;
    bool writer_waiting_ = false; ///< the writer waits on send_signal_
    bool reader_waiting_ = false; ///< the reader waits on calls_signal_
    std::optional<websocket::close_code> closing_;
    bool done_ = false;
};

namespace server_detail {

asio::awaitable<void> run_websocket(std::shared_ptr<http_server::state> s, tcp::socket socket, request_message upgrade,
                                    connection_slot& slot) {
    auto session = std::make_shared<websocket_session>(s, std::move(socket), slot.id());
    slot.upgraded(session->socket());
    auto running = session->run(std::move(upgrade));
    co_await std::move(running);
}

void close_websockets(http_server::state& s) {
    for (auto& [id, session] : s.websockets)
        session->close(websocket::close_code::going_away);
}

} // namespace server_detail

void http_server::broadcast(std::string text) {
    auto shared = std::make_shared<const std::string>(std::move(text));
    // push() may drop a slow peer, which only closes its socket: the map stays as it is meanwhile.
    for (auto& [id, session] : state_->websockets)
        session->push(shared);
}

bool http_server::send(std::uint64_t socket, std::string text) {
    auto it = state_->websockets.find(socket);
    return it != state_->websockets.end() && it->second->push(std::make_shared<const std::string>(std::move(text)));
}

} // namespace ferry
