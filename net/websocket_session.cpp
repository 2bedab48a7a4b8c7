// One WebSocket of the server: Beast's handshake, then frames read and written here
// (websocket_frame): a reader that hands text messages to the application (several at once, up to
// a bound) and answers pings and close frames; replies and pushed notifications sent in order, at
// once while the socket takes them. The only translation unit that instantiates Beast's WebSocket
// templates.
#include "net/server_state.hpp"
#include "net/websocket_frame.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

namespace ferry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using boost::system::error_code;
using namespace server_detail;

namespace frame = websocket_frame;

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

    /// Accepts the upgrade (Beast's handshake), then reads frames until the socket closes.
    asio::awaitable<void> run(request_message upgrade) {
        auto& config = state_->config;
        websocket::stream_base::timeout timeouts;
        timeouts.handshake_timeout = config.io_timeout;
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [name = config.server_name](websocket::response_type& res) { res.set(beast::http::field::server, name); }));
        auto [ec] = co_await ws_.async_accept(upgrade, use_nothrow);
        if (ec)
            co_return;
        // From here on the frames are ours: a reply is one send(2) on the non-blocking socket, no
        // operation, no turn of the loop (Beast's stream went through both for every message).
        socket().non_blocking(true, ec);

        heard();
        state_->websockets.emplace(id_, this);
        if (state_->app.on_open)
            state_->app.on_open(id_);
        auto reading = read_loop();
        co_await std::move(reading);
        finish();
    }

    /// Queues a text message; a peer with too many messages queued is too slow and is dropped.
    bool push(std::shared_ptr<const std::string> text) {
        if (!enqueue({frame::opcode::text, std::move(text), {}}))
            return false;
        send_queued();
        return true;
    }

    /// Sends a close frame after what is queued; the socket closes when the peer answers it (or
    /// after the I/O timeout).
    void close(frame::close_code code) {
        if (closing_ || done_)
            return;
        send_close({static_cast<char>(code >> 8), static_cast<char>(code & 0xff)});
    }

    /// Called by the server's sweep: a socket silent for half the idle timeout is pinged, one
    /// silent for all of it is closed, as is one that does not answer our close frame in time.
    /// A socket with calls under way is not idle.
    void check_idle(clock::time_point now) {
        if (done_)
            return;
        if (closing_) {
            if (close_sent_ && now - close_sent_at_ >= state_->config.io_timeout)
                drop();
            return;
        }
        if (calls_ > 0) {
            heard();
            return;
        }
        auto timeout = state_->config.websocket_idle_timeout;
        if (now - last_heard_ >= timeout) {
            ++state_->counters.timeouts;
            drop();
        } else if (now - last_heard_ >= timeout / 2 && !pinged_) {
            pinged_ = true;
            if (enqueue({frame::opcode::ping, nullptr, {}}))
                send_queued();
        }
    }

