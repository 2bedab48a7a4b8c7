#pragma once

#include "engine/config.hpp"
#include "engine/events.hpp"
#include "memory/buffer_pool.hpp"
#include "net/connection_pool.hpp"
#include "perf/delay_based_rate.hpp"
#include "perf/rate_limiter.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ferry {

class connection_handoff;

/// What every file transfer of one engine shares. Lives on the engine's strand.
struct transfer_context {
    boost::asio::any_io_executor executor; ///< the engine's strand
    const engine_config& config;
    connection_pool& pool;
    buffer_pool& buffers;
    rate_limiter& overall_rate;
    std::function<void(const event&)> emit; ///< progress events, called on the strand
    /// Where slow file work runs (run_blocking); null: on the strand.
    boost::asio::any_io_executor blocking;
    /// Where body bytes are written and hashed (each file through a strand of its own); null: on
    /// the strand.
    boost::asio::any_io_executor writes;
    /// Set when the engine yields to other traffic (engine_config::yield_delay_target): takes the
    /// connections' round-trip times.
    delay_based_rate* pacing = nullptr;
    /// Files whose transfer runs now (their share of a host's connections).
    std::size_t files_running = 0;
    /// Starts the next queued file early when it is `origin`'s: a running file's last response
    /// is arriving on a connection to `origin`, and the new file's first request can go ahead on
    /// it (connection_handoff). Null when no file is to start so. May be empty.
    std::function<std::shared_ptr<connection_handoff>(const std::string& origin)> successor;
    /// Opens up to `count` connections to `where`'s origin ahead of need: they wait idle in the
    /// pool for the requests to come (connection_pool::warm). May be empty.
    std::function<void(const url& where, std::size_t count)> warm;
};

} // namespace ferry
