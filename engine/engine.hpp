#pragma once

#include "engine/config.hpp"
#include "engine/events.hpp"
#include "engine/model.hpp"
#include "net/connection_pool.hpp"
#include "perf/latency_histogram.hpp"
#include "perf/resource_monitor.hpp"
#include "queue/model_queue.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>

namespace ferry {

/// Names a subscriber of engine::subscribe.
using subscription_id = std::uint64_t;

/// The outcome of engine::add.
struct add_result {
    std::string id;     ///< the model's id (generated when the spec had none)
    std::string error;  ///< empty on success; otherwise one line naming the model, file and problem
    explicit operator bool() const noexcept { return error.empty(); }
};

/// Where a model stands (aria2's words for a download's status, with "complete" split off
/// "error" as aria2 does).
enum class model_state {
    waiting,  ///< in the queue, no file running
    active,   ///< in the queue, some file running
    paused,   ///< in the queue, paused (its files may still be stopping)
    complete, ///< every file done or skipped
    error,    ///< every file ended, some failed
    removed,  ///< cancelled (cancel() or stop()): left the queue
};
const char* to_string(model_state s) noexcept;

/// Per-model numbers of a snapshot.
struct model_stats {
    std::string id;
    priority prio = priority::normal;
    model_state state = model_state::waiting;
    /// Its place in the queue (0 first: engine::change_position moves it), counted over the models
    /// still in the queue (waiting, active, paused) whatever their priority; nullopt for the others.
    /// Sort by it for aria2's tellActive/tellWaiting order.
    std::optional<std::size_t> position;
    std::size_t files_total = 0, files_done = 0, files_failed = 0, files_running = 0;
    std::uint64_t bytes_done = 0, bytes_total = 0; ///< bytes_total counts the sizes known so far
    bool paused = false;
    double speed = 0; ///< body bytes/s received over the last few seconds (5 s)
    /// Seconds until bytes_total is done at `speed`; 0 once every file has finished; nullopt while
    /// that is unknown (no speed yet, stalled, paused, sizes unknown).
    std::optional<double> eta_seconds;
    /// bytes_done / bytes_total, from 0 to 1 (0 while no size is known).
    double completion() const noexcept { return bytes_total ? double(bytes_done) / double(bytes_total) : 0.0; }
};

/// Latencies of every request the engine made to one host (origin), failed ones included.
struct host_latency {
    latency_histogram ttfb;     ///< request sent → response head received (requests that got one)
    latency_histogram duration; ///< request sent → last body byte read, or the request failed
    /// Requests by the class of their answer: index 1..5 for 1xx..5xx, 0 for none (no head).
    std::array<std::uint64_t, 6> responses{};
};

/// Files that ended since the engine started, by outcome (models forgotten since included). A
/// file stopped by a pause has not ended: it goes back to the queue.
struct file_outcomes {
    std::uint64_t done = 0, skipped = 0, failed = 0, cancelled = 0;
    std::uint64_t& operator[](file_outcome o) noexcept {
        switch (o) {
        case file_outcome::done: return done;
        case file_outcome::skipped: return skipped;
        case file_outcome::failed: return failed;
        case file_outcome::cancelled: break;
        }
        return cancelled;
    }
    std::uint64_t operator[](file_outcome o) const noexcept { return const_cast<file_outcomes&>(*this)[o]; }
};

/// A point-in-time view of the engine.
struct engine_stats {
    std::vector<model_stats> models; ///< every model the engine holds, by id (see model_stats::position)
    std::size_t files_running = 0;
    std::size_t files_queued = 0;  ///< accepted by add() and not started yet (paused ones included)
    file_outcomes files_ended;
    std::uint64_t retries = 0;     ///< requests retried after a backoff, since the engine started
    std::size_t connections_active = 0;
    std::uint64_t bytes_fetched = 0; ///< body bytes received since the engine started
    double speed = 0;                ///< body bytes/s received over the last few seconds (5 s)
    pool_stats pool;
    std::map<std::string, pool_stats> hosts;      ///< connection counters per origin
    std::map<std::string, host_latency> latency;  ///< per origin, as `hosts`
    std::size_t buffers_allocated = 0, buffer_size = 0;
    std::size_t buffers_in_use = 0;
    std::uint64_t limit_rate = 0; ///< the overall limit now, bytes/s (0: none; set_limit_rate)
    /// While yielding to other traffic (engine_config::yield_delay_target): the lowest round trip
    /// seen and the queueing delay above it, in microseconds; limit_rate is then the rate it allows.
    struct yield_state {
        std::uint64_t base_delay_us = 0;
        std::uint64_t queueing_delay_us = 0;
    };
    std::optional<yield_state> yielding;
    std::size_t max_files = 0;    ///< files in flight at most now (set_max_files)
    /// CPU, memory, descriptors, cgroup limits, and the free space where the models still in
    /// the queue write (read at most once a second).
    resource_usage resources;
};

/// The download engine. It runs on an executor the caller owns (an io_context, possibly run by
/// several threads): all its state sits behind one strand, every file is one coroutine, and every
/// connection of a file one more. The only threads it owns run slow file work (hashing what is
/// already on disk, the syncs and rename of a commit: engine_config::blocking_threads), never
/// network I/O.
///
/// Thread safety: every public member may be called from any thread. Results and events are
/// delivered on the engine's strand.
///
/// Lifetime: stop() cancels every transfer; what was written stays resumable (.part + journal).
/// Destroy the engine only after the executor has run the cancellations to the end (for example,
/// after io_context::run() returned) or the io_context itself is gone.
class engine {
public:
    engine(boost::asio::any_io_executor executor, engine_config config = {});
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    /// Queues a model. Fails at once, without queuing anything, for an invalid spec (no URL,
    /// bad path, duplicate destination, unknown id) or when the queue is full.
    add_result add(model_spec model);

