// aria2_service's session: the file --save-session names (aria2's format), written again at
// every change by one coalescing writer on a thread of its own, read back at start;
// getSessionInfo and saveSession.
#include "engine/blocking_work.hpp"
#include "tools/serve/aria2_service.hpp"
#include "tools/serve/aria2_session.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry::serve {

namespace asio = boost::asio;
namespace json = boost::json;

aria2_service::result aria2_service::get_session_info(params) {
    co_return rpc_result{json::object{{"sessionId", session_id_}}, std::nullopt};
}

aria2_service::result aria2_service::save_session(params) {
    if (config_.session_file.empty())
        co_return rpc_result::fail("Filename is not given.");
    auto error = co_await persist();
    if (!error.empty())
        co_return rpc_result::fail("Failed to serialize session: " + error);
    co_return rpc_result{json::string("OK"), std::nullopt};
}

asio::awaitable<std::string> aria2_service::session_text() {
    auto held = co_await stats();
    auto& s = held->models;
    // Queue order first (active, waiting, paused by position), then failed ones by when they failed.
    std::vector<std::pair<std::pair<bool, std::uint64_t>, const aria2_download*>> saved;
    for (auto& [gid, d] : downloads_) {
        auto st = find_stats(s, gid);
        auto state = d.stopped_order ? d.final_state.value_or(model_state::removed)
                                     : st ? st->state : model_state::removed;
        if (state == model_state::error)
            saved.push_back({{true, d.stopped_order}, &d});
        else if (!is_stopped(state))
            saved.push_back({{false, st && st->position ? *st->position : 0}, &d});
    }
    std::stable_sort(saved.begin(), saved.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<session_entry> entries;
    for (auto& [order, d] : saved) {
        session_entry e;
        e.uris = d->uris;
        e.options.emplace_back("gid", d->gid);
        if (d->held && !order.first)
            e.options.emplace_back("pause", "true");
        e.options.emplace_back("dir", d->dir.string());
        e.options.emplace_back("out", d->out);
        if (d->limit_rate)
            e.options.emplace_back("max-download-limit", std::to_string(d->limit_rate));
        if (!d->checksum.empty())
            e.options.emplace_back("checksum", d->checksum);
        for (auto& h : d->header_lines)
            e.options.emplace_back("header", h);
        entries.push_back(std::move(e));
    }
    co_return write_session(entries);
}

asio::awaitable<std::string> aria2_service::persist() {
    if (config_.session_file.empty())
        co_return std::string();
    const auto wanted = ++session_wanted_;
    while (session_saved_ < wanted) {
        if (session_writing_) {
            // The text being written may predate this call: wait for it, then write again.
            co_await session_written_.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        session_writing_ = true;
        const auto generation = session_wanted_;
        auto text = co_await session_text();
        auto write = [file = config_.session_file, text = std::move(text)] { return replace_file_durably(file, text); };
        session_error_ = co_await run_blocking(session_thread_.get_executor(), std::move(write));
        session_writing_ = false;
        session_saved_ = generation;
        session_written_.cancel();
    }
    // The outcome of the write that covered this call, whichever call made it.
    co_return session_error_;
}

void aria2_service::persist_later() {
    if (config_.session_file.empty())
        return;
    std::weak_ptr<bool> alive = alive_;
    asio::co_spawn(
        executor_,
        [this, alive]() -> asio::awaitable<void> {
            if (!alive.lock())
                co_return;
            if (auto error = co_await persist(); !error.empty())
                std::fprintf(stderr, "ferry serve: cannot save the session: %s\n", error.c_str());
        },
        asio::detached);
}

asio::awaitable<std::string> aria2_service::restore_session() {
    if (config_.session_file.empty())
        co_return std::string();
    std::ifstream in(config_.session_file, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(config_.session_file, ec))
            co_return std::string(); // a first start: the file comes with the first download
        co_return "cannot read " + config_.session_file.string();
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = parse_session(text);
    if (!parsed)
        co_return config_.session_file.string() + ": " + parsed.error;
    for (std::size_t i = 0; i < parsed.entries.size(); ++i) {
        auto& entry = parsed.entries[i];
        auto where = config_.session_file.string() + ": download " + std::to_string(i + 1);
        if (entry.uris.empty())
            co_return where + " has no URI";
        json::array uris;
        for (auto& u : entry.uris)
            uris.push_back(json::string(u));
        json::object options;
        json::array headers;
        for (auto& [key, value] : entry.options) {
            if (key == "header")
                headers.push_back(json::string(value));
            else if (key != "gid")
                options[key] = value;
        }
        if (!headers.empty())
            options["header"] = std::move(headers);
        auto adding = add(params{std::move(uris), std::move(options)}, entry.option("gid").value_or(""));
        auto added = co_await std::move(adding);
        if (added.error)
            co_return where + ": " + added.error->message;
    }
    co_return std::string();
}

} // namespace ferry::serve
