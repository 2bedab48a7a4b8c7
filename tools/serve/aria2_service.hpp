#pragma once

// aria2's JSON-RPC methods, translated onto the engine's public API: one aria2 download (GID) is
// one engine model of one file, named by its GID.

#include "engine/engine.hpp"
#include "tools/serve/aria2_gid.hpp"
#include "tools/serve/aria2_status.hpp"
#include "tools/serve/rpc_dispatch.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

namespace ferry::serve {

struct aria2_service_config {
    std::filesystem::path base_dir;      ///< every download lands beneath it (absolute, canonical)
    std::uint16_t port = 6800;           ///< reported by getGlobalOption
    bool listen_all = false, allow_origin_all = false;
    /// Stopped downloads kept for tellStopped/tellStatus (aria2's max-download-result); the oldest
    /// go first. The engine must keep at least as many finished models.
    std::size_t max_download_result = 1000;
    /// Headers every download sends (from the command line), before its own.
    std::vector<std::pair<std::string, std::string>> headers;
    /// --save-session: the unfinished downloads (and failed ones, as aria2 keeps them), rewritten
    /// whenever they change, in aria2's session format. Empty: none.
    std::filesystem::path session_file;
    /// Connections per file and per host, as getOption reports them.
    std::size_t split = 16, max_connection_per_server = 16;
};

/// The aria2 methods and notifications. Its state lives on `executor` (the daemon's io_context);
/// engine events are carried there. Not thread-safe.
class aria2_service {
public:
    /// `notify` sends a notification text to every WebSocket; `shutdown` stops the daemon.
    aria2_service(boost::asio::any_io_executor executor, ferry::engine& engine, aria2_service_config config,
                  std::function<void(std::string)> notify, std::function<void()> shutdown);
    ~aria2_service();
    aria2_service(const aria2_service&) = delete;
    aria2_service& operator=(const aria2_service&) = delete;

    /// Adds every aria2.* and system.list* method to `rpc`.
    void register_methods(rpc_dispatch& rpc);

    /// Adds the downloads of the session file (when there is one and it exists) with their GIDs,
    /// options, queue order and pause state. Empty on success, else one line naming what is wrong;
    /// the file is then left as it is.
    boost::asio::awaitable<std::string> restore_session();

    /// Writes the session file anew and returns once a text written after this call began is on
    /// disk (writes coalesce: one at a time, on a thread of their own). Empty, or why it failed.
    boost::asio::awaitable<std::string> persist();

    /// The notification names (system.listNotifications).
    static std::vector<std::string> notification_names();

private:
    using params = boost::json::array;
    using result = boost::asio::awaitable<rpc_result>;
    using model_map = std::map<std::string, model_stats>;
    /// The engine's numbers, shared by the status calls of a moment (see stats()).
    struct snapshot {
        model_map models;
        double speed = 0;
        std::uint64_t limit_rate = 0; ///< the engine's overall limit
        std::size_t max_files = 0;    ///< the engine's files in flight at most
        std::chrono::steady_clock::time_point taken;
        std::uint64_t generation = 0; ///< changes_ when it was asked for
    };
    using snapshot_ptr = std::shared_ptr<const snapshot>;

    result add_uri(params p);
    /// addUri's work; `gid` empty: a new one, else the GID a restored download had.
    result add(params p, std::string gid);
    result remove(params p);
    result pause(params p);
    result pause_all(params p);
    result unpause(params p);
    result unpause_all(params p);
    using reader = rpc_result (aria2_service::*)(params&, const snapshot&);
    // Status calls: what they answer from one snapshot of the engine.
    rpc_result tell_status(params& p, const snapshot& now);
    rpc_result get_files(params& p, const snapshot& now);
    rpc_result get_uris(params& p, const snapshot& now);
    rpc_result tell_active(params& p, const snapshot& now);
    rpc_result tell_waiting(params& p, const snapshot& now);
    rpc_result tell_stopped(params& p, const snapshot& now);
    rpc_result get_global_stat(params& p, const snapshot& now);
    rpc_result get_global_option(params& p, const snapshot& now);
    rpc_result get_option(params& p, const snapshot& now);
    rpc_result get_servers(params& p, const snapshot& now);
    result change_position(params p);
    result change_global_option(params p);
    result get_version(params p);
    result purge_download_result(params p);
    result remove_download_result(params p);
    result shutdown(params p);
    result change_option(params p);
    result get_session_info(params p);
    result save_session(params p);

    /// Runs `action` on the download that the GID parameter (index 0) names, with its engine numbers
    /// (nullopt when the engine forgot it), or answers the lookup's error. on_download takes a
    /// snapshot first.
    using download_action = std::function<rpc_result(aria2_download&, const std::optional<model_stats>&)>;
    rpc_result with_download(const params& p, const snapshot& now, const download_action& action);
    result on_download(params p, download_action action);

    /// A snapshot at most `snapshot_max_age` old (twice that while the next one is being taken):
    /// thousands of clients polling at once cost one engine snapshot per interval, not one each.
    /// Any change (a control call, an engine event) drops it, so that a call never reads a state
    /// older than the last change it could see.
    boost::asio::awaitable<snapshot_ptr> stats();
    /// The shared snapshot if it serves now without waiting, else null.
    snapshot_ptr snapshot_now() const;
    /// The download a GID parameter names, or the error to answer.
    aria2_download* resolve(const params& p, std::size_t index, std::optional<rpc_error>& error);
    /// A list method's answer: `gids` with their status objects.
    boost::json::array statuses(const std::vector<std::string>& gids, const model_map& s,
                                const std::vector<std::string>& keys) const;
    void on_event(const event& e);
    /// Marks `d` stopped (in `how`), then forgets the oldest results beyond max_download_result.
    void stopped(aria2_download& d, model_state how);
    void notify(const char* method, const std::string& gid);

    /// persist() without waiting: for changes that the caller need not see saved.
    void persist_later();
    boost::asio::awaitable<std::string> session_text();

    boost::asio::any_io_executor executor_;
    ferry::engine& engine_;
    aria2_service_config config_;
    std::function<void(std::string)> notify_;
    std::function<void()> shutdown_;
    subscription_id subscription_ = 0;
    std::mt19937_64 gid_random_{std::random_device{}()};
    std::map<std::string, aria2_download> downloads_; ///< by GID: the GIDs in use
    std::uint64_t stops_ = 0;          ///< downloads stopped so far (numStoppedTotal)
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::string session_id_; ///< getSessionInfo: random, one per process
    // The shared snapshot: the last one taken, whether one is being taken (calls then wait for it
    // rather than take their own), and the changes counted so far (a snapshot asked for before the
    // latest change is not used after it).
    snapshot_ptr recent_;
    bool taking_snapshot_ = false;
    std::uint64_t changes_ = 0;
    boost::asio::steady_timer snapshot_taken_;
    static constexpr std::chrono::milliseconds snapshot_max_age{100};
    /// A change happened: the shared snapshot no longer serves.
    void changed() noexcept { ++changes_; }
    // The session writer: generations asked for and written; `session_written_` wakes waiters.
    std::uint64_t session_wanted_ = 0, session_saved_ = 0;
    std::string session_error_; ///< why the last write failed, or empty
    bool session_writing_ = false;
    boost::asio::steady_timer session_written_;
    boost::asio::thread_pool session_thread_{1};
};

/// Where an RPC `dir` option puts files: `dir` (relative ones beneath `base`), or nullopt when that
/// is not `base` or beneath it (after `..` and symbolic links are resolved).
std::optional<std::filesystem::path> resolve_download_dir(const std::filesystem::path& base, const std::string& dir);

} // namespace ferry::serve
