#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace ferry {

/// One direction of an emulated wide-area path, as arithmetic: when each chunk read from the
/// sender may be delivered, and how many bytes may be read now. No I/O, not thread-safe;
/// tools/relay (`ferry-relay`) drives one per direction of each connection.
///
/// - Delay: a chunk read at `now` is delivered `delay` later (one way, half the round trip),
///   later still when the rate holds it back; deliveries keep the order of reads.
/// - Rate (bytes/s, 0 = unlimited): chunks leave one after another, each taking size/rate, as
///   through a bottleneck link; the delay counts from the end of that.
/// - Window (bytes, 0 = unbounded): at most this many bytes are in flight, from the read until
///   the sender would see them acknowledged: one delay after their delivery. So one connection
///   moves at most window / round trip, as TCP does on a real path.
/// - Start: nothing leaves before `start` (the relay passes accept time + one round trip, the
///   TCP handshake a real path costs before the first byte).
class delay_line {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using duration = clock::duration;

    struct settings {
        duration delay{};           ///< one way
        std::uint64_t window = 0;   ///< bytes in flight; 0 = unbounded
        std::uint64_t rate = 0;     ///< bytes per second; 0 = unlimited
    };

    explicit delay_line(settings s, time_point start = time_point::min()) noexcept;

    /// Bytes that may be read now: the window less the bytes in flight (bytes acknowledged by
    /// `now` are forgotten first). The largest uint64 when the window is unbounded.
    std::uint64_t room(time_point now);
    /// Records `n` bytes read at `now` (n may exceed room(): the window is then overdrawn until
    /// acknowledgements catch up). Returns when they may be delivered: never earlier than a chunk
    /// sent before.
    time_point send(std::uint64_t n, time_point now);
    /// The oldest chunk not yet delivered was delivered at `now` (which may be after its release
    /// time when the receiver was slow): it is acknowledged one delay later. No-op when every
    /// chunk was delivered.
    void delivered(time_point now);

    /// When room() next grows: the earliest acknowledgement still to come. nullopt when none is
    /// scheduled (nothing delivered is waiting for its acknowledgement).
    std::optional<time_point> next_room() const noexcept;

    std::uint64_t in_flight() const noexcept { return in_flight_; }
    /// Chunks sent and not yet delivered.
    std::size_t undelivered() const noexcept { return undelivered_.size(); }
    const settings& config() const noexcept { return settings_; }

private:
    struct pending {
        std::uint64_t bytes;
        time_point release;
    };
    struct acking {
        std::uint64_t bytes;
        time_point ack;
    };

    settings settings_;
    time_point busy_until_;      ///< when the link is free for the next chunk
    time_point last_release_;
    std::uint64_t in_flight_ = 0;
    std::deque<pending> undelivered_;
    std::deque<acking> acking_;  ///< delivered, acknowledgement times in order
};

} // namespace ferry
