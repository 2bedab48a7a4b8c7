#pragma once

#include "engine/retry_policy.hpp"
#include "net/connection.hpp"
#include "net/connection_pool.hpp"
#include "net/proxy_config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

/// Everything an engine can be told, with the defaults `ferry get` uses.
struct engine_config {
    std::size_t max_files = 8;              ///< files in flight (-j)
    std::size_t max_files_per_model = 8;    ///< files in flight per model (--jobs-per-model)
    /// Files that may start early beyond those, on a path with a long round trip: each waits in
    /// line on the connection of a file about to end, its first request sent ahead (0: none).
    std::size_t max_files_in_line = 64;
    /// Connections per file (-x). 0: adaptive — start with a few and add more while the file's
    /// aggregate rate keeps rising, up to `max_connections_per_file`.
    std::size_t connections_per_file = 0;
    /// Twice aria2's hard cap: a CDN that caps each connection rewards every one added.
    std::size_t max_connections_per_file = 32;
    std::size_t max_connections = 64;       ///< in total (--max-connections)
    /// One host may take every connection: a model usually comes from one CDN, and one that caps
    /// each connection (as most do) rewards all of them (4 shards growing to 16 each).
    std::size_t max_connections_per_host = 64;
    /// Above max_connections_per_host a host may get up to this many (and the total as many more)
    /// while raising its cap raises the rate: a host whose line waits at its cap gets a quarter
    /// more, then twice as many while the total rate rises by a tenth over half a second (a CDN
    /// that caps each connection rewards every one). 0 or not above the cap: the cap is fixed.
    std::size_t max_connections_per_host_ceiling = 0;
    std::size_t max_queued_files = 100'000; ///< add() beyond this fails at once
    /// Finished models kept for wait() and stats(); older ones are forgotten (wait() on one then
    /// returns an empty result) and their ids can be used again.
    std::size_t keep_finished_models = 1000;

    std::uint64_t limit_rate = 0;           ///< overall bytes/s, 0 = unlimited (--limit-rate)
    /// Yield to other traffic on the way (--profile background): when set, the overall rate
    /// follows a delay_based_rate that keeps the queueing delay the connections measure under
    /// this target, LEDBAT-style (and within limit_rate). 0: off.
    std::chrono::milliseconds yield_delay_target{0};
    std::size_t buffer_size = 256 * 1024;   ///< bytes read per socket read and written per pwrite
    std::size_t tls_read_ahead = 64 * 1024; ///< TLS bytes taken from the socket per system call
    std::size_t memory_budget = 64 * 1024 * 1024; ///< all body buffers together (--max-memory)
    /// Resident memory above which no new file starts (running ones go on); 0 picks 80% of the
    /// machine's RAM or cgroup limit.
    std::uint64_t memory_pressure_limit = 0;
    /// Smallest piece worth a request of its own; also the first request of each file.
    std::uint64_t min_piece = 1024 * 1024;
    /// Smallest request, made near a file's end: requests shrink there so that an idle
    /// connection can take the unrequested rest of a slower one's claim without cutting its
    /// response short (the last connections then finish together).
    std::uint64_t min_request = 256 * 1024;
    /// Largest single ranged request; longer claims are fetched as several requests on one
    /// keep-alive connection, so a steal rarely cuts a response short.
    std::uint64_t max_request = 32 * 1024 * 1024;
    /// Near a file's end, one connection with nothing left to take looks this often for a claim
    /// gone slow to hedge (a duplicate request for its rest); the file's last byte ends the wait.
    std::chrono::milliseconds hedge_watch{250};

    retry_config retry;
    connection_timeouts timeouts;
    circuit_config circuit;                 ///< per-host circuit breaker of the connection pool
    std::chrono::milliseconds idle_timeout{30'000};
    int max_redirects = 10;
    std::vector<std::pair<std::string, std::string>> headers; ///< sent to the URLs' own hosts only
    std::filesystem::path ca_file;          ///< trusted in addition to the system store
    /// Proxies: by default from the environment as curl reads it (https_proxy, all_proxy,
    /// no_proxy...; see proxy_policy). A bad proxy URL makes the engine's constructor throw
    /// std::invalid_argument.
    proxy_config proxy;
    bool fsync = true;                      ///< sync file and directory around the final rename
    /// Threads for slow file work — hashing what is on disk (an existing file, the part of a
    /// resumed one not hashed in flight), the syncs and rename of a commit — so that the event
    /// loop is never held up by a disk. 0: that work runs on the engine's strand.
    std::size_t blocking_threads = 2;
    /// Threads that write body bytes into the .part files and hash them in flight (one file's
    /// writes in order, one at a time): a write into the page cache can wait for the disk (a page
    /// under writeback, dirty-page throttling) for tens of milliseconds, and hashing 256 KiB
    /// takes a fraction of one; neither holds up the loop. 0: writes run on the engine's strand,
    /// which costs a dedicated downloader (ferry get) less CPU and time (a thread hop per buffer,
    /// the bytes hashed on another core): set it where the loop serves others too (ferry serve,
    /// an embedding server).
    std::size_t write_threads = 0;
};

} // namespace ferry
