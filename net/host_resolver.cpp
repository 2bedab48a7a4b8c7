#include "net/host_resolver.hpp"

#include "net/error.hpp"
#include "net/happy_eyeballs.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;

host_resolver::host_resolver(asio::any_io_executor executor, address_cache::settings settings)
    : executor_(std::move(executor)), cache_(settings) {}

asio::awaitable<boost::system::result<address_cache::endpoints>>
host_resolver::resolve(const std::string& host, std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
    const std::string key = address_cache::key(host, port);
    for (;;) {
        if (const auto* known = cache_.find(host, port, address_cache::clock::now()))
            co_return *known;
        auto running = in_flight_.find(key);
        if (running == in_flight_.end())
            break;
        // Another connection's lookup of this host is under way: its answer is ours too.
        asio::steady_timer wake(executor_, deadline);
        running->second.push_back(&wake);
        struct leave_line {
            host_resolver& self;
            const std::string& key;
            asio::steady_timer* timer;
            ~leave_line() {
                if (auto it = self.in_flight_.find(key); it != self.in_flight_.end())
                    std::erase(it->second, timer);
            }
        } in_line{*this, key, &wake};
        auto [ec] = co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
            co_return make_error_code(asio::error::operation_aborted);
        if (!ec)
            co_return make_error_code(net_error::connect_timeout);
        // Woken: the lookup ended. Its answer is in the cache, or it failed and we ask ourselves.
    }

    in_flight_.try_emplace(key);
    // However the lookup ends (even with this frame destroyed), those waiting for it are woken.
    struct end_lookup {
        host_resolver& self;
        const std::string& key;
        ~end_lookup() {
            if (auto it = self.in_flight_.find(key); it != self.in_flight_.end()) {
                for (auto* timer : it->second)
                    timer->cancel();
                self.in_flight_.erase(it);
            }
        }
    } ending{*this, key};
    ++lookups_;
    auto found = co_await resolve_addresses(executor_, host, port, deadline);
    if (found)
        cache_.store(host, port, *found, address_cache::clock::now());
    co_return found;
}

} // namespace ferry
