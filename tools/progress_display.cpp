#include "tools/progress_display.hpp"

#include "tools/download_session.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <boost/json.hpp>

namespace ferry::cli {

namespace {

std::string rate_text(double bytes_per_second) { return human_bytes(bytes_per_second) + "/s"; }

std::string duration_text(double seconds) {
    if (!(seconds >= 0) || seconds > 360000)
        return "--:--";
    auto s = static_cast<long>(seconds);
    char text[32];
    if (s >= 3600)
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
    return text;
}

std::string bar(double fraction, int width) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    int full = static_cast<int>(fraction * width);
    std::string out;
    for (int i = 0; i < width; ++i)
        out += i < full ? "█" : "░";
    return out;
}

std::string shorten(const std::string& name, std::size_t width) {
    if (name.size() <= width)
        return name + std::string(width - name.size(), ' ');
    return "…" + name.substr(name.size() - (width - 1));
}

} // namespace

progress_display::progress_display(style s) : style_(s) {
    const char* term = std::getenv("TERM");
    plain_ = term && std::strcmp(term, "dumb") == 0;
    color_ = !std::getenv("NO_COLOR") && !plain_;
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        width_ = ws.ws_col;
    if (width_ < 60)
        plain_ = true;
}

std::chrono::milliseconds progress_display::interval() const noexcept {
    if (style_ == style::jsonl)
        return std::chrono::milliseconds(1000);
    return plain_ ? std::chrono::milliseconds(2000) : std::chrono::milliseconds(200);
}

void progress_display::on_event(const event& e) {
    if (style_ == style::quiet)
        return; // nothing drawn: no line kept per file (ten thousand of them)
    auto key = e.model + "/" + e.file;
    if (style_ == style::jsonl) {
        boost::json::object o;
        o["type"] = "event";
        o["event"] = to_string(e.what);
        o["model"] = e.model;
        o["file"] = e.file;
        o["bytes"] = e.bytes;
        o["total"] = e.total;
        if (!e.message.empty())
            o["message"] = e.message;
        std::cout << boost::json::serialize(o) << "\n" << std::flush;
        return;
    }
    auto now = std::chrono::steady_clock::now();
    switch (e.what) {
    case event::kind::started:
        active_[key] = file_line{0, e.total, 0, 0, now};
        break;
    case event::kind::progress: {
        auto& line = active_[key];
        double dt = std::chrono::duration<double>(now - line.speed_at).count();
        if (dt >= 0.2) {
            double instant = double(e.bytes - std::min(e.bytes, line.speed_bytes)) / dt;
            line.speed = line.speed == 0 ? instant : 0.7 * line.speed + 0.3 * instant;
            line.speed_bytes = e.bytes;
            line.speed_at = now;
        }
        line.bytes = e.bytes;
        line.total = e.total;
        break;
    }
    case event::kind::retried:
        if (style_ == style::bars && plain_)
            std::cerr << "retrying " << key << ": " << e.message << "\n";
        break;
    case event::kind::completed:
    case event::kind::skipped:
    case event::kind::failed:
    case event::kind::cancelled:
        active_.erase(key);
        if (style_ == style::bars && plain_ && e.what == event::kind::completed)
            std::cerr << "done " << key << " (" << human_bytes(double(e.total)) << ")\n";
        break;
    default:
        break;
    }
}

void progress_display::refresh(const engine_stats& stats) {
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last_refresh_).count();
    if (last_refresh_ != std::chrono::steady_clock::time_point{} && dt > 0) {
        double instant = double(stats.bytes_fetched - std::min(stats.bytes_fetched, last_total_bytes_)) / dt;
        total_speed_ = total_speed_ == 0 ? instant : 0.6 * total_speed_ + 0.4 * instant;
    }
    last_refresh_ = now;
    last_total_bytes_ = stats.bytes_fetched;

    if (style_ == style::jsonl) {
        boost::json::object o;
        o["type"] = "progress";
        std::uint64_t done = 0, total = 0;
        std::size_t files_done = 0, files_total = 0;
        for (auto& m : stats.models) {
            done += m.bytes_done;
            total += m.bytes_total;
            files_done += m.files_done;
            files_total += m.files_total;
        }
        o["bytes"] = done;
        o["total"] = total;
        o["files_done"] = files_done;
        o["files_total"] = files_total;
        o["speed"] = static_cast<std::uint64_t>(total_speed_);
        o["active"] = stats.files_running;
        o["connections"] = stats.connections_active;
        std::cout << boost::json::serialize(o) << "\n" << std::flush;
        return;
    }
    draw(stats);
}

