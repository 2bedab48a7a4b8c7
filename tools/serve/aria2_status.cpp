#include "tools/serve/aria2_status.hpp"

#include "engine/file_error.hpp"
#include "net/error.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>

#include <boost/json/value.hpp>

namespace ferry::serve {

namespace json = boost::json;

namespace {

json::string number(std::uint64_t n) { return json::string(std::to_string(n)); }

} // namespace

std::optional<model_stats> find_stats(const std::map<std::string, model_stats>& snapshot, const std::string& gid) {
    auto it = snapshot.find(gid);
    if (it == snapshot.end())
        return std::nullopt;
    return it->second;
}

int aria2_error_code(const boost::system::error_code& ec) noexcept {
    namespace aerr = boost::asio::error;
    if (auto status = http_status_of(ec)) {
        switch (status) {
        case 404:
        case 410: return 3;
        case 401:
        case 403:
        case 407: return 24;
        case 503: return 29;
        default: return 22;
        }
    }
    if (ec.category() == file_category())
        return ec == file_error::digest_mismatch ? 32 : 1;
    if (auto net = net_error_of(ec)) {
        switch (*net) {
        case net_error::too_many_redirects: return 23;
        case net_error::range_ignored: return 8;
        case net_error::bad_content_range:
        case net_error::missing_length:
        case net_error::redirect_without_location: return 22;
        case net_error::connect_timeout:
        case net_error::handshake_timeout:
        case net_error::first_byte_timeout:
        case net_error::stall_timeout: return 2;
        case net_error::proxy_auth_required:
        case net_error::socks_auth_failed: return 24;
        case net_error::body_too_short:
        case net_error::circuit_open: return 6;
        default: return *net >= net_error::unsupported_proxy_scheme ? 6 : 1;
        }
    }
    if (ec == aerr::host_not_found || ec == aerr::host_not_found_try_again)
        return 19;
    if (ec == aerr::timed_out)
        return 2;
    if (ec == aerr::connection_refused || ec == aerr::connection_reset || ec == aerr::connection_aborted ||
        ec == aerr::network_unreachable || ec == aerr::host_unreachable || ec == aerr::eof ||
        ec == aerr::broken_pipe)
        return 6;
    if (ec == boost::system::errc::no_space_on_device)
        return 9;
    return 1;
}

std::string piece_bitfield(std::uint64_t done, std::uint64_t total, std::uint64_t piece) {
    std::uint64_t pieces = (total + piece - 1) / piece;
    // A complete download has every piece, however the last one is sized.
    std::uint64_t have = done >= total ? pieces : done / piece;
    std::string hex((pieces + 7) / 8 * 2, '0');
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t nibble = 0; nibble < hex.size(); ++nibble) {
        unsigned bits = 0;
        for (unsigned b = 0; b < 4; ++b)
            if (nibble * 4 + b < have)
                bits |= 8u >> b;
        hex[nibble] = digits[bits];
    }
    return hex;
}

const char* aria2_status_name(model_state state) noexcept {
    switch (state) {
    case model_state::waiting: return "waiting";
    case model_state::active: return "active";
    case model_state::paused: return "paused";
    case model_state::complete: return "complete";
    case model_state::error: return "error";
    case model_state::removed: break;
    }
    return "removed";
}

bool is_stopped(model_state state) noexcept {
    return state == model_state::complete || state == model_state::error || state == model_state::removed;
}

json::array uris_array(const aria2_download& download, const std::optional<model_stats>& stats) {
    // aria2 marks a URI "used" once a connection was made from it.
    bool used = download.started || (stats && stats->state != model_state::waiting && stats->state != model_state::paused);
    json::array uris;
    for (auto& u : download.uris)
        uris.push_back(json::object{{"status", used ? "used" : "waiting"}, {"uri", u}});
    return uris;
}

json::array files_array(const aria2_download& download, const std::optional<model_stats>& stats) {
    std::uint64_t done = stats ? stats->bytes_done : 0, total = stats ? stats->bytes_total : 0;
    json::object file{
        {"completedLength", number(done)},
        {"index", "1"},
        {"length", number(total)},
        {"path", (download.dir / download.out).string()},
        {"selected", "true"},
        {"uris", uris_array(download, stats)},
    };
    return json::array{std::move(file)};
}

json::object status_object(const aria2_download& download, const std::optional<model_stats>& stats,
                           const std::vector<std::string>& keys) {
    model_state state = stats ? stats->state : download.final_state.value_or(model_state::removed);
    std::uint64_t done = stats ? stats->bytes_done : 0, total = stats ? stats->bytes_total : 0;
    constexpr std::uint64_t piece = 1024 * 1024;
    // Only a running download has a speed and connections (as aria2c says "0" for a finished one).
    const bool active = stats && state == model_state::active;
    const bool ended = state == model_state::error || state == model_state::complete || state == model_state::removed;
    auto wanted = [&](std::string_view key) {
        return keys.empty() || std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    // Only what the filter asks for is made (a status poll asks for a few keys; the bitfield of a
    // large file alone is kilobytes), in name order, as aria2 lists them.
    json::object out;
    if (total && wanted("bitfield"))
        out["bitfield"] = piece_bitfield(done, total, piece);
    if (wanted("completedLength"))
        out["completedLength"] = number(done);
    if (wanted("connections"))
        out["connections"] = number(active ? stats->files_running : 0);
    if (wanted("dir"))
        out["dir"] = download.dir.string();
    if (wanted("downloadSpeed"))
        out["downloadSpeed"] = number(active ? static_cast<std::uint64_t>(stats->speed) : 0);
    if (ended && wanted("errorCode"))
        out["errorCode"] = state == model_state::error ? std::to_string(download.error_code) : "0";
    if (ended && wanted("errorMessage"))
        out["errorMessage"] = state != model_state::error       ? ""
                              : download.error_message.empty() ? "download failed"
                                                               : download.error_message;
    if (wanted("files"))
        out["files"] = files_array(download, stats);
    if (wanted("gid"))
        out["gid"] = download.gid;
    if (wanted("numPieces"))
        out["numPieces"] = number(total ? (total + piece - 1) / piece : 0);
    if (wanted("pieceLength"))
        out["pieceLength"] = number(piece);
    if (wanted("status"))
        out["status"] = aria2_status_name(state);
    if (wanted("totalLength"))
        out["totalLength"] = number(total);
    if (wanted("uploadLength"))
        out["uploadLength"] = "0";
    if (wanted("uploadSpeed"))
        out["uploadSpeed"] = "0";
    return out;
}

std::vector<std::size_t> aria2_window(std::size_t count, std::int64_t offset, std::int64_t num) {
    std::vector<std::size_t> picked;
    if (num <= 0 || count == 0)
        return picked;
    auto n = static_cast<std::int64_t>(count);
    if (offset >= 0) {
        for (std::int64_t i = offset; i < n && i < offset + num; ++i)
            picked.push_back(static_cast<std::size_t>(i));
    } else {
        for (std::int64_t i = n + offset; i >= 0 && i > n + offset - num; --i)
            if (i < n)
                picked.push_back(static_cast<std::size_t>(i));
    }
    return picked;
}

} // namespace ferry::serve
