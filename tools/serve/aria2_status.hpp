#pragma once

// aria2's view of a download (tellStatus, getFiles, getUris) built from the engine's model_stats.
// aria2 writes every number as a decimal string; so does this.

#include "engine/engine.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/system/error_code.hpp>

namespace ferry::serve {

/// What the daemon remembers of one aria2 download (the engine holds the rest).
struct aria2_download {
    std::string gid;
    std::vector<std::string> uris;
    std::filesystem::path dir;     ///< absolute
    std::string out;               ///< file name within dir
    bool out_given = false;        ///< `out` came from the client (else from the URI)
    std::uint64_t limit_rate = 0;  ///< max-download-limit, bytes/s
    std::string error_message;     ///< why it failed (from the engine's events)
    int error_code = 1;            ///< aria2's errorCode for that failure (aria2_error_code)
    std::vector<std::string> header_lines; ///< its own `header` option, as given
    std::string checksum;          ///< its `checksum` option, as given (empty: none)
    bool started = false;          ///< a file of it has started since it was added or last paused
    bool ever_started = false;     ///< a file of it has started at some time
    /// Paused by a client (pause, pauseAll, addUri with pause): a start the engine reports now is
    /// one the pause already stopped, not news.
    bool held = false;
    std::uint64_t stopped_order = 0; ///< when it stopped (complete, error, removed): 1, 2, ...; 0 running
    /// How it ended, for when the engine has forgotten the model (complete, error or removed).
    std::optional<model_state> final_state;
};

/// aria2's errorCode (its exit status numbers) for why a download failed: 2 timeout, 3 not found,
/// 6 network problem, 8 no resume, 9 disk full, 19 name resolution, 22 unexpected response, 23 too
/// many redirects, 24 authorization, 29 server overloaded (503), 32 checksum; 1 for anything else.
int aria2_error_code(const boost::system::error_code& ec) noexcept;

/// The engine's numbers of `gid` in a snapshot, if it has them.
std::optional<model_stats> find_stats(const std::map<std::string, model_stats>& snapshot, const std::string& gid);

/// aria2's status names: active, waiting, paused, error, complete, removed.
const char* aria2_status_name(model_state state) noexcept;
/// True for the states tellStopped lists.
bool is_stopped(model_state state) noexcept;

/// The tellStatus object of `download`, whose engine numbers are `stats` (nullopt: the engine no
/// longer knows it; it is then reported in its final_state, or as removed). `keys` empty: every key; otherwise only
/// those (unknown ones are left out, as aria2 does).
boost::json::object status_object(const aria2_download& download, const std::optional<model_stats>& stats,
                                  const std::vector<std::string>& keys = {});
/// getFiles: one entry (ferry downloads one file per GID).
boost::json::array files_array(const aria2_download& download, const std::optional<model_stats>& stats);
/// getUris.
boost::json::array uris_array(const aria2_download& download, const std::optional<model_stats>& stats);

/// aria2's `bitfield`: one bit per piece of `piece` bytes (high bit first, hex, padded to whole
/// bytes). ferry keeps byte ranges, not pieces: the first done / piece pieces are marked, an
/// approximation mid-download and exact at the start and at the end.
std::string piece_bitfield(std::uint64_t done, std::uint64_t total, std::uint64_t piece);

/// Items [offset, offset + num) of `count` items, as aria2's tellWaiting/tellStopped pick them: a
/// negative offset counts from the end (-1 the last) and the items then go backwards.
std::vector<std::size_t> aria2_window(std::size_t count, std::int64_t offset, std::int64_t num);

} // namespace ferry::serve
