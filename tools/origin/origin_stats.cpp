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
    ++statuses_[record.status];
    faulted_ += record.faulted ? 1 : 0;
    if (log_.size() < log_limit)
        log_.push_back(std::move(record));
}

void stats_recorder::signed_request(bool accepted, bool expired) {
    auto& counter = accepted ? signed_accepted_ : expired ? signed_expired_ : signed_forged_;
    counter.fetch_add(1, std::memory_order_relaxed);
}

origin_stats stats_recorder::snapshot(bool with_log) const {
    origin_stats s;
    {
        std::lock_guard lock(log_mutex_);
        s.requests = requests_.load(std::memory_order_relaxed);
        s.statuses = statuses_;
        s.faulted = faulted_;
        if (with_log)
            s.log = log_;
    }
    s.signed_redirects = signed_redirects_.load(std::memory_order_relaxed);
    s.signed_accepted = signed_accepted_.load(std::memory_order_relaxed);
    s.signed_expired = signed_expired_.load(std::memory_order_relaxed);
    s.signed_forged = signed_forged_.load(std::memory_order_relaxed);
    s.requests_sent_ahead = sent_ahead_.load(std::memory_order_relaxed);
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
    statuses_.clear();
    faulted_ = 0;
    signed_redirects_ = 0;
    signed_accepted_ = 0;
    signed_expired_ = 0;
    signed_forged_ = 0;
    sent_ahead_ = 0;
    requests_ = 0;
    accepted_ = 0;
    handshakes_ = 0;
    resumed_ = 0;
    handshake_failures_ = 0;
    body_bytes_ = 0;
    peak_ = open_.load();
}

std::string stats_json(const origin_stats& s) {
    std::string out = "{";
    auto number = [&out](std::string_view name, std::uint64_t value) {
        out += '"';
        out += name;
        out += "\":";
        out += std::to_string(value);
        out += ',';
    };
    number("requests", s.requests);
    number("body_bytes_sent", s.body_bytes_sent);
    number("connections_accepted", s.connections_accepted);
    number("connections_open", s.connections_open);
    number("peak_connections_open", s.peak_connections_open);
    number("tls_handshakes", s.tls_handshakes);
    number("tls_resumed", s.tls_resumed);
    number("tls_handshake_failures", s.tls_handshake_failures);
    number("faulted", s.faulted);
    number("signed_redirects", s.signed_redirects);
    number("signed_accepted", s.signed_accepted);
    number("signed_expired", s.signed_expired);
    number("signed_forged", s.signed_forged);
    number("requests_sent_ahead", s.requests_sent_ahead);
    out += "\"statuses\":{";
    bool first = true;
    for (auto [status, count] : s.statuses) {
        out += first ? "\"" : ",\"";
        out += std::to_string(status) + "\":" + std::to_string(count);
        first = false;
    }
    out += "}}";
    return out;
}

} // namespace ferry::origin