private:
    /// A frame to send: text (shared among the sockets of a broadcast) or a control frame.
    struct outgoing {
        frame::opcode op;
        std::shared_ptr<const std::string> text;
        std::string control;
        std::string_view payload() const noexcept { return text ? std::string_view(*text) : std::string_view(control); }
    };

    static constexpr std::size_t idle_buffer = 1024;

    asio::awaitable<void> read_loop() {
        // Frames are parsed where they were received; the buffer grows for a large frame (up to
        // the message cap) and shrinks back after it.
        std::string in(idle_buffer, '\0');
        std::size_t begin = 0, end = 0;
        const auto limit = state_->config.websocket_message_limit;
        for (;;) {
            while (calls_ >= std::max<std::size_t>(state_->config.websocket_calls_per_socket, 1)) {
                calls_signal_.expires_at(asio::steady_timer::time_point::max());
                reader_waiting_ = true;
                co_await calls_signal_.async_wait(use_nothrow);
                reader_waiting_ = false;
                if (done_)
                    co_return;
            }
            std::size_t wanted = frame::max_header; // bytes the next step needs from `begin`
            if (skip_ > 0) {
                auto dropped = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, end - begin));
                begin += dropped;
                skip_ -= dropped;
                wanted = 1;
            } else if (begin < end) {
                frame::header h;
                auto parsed = frame::parse_client_header(reinterpret_cast<const unsigned char*>(in.data() + begin),
                                                         end - begin, h);
                if (parsed == frame::parse_result::bad) {
                    fail(frame::protocol_error);
                    co_return;
                }
                if (parsed == frame::parse_result::ok) {
                    bool data = h.op == frame::opcode::text || h.op == frame::opcode::binary ||
                                h.op == frame::opcode::continuation;
                    if (data && h.length > limit - std::min(limit, message_.size())) {
                        // Beast's rule too: close with 1009 and read on (dropping the rest) until
                        // the peer answers.
                        ++state_->counters.too_large;
                        close(frame::too_big);
                        message_.clear();
                        in_message_ = false;
                        begin += h.size;
                        skip_ = h.length;
                        continue;
                    }
                    if (end - begin >= h.size + h.length) {
                        heard();
                        char* payload = in.data() + begin + h.size;
                        auto length = static_cast<std::size_t>(h.length);
                        frame::unmask(payload, length, h.mask);
                        begin += h.size + length;
                        if (!take_frame(h, payload, length))
                            co_return;
                        continue;
                    }
                    wanted = h.size + static_cast<std::size_t>(h.length);
                }
            }
            // More bytes are needed: make room for `wanted` from `begin`, then receive.
            if (begin == end) {
                begin = end = 0;
                if (in.size() > idle_buffer) {
                    in.resize(idle_buffer);
                    in.shrink_to_fit();
                }
            } else if (in.size() - begin < wanted || end == in.size()) {
                std::memmove(in.data(), in.data() + begin, end - begin);
                end -= begin;
                begin = 0;
            }
            if (in.size() < wanted)
                in.resize(wanted);
            auto [ec, n] = co_await socket().async_read_some(asio::buffer(in.data() + end, in.size() - end), use_nothrow);
            if (ec)
                co_return;
            end += n;
        }
    }

    /// One whole (unmasked) frame. False: the conversation is over.
    bool take_frame(const frame::header& h, char* payload, std::size_t length) {
        switch (h.op) {
        case frame::opcode::text:
        case frame::opcode::binary:
            if (in_message_) {
                fail(frame::protocol_error); // a new message inside a fragmented one
                return false;
            }
            if (h.fin) {
                take_message(h.op, std::string(payload, length));
            } else {
                in_message_ = true;
                message_op_ = h.op;
                message_.assign(payload, length);
            }
            return true;
        case frame::opcode::continuation:
            if (!in_message_) {
                fail(frame::protocol_error);
                return false;
            }
            message_.append(payload, length);
            if (h.fin) {
                in_message_ = false;
                take_message(message_op_, std::exchange(message_, std::string()));
            }
            return true;
        case frame::opcode::ping:
            if (enqueue({frame::opcode::pong, nullptr, std::string(payload, length)}))
                send_queued();
            return true;
        case frame::opcode::pong:
            return true;
        case frame::opcode::close:
            // Answered with the same code (none: none), then the socket closes; after our own
            // close frame, this was the answer.
            peer_closed_ = true;
            if (closing_) {
                drop();
            } else {
                send_close(std::string(payload, std::min<std::size_t>(length, 2)));
            }
            return false;
        }
        return true;
    }

    void take_message(frame::opcode op, std::string text) {
        if (closing_)
            return; // after our close frame, messages are read and dropped
        if (op != frame::opcode::text) {
            close(frame::unsupported_data); // JSON-RPC is text
            return;
        }
        if (!frame::is_utf8(text)) {
            close(frame::bad_payload);
            return;
        }
        ++state_->counters.websocket_messages;
        std::optional<request_class> what = request_class::status;
        if (state_->app.classify_message)
            what = state_->app.classify_message(text);
        if (what && answered_now(*what, text))
            return;
        ++calls_;
        asio::co_spawn(state_->executor, handle(shared_from_this(), std::move(text), what), asio::detached);
    }

    /// Replies at once when the queue has a turn free and the application its answer: no
    /// coroutine for the call.
    bool answered_now(request_class what, std::string_view text) {
        auto& s = *state_;
        if (!s.app.answer_now || s.stopped)
            return false;
        auto turn = s.gate.try_enter(what);
        if (!turn)
            return false;
        auto reply = s.app.answer_now(text);
        if (!reply)
            return false;
        if (!reply->empty())
            push(std::make_shared<const std::string>(std::move(*reply)));
        return true;
    }

    /// One call: its turn in the request queue (`what`; none for a long poll), the application's
    /// answer, the reply queued (and sent at once when the socket takes it).
    static asio::awaitable<void> handle(std::shared_ptr<websocket_session> self, std::string text,
                                        std::optional<request_class> what) {
        auto answering = answer(*self, std::move(text), what);
        auto reply = co_await std::move(answering);
        self->call_finished();
        if (!reply.empty())
            self->push(std::make_shared<const std::string>(std::move(reply)));
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

    bool enqueue(outgoing item) {
        if (done_ || closing_)
            return false;
        if (outbox_.size() >= state_->config.websocket_send_backlog) {
            drop(); // reads fail: the session ends
            return false;
        }
        outbox_.push_back(std::move(item));
        return true;
    }

    /// Queues the close frame (a code, or none) after what is queued; nothing is queued after it.
    void send_close(std::string payload) {
        outbox_.push_back({frame::opcode::close, nullptr, std::move(payload)});
        closing_ = true;
        send_queued();
    }

    /// Sends what is queued: at once while the socket takes it, the rest by a writer coroutine.
    void send_queued() {
        if (writing_ || done_ || write_now())
            return;
        writing_ = true;
        asio::co_spawn(state_->executor, write_later(shared_from_this()), asio::detached);
    }

    /// The unsent bytes of the front frame (its header written into `head`).
    std::array<asio::const_buffer, 2> unsent(unsigned char (&head)[frame::max_server_header]) const {
        auto& item = outbox_.front();
        auto payload = item.payload();
        std::size_t size = frame::server_header(item.op, payload.size(), head);
        asio::const_buffer a(head, size), b(payload.data(), payload.size());
        if (front_sent_ >= size)
            return {asio::const_buffer(), b + (front_sent_ - size)};
        return {a + front_sent_, b};
    }

    /// Non-blocking sends of the queued frames. True: nothing left (or the socket failed); false:
    /// the socket is full.
    bool write_now() {
        while (!outbox_.empty()) {
            unsigned char head[frame::max_server_header];
            auto buffers = unsent(head);
            auto left = asio::buffer_size(buffers);
            error_code ec;
            auto n = socket().send(buffers, 0, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again)
                return false;
            if (ec) {
                drop();
                return true;
            }
            if (n < left) {
                front_sent_ += n;
                return false;
            }
            sent_front();
        }
        return true;
    }

    static asio::awaitable<void> write_later(std::shared_ptr<websocket_session> self) {
        while (!self->done_ && !self->outbox_.empty()) {
            unsigned char head[frame::max_server_header];
            auto buffers = self->unsent(head);
            auto [ec, n] = co_await asio::async_write(self->socket(), buffers, use_nothrow);
            if (ec) {
                self->drop();
                break;
            }
            self->sent_front();
            if (self->write_now())
                break;
        }
        self->writing_ = false;
    }

    void sent_front() {
        bool was_close = outbox_.front().op == frame::opcode::close;
        outbox_.pop_front();
        front_sent_ = 0;
        if (!was_close)
            return;
        close_sent_ = true;
        close_sent_at_ = clock::now();
        if (peer_closed_)
            drop(); // the closing handshake is complete
    }

    /// A protocol error: a close frame with `code` if the socket takes it now, and the end.
    void fail(frame::close_code code) {
        close(code);
        drop();
    }

    /// Closes the socket: the pending read fails and the session ends.
    void drop() {
        error_code ignored;
        socket().close(ignored);
    }

    void heard() {
        last_heard_ = clock::now();
        pinged_ = false;
    }

    /// The reader ended: the socket is closed or closing; nothing more is sent or handled.
    void finish() {
        done_ = true;
        drop();
        outbox_.clear();
        calls_signal_.cancel();
        state_->websockets.erase(id_);
        if (state_->app.on_close)
            state_->app.on_close(id_);
    }

    std::shared_ptr<http_server::state> state_;
    websocket::stream<tcp::socket> ws_; ///< the opening handshake only; frames go through socket()
    std::uint64_t id_;
    asio::steady_timer calls_signal_; ///< wakes the reader: a call finished
    std::size_t calls_ = 0;
    bool reader_waiting_ = false; ///< the reader waits on calls_signal_

    std::string message_; ///< a fragmented message so far
    frame::opcode message_op_ = frame::opcode::text;
    bool in_message_ = false;
    std::uint64_t skip_ = 0; ///< bytes of an oversized frame still to drop

    std::deque<outgoing> outbox_;
    std::size_t front_sent_ = 0; ///< bytes of the front frame already sent
    bool writing_ = false;       ///< write_later() runs

    clock::time_point last_heard_;
    bool pinged_ = false; ///< pinged since last heard from
    bool closing_ = false;     ///< a close frame is queued or sent: nothing more is queued
    bool close_sent_ = false;
    clock::time_point close_sent_at_;
    bool peer_closed_ = false; ///< the peer's close frame came
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
        session->close(frame::going_away);
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
