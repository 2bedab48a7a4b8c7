#pragma once

#include "engine/engine.hpp"
#include "engine/events.hpp"

#include <chrono>
#include <map>
#include <string>

namespace ferry::cli {

struct session_report;

/// What the user sees while ferry runs.
/// - bars: on a terminal (stderr), one line per active file (name, bar, bytes, speed) and a total
///   line, redrawn in place a few times a second; plain lines when TERM=dumb or the terminal is
///   narrow; no colour when NO_COLOR is set.
/// - jsonl: one JSON object per event and per interval on stdout (documented in the README).
/// - quiet: nothing but errors and the final summary.
class progress_display {
public:
    enum class style { bars, jsonl, quiet };

    explicit progress_display(style s);

    void on_event(const event& e);
    bool wants_refresh() const noexcept { return style_ != style::quiet; }
    std::chrono::milliseconds interval() const noexcept;
    void refresh(const engine_stats& stats);
    void interrupted();
    void finish(const session_report& report);

private:
    struct file_line {
        std::uint64_t bytes = 0, total = 0;
        double speed = 0;                       ///< bytes/s, smoothed
        std::uint64_t speed_bytes = 0;
        std::chrono::steady_clock::time_point speed_at{};
    };

    void draw(const engine_stats& stats);
    void clear_drawn();

    style style_;
    bool plain_ = false;   ///< TERM=dumb or narrow: no cursor movement
    bool color_ = true;
    int width_ = 80;
    int drawn_lines_ = 0;
    std::map<std::string, file_line> active_;
    std::uint64_t last_total_bytes_ = 0;
    std::chrono::steady_clock::time_point last_refresh_{};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    double total_speed_ = 0;
};

} // namespace ferry::cli
