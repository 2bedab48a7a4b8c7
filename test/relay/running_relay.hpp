#pragma once

// ferry-relay run in-process for tests: on an io_context of its own, one thread.

#include "tools/relay/relay_server.hpp"

#include <cstdint>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace ferry::relay::testing {

/// The relay on an io_context of its own, run by one thread until destruction.
class running_relay {
public:
    running_relay(std::uint16_t origin_port, relay_options o) : work_(io_.get_executor()) {
        o.to_host = "127.0.0.1";
        o.to_port = origin_port;
        relay_.emplace(io_, o);
        relay_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~running_relay() {
        boost::asio::post(io_, [this] { relay_->stop(); });
        work_.reset();
        io_.stop();
        thread_.join();
        relay_.reset();
    }
    std::uint16_t port() const { return relay_->port(); }
    ferry::relay::relay_stats stats() const { return relay_->stats(); }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::optional<relay_server> relay_;
    std::thread thread_;
};

} // namespace ferry::relay::testing
