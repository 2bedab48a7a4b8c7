#include "tools/download_session.hpp"

#include "tools/progress_display.hpp"
#include "tools/stats_json.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry::cli {

namespace asio = boost::asio;

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
    return text;
}

std::string summary_line(const session_report& r) {
    double seconds = std::max(r.elapsed.count(), 1e-6);
    std::string line = std::to_string(r.done) + (r.done == 1 ? " file" : " files") + " downloaded";
    if (r.skipped)
        line += ", " + std::to_string(r.skipped) + " already complete";
    if (r.failed)
        line += ", " + std::to_string(r.failed) + " failed";
    if (r.cancelled)
        line += ", " + std::to_string(r.cancelled) + " stopped (resumable)";
    char timing[96];
    std::snprintf(timing, sizeof timing, " — %s in %.2f s (%s/s)", human_bytes(double(r.bytes_fetched)).c_str(),
                  seconds, human_bytes(double(r.bytes_fetched) / seconds).c_str());
    line += timing;
    line += ", " + std::to_string(r.stats.pool.opened) + " connections opened, " +
            std::to_string(r.stats.pool.reused) + " reused";
    if (r.store) {
        line += "; cache: " + std::to_string(r.store->hits) + " hits, " + std::to_string(r.store->adopted) +
                " linked from other repos, " + std::to_string(r.store->misses) + " fetched (" +
                human_bytes(double(r.store->bytes_saved())) + " not fetched)";
    }
    return line;
}

session_report run_session(const session_options& options, std::vector<model_spec> models) {
    asio::io_context io(1);
    ferry::engine downloads(io.get_executor(), options.engine);
    session_report report;
    report.store = options.store;
    auto started = std::chrono::steady_clock::now();

    bool terminal = isatty(STDERR_FILENO) == 1;
    progress_mode mode = options.progress;
    if (mode == progress_mode::automatic)
        mode = terminal ? progress_mode::bar : progress_mode::none;
    progress_display display(mode == progress_mode::bar ? progress_display::style::bars
                             : mode == progress_mode::jsonl ? progress_display::style::jsonl
                                                            : progress_display::style::quiet);
    downloads.subscribe([&](const event& e) { display.on_event(e); });

    std::vector<std::string> ids;
    for (auto& model : models) {
        auto added = downloads.add(std::move(model));
        if (!added)
            throw std::invalid_argument(added.error);
        ids.push_back(added.id);
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int) {
        if (ec)
            return;
        if (report.interrupted)
            _exit(130); // second signal: leave now; journals are always consistent
        report.interrupted = true;
        display.interrupted();
        downloads.stop();
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    // Both coroutines live as long as this function: their lambdas must too.
    bool finished = false;
    asio::steady_timer tick(io);
    auto refresh = [&]() -> asio::awaitable<void> {
        while (!finished) {
            auto snapshot = downloads.stats();
            display.refresh(co_await std::move(snapshot));
            tick.expires_after(display.interval());
            co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    };
    auto run = [&]() -> asio::awaitable<void> {
        auto all = downloads.wait_all();
        report.models = co_await std::move(all);
        auto final_stats = downloads.stats();
        report.stats = co_await std::move(final_stats);
        finished = true;
        tick.cancel();
        signals.cancel();
    };
    if (display.wants_refresh())
        asio::co_spawn(io, refresh, asio::detached);
    asio::co_spawn(io, run, asio::detached);
    io.run();
    report.elapsed = std::chrono::steady_clock::now() - started;

    for (auto& model : report.models) {
        for (auto& file : model.files) {
            ++report.files;
            report.bytes_fetched += file.bytes_fetched;
            switch (file.outcome) {
            case file_outcome::done: ++report.done; report.bytes += file.size; break;
            case file_outcome::skipped: ++report.skipped; report.bytes += file.size; break;
            case file_outcome::failed:
                ++report.failed;
                std::cerr << "ferry: " << (file.url.empty() ? file.path.string() : file.url) << ": " << file.message << "\n";
                break;
            case file_outcome::cancelled: ++report.cancelled; break;
            }
        }
    }
    display.finish(report);
    if (!options.stats_file.empty()) {
        std::ofstream out(options.stats_file);
        out << stats_to_json(report) << "\n";
        if (!out)
            std::cerr << "ferry: cannot write " << options.stats_file.string() << "\n";
    }
    return report;
}

} // namespace ferry::cli