    /// Completes when every file of the model is done, skipped, failed or cancelled. The result
    /// lists the files in the order of the spec.
    boost::asio::awaitable<model_result> wait(std::string id);
    /// As wait(), giving up after `timeout` (nullopt then; the model keeps going).
    boost::asio::awaitable<std::optional<model_result>> wait_for(std::string id, std::chrono::milliseconds timeout);
    /// Completion-token form of wait(): callback, use_awaitable, use_future, ...
    /// The handler receives (std::exception_ptr, model_result).
    template <class CompletionToken>
    auto async_wait(std::string id, CompletionToken&& token) {
        return boost::asio::co_spawn(strand_, wait(std::move(id)), std::forward<CompletionToken>(token));
    }
    /// Waits for every model added so far.
    boost::asio::awaitable<std::vector<model_result>> wait_all();

    // Control calls that name a model return false, and do nothing, when the engine holds no
    // model with that id: never added, or finished and forgotten (keep_finished_models). true
    // means the call was accepted; it takes effect on the strand shortly after (in call order
    // for calls made from one thread).

    /// Pause or resume one model (by id) or all (nullopt). Paused models start no new file and
    /// their running files stop (resumable: .part and journal stay) and go back to the queue, in
    /// their place. Pausing all also holds models added later, until resume() of all. A paused
    /// model keeps its queue position.
    bool pause(std::optional<std::string> id = std::nullopt);
    bool resume(std::optional<std::string> id = std::nullopt);
    /// Cancels a model: it leaves the queue, its transfers stop, .part files and journals stay
    /// (or are deleted when `discard`). A model whose files have all ended stays as it was (its
    /// cancelled files' leftovers are deleted when `discard`).
    bool cancel(const std::string& id, bool discard = false);
    /// Changes what starts next: every high model's files before any normal one's, and so on
    /// (running files are not preempted).
    bool set_priority(const std::string& id, priority p);
    /// Moves a model in the queue, as aria2's changePosition: to `offset` (position_origin::begin),
    /// to its position + `offset` (current) or to the last position + `offset` (end), clamped to
    /// the queue. Within a priority, files start in queue order; priorities outrank positions.
    /// Completes with the new position (0 first), or nullopt when the model is not in the queue
    /// (unknown id, or finished, or cancelled).
    boost::asio::awaitable<std::optional<std::size_t>> change_position(std::string id, int offset,
                                                                       position_origin how);
    /// Files in flight in all (engine_config::max_files; aria2's max-concurrent-downloads),
    /// changeable while running: raising it starts queued files at once; lowering it stops
    /// nothing, and no file starts until fewer than `n` run. 0 counts as 1.
    void set_max_files(std::size_t n);
    /// Overall rate limit in bytes/s (0 = none), effective within a tick.
    void set_limit_rate(std::uint64_t rate);
    /// One model's own limit in bytes/s (0 = none), effective within a tick; it applies together
    /// with the overall limit and each file's own (file_spec::limit_rate).
    bool set_limit_rate(const std::string& id, std::uint64_t rate);
    /// One file's own limit in bytes/s (0 = none; file_spec::limit_rate), effective within a tick
    /// when it runs, and from its start otherwise. `file` names it by its path within the model
    /// (as given in its spec) or its name. false when the engine holds no model `id`; a model
    /// without such a file changes nothing.
    bool set_limit_rate(const std::string& id, const std::string& file, std::uint64_t rate);

    /// Stops everything: running transfers are cancelled (resumable), queued ones never start.
    void stop();

    /// Adds a subscriber for progress events, called on the engine's strand; every subscriber
    /// hears every event, oldest subscription first. Subscribe before adding work to hear all of
    /// it. Returns the id unsubscribe() takes.
    subscription_id subscribe(std::function<void(const event&)> subscriber);
    /// Removes a subscriber (an unknown or removed id is ignored). Called on the strand (from a
    /// subscriber, say), it takes effect at once: no call follows, and a subscriber may remove
    /// itself while it runs. From another thread it takes effect when the strand runs it: a call
    /// under way may still finish, and one may begin before then.
    void unsubscribe(subscription_id id);

    boost::asio::awaitable<engine_stats> stats();

    boost::asio::any_io_executor get_executor() const { return strand_; }

private:
    struct state;
    boost::asio::any_io_executor strand_; ///< a strand of the executor given
    std::shared_ptr<state> state_;
};

} // namespace ferry
