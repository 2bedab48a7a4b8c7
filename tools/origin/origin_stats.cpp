#include "tools/origin/origin_stats.hpp"

namespace ferry::origin {

std::uint64_t stats_recorder::connection_opened() {
    accepted_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint64_t peak = peak_.load(std::memory_order_relaxed);
    while (open > peak && !peak_.compare_exchange_weak(peak, open, std::memory_order_relaxed)) {
    }
    return next_connection_.fetch_add(1, std::memory_order_relaxed);
}

void stats_recorder::connection_closed() { open_.fetch_sub(1, std::memory_order_relaxed); }

void stats_recorder::handshake_done(bool resumed) {
    handshakes_.fetch_add(1, std::memory_order_relaxed);
    if (resumed)
        resumed_.fetch_add(1, std::memory_order_relaxed);
}

void stats_recorder::handshake_failed() { handshake_failures_.fetch_add(1, std::memory_order_relaxed); }

void stats_recorder::request(request_record record) {
    std::lock_guard lock(log_mutex_);
    // Counted under the lock, so sequence numbers and the count agree.
    record.sequence = requests_.fetch_add(1, std::memory_order_relaxed);
    if (log_.size() < log_limit)
        log_.push_back(std::move(record));
}

origin_stats stats_recorder::snapshot() const {
    origin_stats s;
    {
        std::lock_guard lock(log_mutex_);
        s.requests = requests_.load(std::memory_order_relaxed);
        s.log = log_;
    }
    s.connections_accepted = accepted_.load(std::memory_order_relaxed);
    s.tls_handshakes = handshakes_.load(std::memory_order_relaxed);
    s.tls_resumed = resumed_.load(std::memory_order_relaxed);
    s.tls_handshake_failures = handshake_failures_.load(std::memory_order_relaxed);
    s.body_bytes_sent = body_bytes_.load(std::memory_order_relaxed);
    s.connections_open = open_.load(std::memory_order_relaxed);
    s.peak_connections_open = peak_.load(std::memory_order_relaxed);
    return s;
}

void stats_recorder::reset() {
    std::lock_guard lock(log_mutex_);
    log_.clear();
    requests_ = 0;
    accepted_ = 0;
    handshakes_ = 0;
    resumed_ = 0;
    handshake_failures_ = 0;
    body_bytes_ = 0;
    peak_ = open_.load();
}

} // namespace ferry::origin