void progress_display::clear_drawn() {
    if (drawn_lines_ > 0) {
        std::cerr << "\x1b[" << drawn_lines_ << "F\x1b[J";
        drawn_lines_ = 0;
    }
}

void progress_display::draw(const engine_stats& stats) {
    std::uint64_t done = 0, total = 0;
    std::size_t files_done = 0, files_total = 0;
    for (auto& m : stats.models) {
        done += m.bytes_done;
        total += m.bytes_total;
        files_done += m.files_done;
        files_total += m.files_total;
    }
    double eta = total_speed_ > 0 && total > done ? double(total - done) / total_speed_ : -1;
    char totals[256];
    std::snprintf(totals, sizeof totals, "%zu model%s, %zu/%zu files, %s of %s, %s, ETA %s",
                  stats.models.size(), stats.models.size() == 1 ? "" : "s", files_done, files_total,
                  human_bytes(double(done)).c_str(), human_bytes(double(total)).c_str(),
                  rate_text(total_speed_).c_str(), duration_text(eta).c_str());

    if (plain_) {
        std::cerr << totals << "\n";
        return;
    }
    std::string frame;
    int lines = 0;
    const int max_lines = 12;
    int name_width = std::clamp(width_ - 62, 12, 48);
    for (auto& [name, line] : active_) {
        if (lines == max_lines)
            break;
        double fraction = line.total ? double(line.bytes) / double(line.total) : 0;
        char text[160];
        std::snprintf(text, sizeof text, " %5.1f%% %10s / %-10s %12s", fraction * 100,
                      human_bytes(double(line.bytes)).c_str(), human_bytes(double(line.total)).c_str(),
                      rate_text(line.speed).c_str());
        frame += shorten(name, static_cast<std::size_t>(name_width)) + " " + (color_ ? "\x1b[36m" : "") +
                 bar(fraction, 20) + (color_ ? "\x1b[0m" : "") + text + "\x1b[K\n";
        ++lines;
    }
    if (active_.size() > static_cast<std::size_t>(max_lines)) {
        frame += "  … and " + std::to_string(active_.size() - max_lines) + " more\x1b[K\n";
        ++lines;
    }
    frame += std::string(color_ ? "\x1b[1m" : "") + totals + (color_ ? "\x1b[0m" : "") + "\x1b[K\n";
    ++lines;
    // Move back over the previous frame and overwrite it in one write: no flicker.
    std::string out = drawn_lines_ > 0 ? "\x1b[" + std::to_string(drawn_lines_) + "F" : "";
    out += frame;
    if (lines < drawn_lines_)
        out += "\x1b[J";
    std::cerr << out << std::flush;
    drawn_lines_ = lines;
}

void progress_display::interrupted() {
    if (style_ == style::jsonl) {
        std::cout << R"({"type":"interrupted"})" << "\n" << std::flush;
        return;
    }
    if (style_ == style::bars)
        clear_drawn();
    std::cerr << "ferry: stopping (press Ctrl-C again to quit at once; partial files stay resumable)\n";
}

void progress_display::finish(const session_report& report) {
    if (style_ == style::bars && !plain_)
        clear_drawn();
    if (style_ == style::jsonl) {
        boost::json::object o;
        o["type"] = "summary";
        o["files"] = report.files;
        o["done"] = report.done;
        o["skipped"] = report.skipped;
        o["failed"] = report.failed;
        o["cancelled"] = report.cancelled;
        o["bytes"] = report.bytes;
        o["bytes_fetched"] = report.bytes_fetched;
        o["seconds"] = report.elapsed.count();
        o["interrupted"] = report.interrupted;
        std::cout << boost::json::serialize(o) << "\n" << std::flush;
        return;
    }
    std::cerr << "ferry: " << summary_line(report) << "\n";
    if (report.interrupted && report.cancelled)
        std::cerr << "ferry: run the same command again to resume\n";
}

} // namespace ferry::cli
