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

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <tuple>

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
        : state_(std::move(s)), ws_(std::move(socket)), id_(id), calls_signal_(state_->executor) {}
    ~websocket_session() { state_->websockets.erase(id_); }
    websocket_session(const websocket_session&) = delete;
    websocket_session& operator=(const websocket_session&) = delete;

    tcp::socket& socket() noexcept { return ws_.next_layer(); }

    /// Accepts the upgrade, then reads until the socket closes.
    asio::awaitable<void> run(request_message upgrade) {
        auto& config = state_->config;
        // Beast times the opening and closing handshakes only: its idle timer would be re-armed
        // (a cancel, a wait, a handler) for every message; check_idle() does that job instead.
        websocket::stream_base::timeout timeouts;
        timeouts.handshake_timeout = config.io_timeout;
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [name = config.server_name](websocket::response_type& res) { res.set(beast::http::field::server, name); }));
        ws_.read_message_max(config.websocket_message_limit);
        ws_.control_callback([this](websocket::frame_type, beast::string_view) { heard(); });
        auto [ec] = co_await ws_.async_accept(upgrade, use_nothrow);
        if (ec)
            co_return;
        ws_.text(true);

        heard();
        state_->websockets.emplace(id_, this);
        if (state_->app.on_open)
            state_->app.on_open(id_);
        auto reading = read_loop();
        co_await std::move(reading);
        finish();
    }

    /// Queues a message; a peer with too many messages queued is too slow and is dropped.
    bool push(std::shared_ptr<const std::string> text) {
        if (!enqueue(std::move(text)))
            return false;
        start_writer();
        return true;
    }

    /// Sends a close frame after what is queued (the server stops).
    void close(websocket::close_code code) {
        if (closing_ || done_)
            return;
        closing_ = code;
        start_writer();
    }

    /// Called by the server's sweep: a socket silent for half the idle timeout is pinged, one
    /// silent for all of it is closed. A socket with calls under way is not idle.
    void check_idle(clock::time_point now) {
        if (done_ || closing_)
            return;
        if (calls_ > 0) {
            heard();
            return;
        }
        auto timeout = state_->config.websocket_idle_timeout;
        if (now - last_heard_ >= timeout) {
            ++state_->counters.timeouts;
            error_code ignored;
            beast::get_lowest_layer(ws_).close(ignored); // the reader fails: the session ends
        } else if (now - last_heard_ >= timeout / 2 && !pinged_) {
            pinged_ = true;
            push(nullptr);
        }
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
            heard();
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
    /// answer, the reply sent (by this coroutine when no other is writing: no hand-off).
    static asio::awaitable<void> handle(std::shared_ptr<websocket_session> self, std::string text,
                                        std::optional<request_class> what) {
        auto answering = answer(*self, std::move(text), what);
        auto reply = co_await std::move(answering);
        self->call_finished();
        if (reply.empty() || !self->enqueue(std::make_shared<const std::string>(std::move(reply))) || self->writing_)
            co_return;
        self->writing_ = true;
        co_await write_queued(self);
    }

    static asio::awaitable<std::string> answer(websocket_session& self, std::string text,
                                               std::optional<request_class> what) {
        auto& s = *self.state_;
        request_gate::pass turn;
        if (what) {
            turn = co_await s.gate.enter(*what);
            if (!turn) {
                ++s.counters.busy;
                co_return s.app.busy_reply ? s.app.busy_reply(text) : std::string();
            }
        }
        if (s.stopped || self.done_ || !s.app.on_message)
            co_return std::string();
        try {
            auto answering = s.app.on_message(self.id_, std::move(text));
            co_return co_await std::move(answering);
        } catch (const std::exception&) {
            // The application failed this message; the socket goes on.
        }
        co_return std::string();
    }

    void call_finished() {
        --calls_;
        if (reader_waiting_)
            calls_signal_.cancel();
    }

    bool enqueue(std::shared_ptr<const std::string> text) {
        if (done_ || closing_)
            return false;
        if (outbox_.size() >= state_->config.websocket_send_backlog) {
            error_code ignored;
            beast::get_lowest_layer(ws_).close(ignored); // reads and writes fail: the session ends
            return false;
        }
        outbox_.push_back(std::move(text));
        return true;
    }

    /// Starts a writer coroutine unless one is writing (it sends what was queued meanwhile).
    void start_writer() {
        if (writing_ || done_)
            return;
        writing_ = true;
        asio::co_spawn(state_->executor, write_queued(shared_from_this()), asio::detached);
    }

    /// Sends the queued messages in order (an empty pointer is a ping), then the close frame when
    /// closing; the caller has set writing_. One writer at a time, as Beast requires.
    static asio::awaitable<void> write_queued(std::shared_ptr<websocket_session> self) {
        auto& ws = self->ws_;
        while (!self->done_) {
            if (self->outbox_.empty()) {
                if (self->closing_ && !self->close_sent_) {
                    self->close_sent_ = true;
                    auto closing = ws.async_close(*self->closing_, use_nothrow);
                    co_await std::move(closing); // a failed close needs nothing more: the socket is done
                }
                break;
            }
            auto text = std::move(self->outbox_.front());
            self->outbox_.pop_front();
            error_code ec;
            if (text) {
                std::tie(ec, std::ignore) = co_await ws.async_write(asio::buffer(*text), use_nothrow);
            } else {
                websocket::ping_data payload;
                std::tie(ec) = co_await ws.async_ping(payload, use_nothrow);
            }
            if (ec) {
                error_code ignored;
                beast::get_lowest_layer(ws).close(ignored);
                break;
            }
        }
        self->writing_ = false;
    }

    void heard() {
        last_heard_ = clock::now();
        pinged_ = false;
    }

    /// The reader ended: the socket is closed or closing; nothing more is sent or handled.
    void finish() {
        done_ = true;
        outbox_.clear();
        calls_signal_.cancel();
        state_->websockets.erase(id_);
        if (state_->app.on_close)
            state_->app.on_close(id_);
    }

    std::shared_ptr<http_server::state> state_;
    websocket::stream<tcp::socket> ws_;
    std::uint64_t id_;
    std::deque<std::shared_ptr<const std::string>> outbox_;
    asio::steady_timer calls_signal_; ///< wakes the reader: a call finished
    std::size_t calls_ = 0;
    bool reader_waiting_ = false; ///< the reader waits on calls_signal_
    bool writing_ = false;        ///< a coroutine is in write_queued()
    clock::time_point last_heard_;
    bool pinged_ = false; ///< pinged since last heard from
    std::optional<websocket::close_code> closing_;
    bool close_sent_ = false;
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

void check_idle_websockets(http_server::state& s, clock::time_point now) {
    // check_idle() only closes sockets (the sessions leave the map later, from their readers)
    // and queues pings.
    for (auto& [id, session] : s.websockets)
        session->check_idle(now);
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
