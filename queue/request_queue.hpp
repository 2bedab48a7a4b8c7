#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace ferry {

/// How urgent a call to the daemon is; the application says which (from the method it names).
/// Waiting control calls are served before waiting status calls.
enum class request_class : std::uint8_t {
    control, ///< changes something: add, pause, remove, change an option
    status,  ///< only reads: status polls, statistics
};

/// The daemon's admission of calls: at most `running` at once; up to `waiting` more wait, control
/// calls first, each class first come first served; beyond that a call is refused at once (the
/// server answers 503 with Retry-After), so the memory held by waiting calls stays bounded.
///
/// When the waiting room is full, a control call still gets in if status calls wait: the newest
/// waiting status call is evicted (refused) to make room. A flood of polls never locks out a pause.
///
/// No I/O, no clock, not thread-safe. Calls are named by tickets, numbered from 1 in arrival order.
class request_queue {
public:
    struct limits {
        std::size_t running = 64;  ///< calls served at once (at least 1)
        std::size_t waiting = 1024; ///< calls waiting for a turn (0: refuse whenever all run)
    };

    using ticket = std::uint64_t;

    enum class verdict {
        run,    ///< start now; call finished() when done
        wait,   ///< wait until finished() or arrived() names this ticket as started
        refuse, ///< over the bounds: answer 503 at once
    };

    struct admission {
        verdict what = verdict::refuse;
        ticket id = 0;
        /// A waiting status call refused to make room for this control call; it must be answered
        /// 503 now.
        std::optional<ticket> evicted;
    };

    request_queue();
    explicit request_queue(limits l);

    /// A call arrives.
    admission arrive(request_class what);
    /// A running call finished; returns the waiting call that starts in its place, if any (it
    /// counts as running from now on).
    std::optional<ticket> finished();
    /// A waiting call gives up (its client went away, or it waited too long). False when the
    /// ticket is not waiting (it already started, or was evicted): then nothing changed.
    bool abandon(ticket id);

    std::size_t running() const noexcept { return running_; }
    std::size_t waiting() const noexcept { return control_.size() + status_.size(); }
    std::size_t waiting(request_class what) const noexcept {
        return what == request_class::control ? control_.size() : status_.size();
    }
    /// Calls refused since construction (evicted ones included).
    std::uint64_t refused() const noexcept { return refused_; }
    const limits& bounds() const noexcept { return limits_; }

private:
    limits limits_;
    std::size_t running_ = 0;
    ticket next_ = 1;
    std::uint64_t refused_ = 0;
    std::deque<ticket> control_;
    std::deque<ticket> status_;
};

} // namespace ferry
