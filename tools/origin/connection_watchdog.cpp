#include "tools/origin/connection_watchdog.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace ferry::origin {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {
constexpr clock::duration tick = std::chrono::seconds(1);
}

// Shared with the checking coroutine, which may wake after the watchdog is gone.
struct connection_watchdog::state {
    explicit state(asio::ip::tcp::socket& s) : socket(&s), timer(s.get_executor()) {}
    asio::ip::tcp::socket* socket; ///< null once the watchdog is destroyed
    asio::steady_timer timer;
    clock::time_point deadline = clock::time_point::max();
};

connection_watchdog::connection_watchdog(asio::ip::tcp::socket& socket) : state_(std::make_shared<state>(socket)) {
    asio::co_spawn(socket.get_executor(), watch(state_), asio::detached);
}

connection_watchdog::~connection_watchdog() {
    state_->socket = nullptr;
    state_->timer.cancel();
}

void connection_watchdog::expires_after(clock::duration timeout) { state_->deadline = clock::now() + timeout; }

void connection_watchdog::expires_never() { state_->deadline = clock::time_point::max(); }

asio::awaitable<void> connection_watchdog::watch(std::shared_ptr<state> s) {
    while (s->socket) {
        auto now = clock::now();
        if (now >= s->deadline) {
            boost::system::error_code ignored;
            s->socket->close(ignored);
            co_return;
        }
        // Deadlines move forward with every read and write: look again within a tick.
        s->timer.expires_at(s->deadline - now < tick ? s->deadline : now + tick);
        co_await s->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

} // namespace ferry::origin
