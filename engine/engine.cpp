#include "engine/engine.hpp"

#include "engine/compact_strand.hpp"
#include "engine/connection_handoff.hpp"
#include "engine/file_transfer.hpp"
#include "engine/part_sink.hpp"
#include "queue/connection_growth.hpp"
#include "queue/model_queue.hpp"
#include "memory/buffer_pool.hpp"
#include "memory/memory_limits.hpp"
#include "memory/part_file.hpp"
#include "memory/resume_journal.hpp"
#include "net/error.hpp"
#include "net/tls_context.hpp"
#include "net/url.hpp"
#include "perf/rate_limiter.hpp"
#include "perf/throughput_window.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cerrno>
#include <deque>
#include <latch>
#include <limits>
#include <mutex>
#include <set>

#include <sys/resource.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace asio = boost::asio;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
/// A host cap's first, unmeasured step past max_connections_per_host: a quarter more.
constexpr double host_cap_first_step = 1.25;

std::string check_model(const model_spec& model) {
    auto prefix = "model '" + model.id + "': ";
    if (model.files.empty())
        return prefix + "has no files";
    std::set<std::string> destinations;
    for (auto& file : model.files) {
        auto name = file.path.generic_string();
        if (auto problem = check_relative_path(name); !problem.empty())
            return prefix + "file '" + name + "': " + problem;
        if (!destinations.insert(name).second)
            return prefix + "file '" + name + "': listed twice";
        if (file.urls.empty())
            return prefix + "file '" + name + "': no URL";
        for (auto& u : file.urls)
            if (auto parsed = parse_url(u); !parsed)
                return prefix + "file '" + name + "': bad URL '" + u + "': " + parsed.error().message();
    }
    return {};
}

/// Lowers the scheduling priority of each of a pool's `threads` threads: nice +10 (a tenth of the
/// loop's weight) and SCHED_BATCH (a wake-up never preempts a running thread). On a machine with
/// every core busy, the event loop's thread gets the CPU first, so that hashing and writes do not
/// make timers and calls wait. Each task holds its thread until all have run, so every thread
/// takes one.
void yield_to_the_loop(asio::thread_pool& pool, std::size_t threads) {
    auto all = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads));
    for (std::size_t i = 0; i < threads; ++i)
        asio::post(pool, [all] {
            errno = 0;
            int current = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
            if (errno == 0)
                setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), std::min(current + 10, 19));
            sched_param batch{};
            sched_setscheduler(gettid(), SCHED_BATCH, &batch);
            all->arrive_and_wait();
        });
}

/// Seconds until a model's known bytes are done at its current speed: 0 once it has finished,
/// nullopt while paused, without speed, or with nothing known left.
std::optional<double> eta_of(const model_stats& m, bool finished) {
    if (finished)
        return 0.0;
    if (m.paused || m.speed <= 0 || m.bytes_total <= m.bytes_done)
        return std::nullopt;
    return double(m.bytes_total - m.bytes_done) / m.speed;
}

/// A model's state as a snapshot names it, from what the queue knows and whether every finished
/// file is done or skipped.
model_state state_of(const model_queue::model_status& queued, bool all_ok) {
    if (queued.cancelled)
        return model_state::removed;
    if (queued.done())
        return all_ok ? model_state::complete : model_state::error;
    if (queued.paused)
        return model_state::paused;
    return queued.running > 0 ? model_state::active : model_state::waiting;
}

} // namespace

struct engine::state : std::enable_shared_from_this<state> {
    struct model_entry;

    struct file_entry {
        model_entry* model = nullptr;
        std::size_t index = 0; ///< in the model's files: the queue's file number
        file_spec spec;
        std::unique_ptr<file_transfer> transfer; ///< while it runs
        file_result result;
        model_queue::file_ref ref() const;
    };

    struct model_entry {
        model_entry(asio::any_io_executor ex) : done_signal(ex, asio::steady_timer::time_point::max()), rate(ex, 0) {}
        model_spec spec;
        std::uint64_t arrival = 0;      ///< the order of add(), for wait_all()
        std::vector<file_entry> files;  ///< in the spec's order; never resized once queued
        bool discard = false;           ///< cancel(id, true) asked: .part files go
        asio::steady_timer done_signal; ///< cancelled when every file has finished
        rate_limiter rate;              ///< the model's own limit (spec.limit_rate, changeable)
        std::uint64_t fetched_by_ended = 0; ///< body bytes of its transfers that have ended
        throughput_window speed;        ///< its recent bytes/s, sampled on events and snapshots
        std::chrono::steady_clock::time_point sampled_at{}; ///< of `speed`, on an event
        bool retired = false; ///< counted among the finished models (see model_done)
        std::size_t waiters = 0; ///< wait()s suspended on done_signal
    };

    using subscriber = std::shared_ptr<const std::function<void(const event&)>>;

    state(asio::any_io_executor strand, engine_config cfg)
        : strand(strand), config(std::move(cfg)), tls(make_client_tls_context(config.ca_file)),
          pool(strand, tls, pool_config_of(config)),
          buffers(strand, std::max(config.memory_budget, config.buffer_size), config.buffer_size),
          overall_rate(strand, config.limit_rate),
          pressure_limit(config.memory_pressure_limit ? config.memory_pressure_limit : memory_limit() / 10 * 8),
          pressure_timer(strand), user_limit(config.limit_rate), pacing_timer(strand), host_cap_timer(strand),
          context{strand, config, pool, buffers, overall_rate, [this](const event& e) { observe(e); }, {}, {}, nullptr, 0, {}, {}},
          queue(config.max_files, config.max_files_per_model),
          arrival_signal(strand, asio::steady_timer::time_point::max()) {
        if (config.blocking_threads > 0) {
            blocking_pool = std::make_unique<asio::thread_pool>(config.blocking_threads);
            yield_to_the_loop(*blocking_pool, config.blocking_threads);
            context.blocking = blocking_pool->get_executor();
        }
        if (config.write_threads > 0) {
            write_pool = std::make_unique<asio::thread_pool>(config.write_threads);
            yield_to_the_loop(*write_pool, config.write_threads);
            context.writes = write_pool->get_executor();
        }
        context.successor = [this](const std::string& origin) { return start_successor(origin); };
        context.warm = [this](const url& where, std::size_t count) { warm(where, count); };
        if (config.yield_delay_target.count() > 0) {
            delay_target target;
            target.target = config.yield_delay_target;
            pacing.emplace(target);
            context.pacing = &*pacing;
            apply_limit();
        }
    }
    // Slow file work and writes still running refer to transfers: they end before anything else goes.
    ~state() {
        if (write_pool)
            write_pool->join();
        if (blocking_pool)
            blocking_pool->join();
    }

    pool_config pool_config_of(const engine_config& c) {
        pool_config p;
        p.max_connections = c.max_connections;
        p.max_per_host = c.max_connections_per_host;
        p.proxies = proxy_policy(c.proxy, process_environment());
        p.idle_timeout = c.idle_timeout;
        p.timeouts = c.timeouts;
        p.tls_read_ahead = c.tls_read_ahead;
        p.circuit = c.circuit;
        p.on_request_done = [this](const std::string& origin, const request_timing& timing) {
            record_latency(origin, timing);
        };
        return p;
    }

    void record_latency(const std::string& origin, const request_timing& timing) {
        auto& host = latency[origin];
        if (timing.first_byte)
            host.ttfb.record(*timing.first_byte);
        host.duration.record(timing.total);
        ++host.responses[timing.status >= 100 && timing.status < 600 ? timing.status / 100 : 0];
    }

    /// Every event of a transfer passes here: the model's speed is sampled, then the subscribers
    /// hear of it, oldest first. A subscriber may subscribe or unsubscribe (itself or another)
    /// from its call: one added then hears from the next event on, one removed hears no more, and
    /// a function removed while it runs lives until it returns.
    void observe(const event& e) {
        if (auto it = models.find(e.model); it != models.end())
            sample_speed(*it->second, std::chrono::steady_clock::now());
        if (e.what == event::kind::retried)
            ++retries;
        if (subscribers.empty())
            return;
        const auto last = subscribers.rbegin()->first;
        for (auto it = subscribers.begin(); it != subscribers.end() && it->first <= last;) {
            auto id = it->first;
            auto call = it->second;
            (*call)(e);
            it = subscribers.upper_bound(id);
        }
    }

    /// Body bytes received this run, by a model or by all: what ended transfers fetched plus what
    /// running ones have fetched so far.
    std::uint64_t fetched(const model_entry& m) const {
        std::uint64_t total = m.fetched_by_ended;
        for (auto* f : running)
            if (f->model == &m)
                total += f->transfer->bytes_fetched();
        return total;
    }
    std::uint64_t fetched() const {
        std::uint64_t total = bytes_fetched;
        for (auto* f : running)
            total += f->transfer->bytes_fetched();
        return total;
    }

    /// On an event: a sample costs a pass over the running files, and with ten thousand running
    /// a pass per event was most of the process's CPU. The window merges samples closer than a
    /// quarter second anyway, and a snapshot takes its own.
    void sample_speed(model_entry& m, std::chrono::steady_clock::time_point now) {
        constexpr auto spacing = std::chrono::milliseconds(50);
        if (now - m.sampled_at >= spacing) {
            m.sampled_at = now;
            m.speed.record(now, fetched(m));
        }
        if (now - sampled_at >= spacing) {
            sampled_at = now;
            speed.record(now, fetched());
        }
    }

    /// The overall limit: the user's, and while yielding to other traffic the pace's within it.
    void apply_limit() {
        auto rate = user_limit;
        if (pacing)
            rate = rate ? std::min(rate, pacing->rate()) : pacing->rate();
        overall_rate.set_rate(rate);
    }

    /// While files run and the engine yields, the pace is updated every 100 ms from the round
    /// trips the transfers sampled and the rate they reached.
    void arm_pacing() {
        if (!pacing || pacing_armed)
            return;
        pacing_armed = true;
        paced_at = std::chrono::steady_clock::now();
        paced_bytes = fetched();
        pacing_timer.expires_after(std::chrono::milliseconds(100));
        pacing_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (ec || self->stopped)
                return; // (cancelled: whoever cancelled it cleared pacing_armed)
            self->pacing_armed = false;
            auto now = std::chrono::steady_clock::now();
            auto bytes = self->fetched();
            auto seconds = std::chrono::duration<double>(now - self->paced_at).count();
            auto used = seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(bytes - self->paced_bytes) / seconds) : 0;
            std::size_t connections = 0;
            for (auto* f : self->running)
                connections += f->transfer->connections();
            self->pacing->set_connections(connections);
            self->pacing->update(now, used);
            self->apply_limit();
            if (!self->running.empty())
                self->arm_pacing();
        });
    }

    /// While files run and hosts may get more connections than max_connections_per_host, every
    /// 250 ms each host whose line waits at its cap is judged by a connection_growth of its own,
    /// over the bytes of all transfers: the first look raises its cap by a quarter, the next ones
    /// double it while the rate rose by a tenth (on a machine whose CPU is the limit, a blind
    /// doubling from 64 to 128 cost the model scenario up to 0.4 s in handshakes).
    void arm_host_caps() {
        if (config.max_connections_per_host_ceiling <= config.max_connections_per_host || host_caps_armed)
            return;
        host_caps_armed = true;
        host_cap_timer.expires_after(std::chrono::milliseconds(250));
        host_cap_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (ec || self->stopped)
                return; // (cancelled: whoever cancelled it cleared host_caps_armed)
            self->host_caps_armed = false;
            self->grow_host_caps();
            if (!self->running.empty())
                self->arm_host_caps();
        });
    }

    void grow_host_caps() {
        auto now = std::chrono::steady_clock::now();
        auto hosts = pool.hosts_at_cap();
        if (hosts.empty())
            return;
        auto bytes = fetched(); // a pass over the running files: once a look
        // The hosts' files, in one more pass: their connections delivering bytes, and the bytes
        // they have left (unknown while a file's size is).
        struct host_files {
            std::size_t flowing = 0;
            std::optional<std::uint64_t> left = 0;
        };
        std::map<std::string, host_files> at_cap;
        for (auto& origin : hosts)
            at_cap.emplace(origin, host_files{});
        for (auto* f : running) {
            auto it = at_cap.find(f->transfer->origin());
            if (it == at_cap.end())
                continue;
            auto& [flowing, left] = it->second;
            flowing += f->transfer->flowing_connections();
            if (auto size = f->transfer->size(); size == 0)
                left.reset();
            else if (left)
                *left += size - std::min(size, f->transfer->bytes_done());
        }
        for (auto& [origin, files] : at_cap) {
            const auto& [flowing, left] = files;
            auto cap = pool.host_cap(origin);
            connection_growth::settings s;
            s.initial = cap;
            s.ceiling = config.max_connections_per_host_ceiling;
            s.interval = std::chrono::milliseconds(500);
            s.first_growth = host_cap_first_step;
            s.rise = 1.1;
            auto it = host_growth.try_emplace(origin, s, now, bytes).first;
            auto wanted = it->second.workers_wanted(now, bytes, cap, std::min(flowing, cap));
            if (wanted > cap && worth_more_connections(origin, left, it->second.best_rate()))
                pool.raise_host_cap(origin, wanted);
        }
    }

    /// Whether new connections to `origin` would deliver before the ones open fetch the `left`
    /// bytes at `rate` (connection_growth::worth_adding, with the host's median time to first
    /// byte; true while either is unknown).
    bool worth_more_connections(const std::string& origin, std::optional<std::uint64_t> left, double rate) const {
        auto known = latency.find(origin);
        if (known == latency.end())
            return true;
        auto ttfb = known->second.ttfb.percentile(50);
        return !ttfb || connection_growth::worth_adding(left, rate, *ttfb);
    }

    /// Under memory pressure nothing new starts (the queue is told); a timer looks again shortly.
    bool memory_pressure() {
        // Read at most every 20 ms: a burst of small files would otherwise read /proc per file.
        auto now = std::chrono::steady_clock::now();
        if (now - resident_read_at >= std::chrono::milliseconds(20)) {
            resident = resident_memory();
            resident_read_at = now;
        }
        bool over = resident > pressure_limit;
        queue.set_memory_pressure(over);
        if (over && !pressure_wait_armed) {
            pressure_wait_armed = true;
            pressure_timer.expires_after(std::chrono::milliseconds(250));
            pressure_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
                self->pressure_wait_armed = false;
                if (!ec)
                    self->schedule();
            });
        }
        return over;
    }

    /// schedule() soon, once however often asked: control calls and models added together (before
    /// the executor runs, say) are all seen before anything starts, so priorities decide.
    void request_schedule() {
        if (schedule_pending)
            return;
        schedule_pending = true;
        asio::post(strand, [self = shared_from_this()] {
            self->schedule_pending = false;
            self->schedule();
        });
    }

    /// Starts the files the queue names while it names one (model_queue decides: priorities,
    /// positions, limits, pauses), unless the memory is under pressure.
    void schedule() {
        if (stopped)
            return;
        queue.set_memory_pressure(false); // looked at again below, before anything starts
        while (auto next = queue.next(early_files())) {
            if (memory_pressure())
                return;
            queue.started(*next);
            start(models.at(next->model)->files[next->file]);
        }
    }

    /// The next queued file, started early when it is `origin`'s: its first request may go ahead
    /// on the connection of the last response of a running file (connection_handoff). The files
    /// in flight exceed max_files by those whose first answer has not come yet (at most
    /// line_depth for each).
    std::shared_ptr<connection_handoff> start_successor(const std::string& origin) {
        if (stopped || early_files() >= config.max_files_in_line)
            return nullptr;
        // A file that has all its bytes (being verified and renamed) makes room too.
        std::size_t beyond = early.size() + 1;
        if (!queue.next(beyond) && queue.next(std::numeric_limits<std::size_t>::max() / 2))
            beyond += static_cast<std::size_t>(std::count_if(running.begin(), running.end(), [](const file_entry* f) {
                return f->transfer->size() > 0 && f->transfer->bytes_done() == f->transfer->size();
            }));
        auto next = queue.next(beyond);
        if (!next || memory_pressure())
            return nullptr;
        auto& f = models.at(next->model)->files[next->file];
        auto first = f.spec.urls.empty() ? boost::system::result<url>(make_error_code(net_error::bad_url))
                                         : parse_url(f.spec.urls.front());
        if (!first || first->origin() != origin)
            return nullptr;
        queue.started(*next);
        auto handoff = std::make_shared<connection_handoff>(strand);
        early.push_back(handoff);
        start(f, handoff);
        return handoff;
    }

    /// Files started early whose first answer has not come yet: they do not count among the
    /// max_files in flight (each waits in the line of a connection another file uses).
    std::size_t early_files() {
        std::erase_if(early, [](const std::weak_ptr<connection_handoff>& h) {
            auto handoff = h.lock();
            return !handoff || handoff->over();
        });
        return early.size();
    }

    /// Connections opened ahead of need, each by a coroutine of its own that keeps the state
    /// alive (the pool is part of it).
    void warm(const url& where, std::size_t count) {
        const auto origin = where.origin();
        auto n = pool.reserve_warm(origin, count);
        if (n < count && raise_host_cap_at_start(origin))
            n += pool.reserve_warm(origin, count - n);
        for (; n > 0; --n)
            asio::co_spawn(strand, warm_one(shared_from_this(), where), asio::detached);
    }
    /// Files warming up more connections than their host has room for are on a long path (their
    /// first answers are late): waiting for the host's looks (arm_host_caps), which raise a cap
    /// only after an interval with bytes, would cost round trips, so the cap takes a quarter more
    /// now, once per host, within the ceiling. The looks then go on from the raised cap.
    bool raise_host_cap_at_start(const std::string& origin) {
        const auto cap = pool.host_cap(origin);
        if (config.max_connections_per_host_ceiling <= cap || cap != config.max_connections_per_host)
            return false;
        const auto raised = static_cast<std::size_t>(std::ceil(double(cap) * host_cap_first_step));
        pool.raise_host_cap(origin, std::min(config.max_connections_per_host_ceiling, raised));
        return true;
    }
    static asio::awaitable<void> warm_one(std::shared_ptr<state> self, url where) {
        co_await self->pool.warm(std::move(where));
    }

    void start(file_entry& f, std::shared_ptr<connection_handoff> predecessor = nullptr) {
        f.transfer = std::make_unique<file_transfer>(context, f.model->spec.id, f.model->spec.dir, f.spec, &f.model->rate);
        f.transfer->set_priority(f.model->spec.prio);
        if (predecessor)
            f.transfer->follow(std::move(predecessor));
        running.push_back(&f);
        context.files_running = running.size();
        arm_pacing();
        arm_host_caps();
        auto slot = f.transfer->slot();
        asio::co_spawn(strand, f.transfer->run(),
                       asio::bind_cancellation_slot(slot, [self = shared_from_this(), &f](std::exception_ptr e) {
                           file_result r = f.transfer->take_result();
                           if (e) {
                               r.path = f.model->spec.dir / f.spec.path;
                               r.outcome = file_outcome::failed;
                               r.message = "internal error";
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& ex) {
                                   r.message = std::string("internal error: ") + ex.what();
                               } catch (...) {
                               }
                           }
                           self->finished(f, std::move(r));
                       }));
    }

    void finished(file_entry& f, file_result r) {
        auto& m = *f.model;
        std::erase(running, &f);
        context.files_running = running.size();
        if (running.empty()) {
            // Their looks are for running files: an engine with nothing to do holds no timer
            // (a caller's io_context then runs out of work at once).
            pacing_armed = host_caps_armed = false;
            pacing_timer.cancel();
            host_cap_timer.cancel();
        }
        bytes_fetched += r.bytes_fetched;
        m.fetched_by_ended += r.bytes_fetched;
        // The transfer object goes once its coroutine is over (we are in its completion).
        asio::post(strand, [t = std::shared_ptr<file_transfer>(std::move(f.transfer))] {});
        auto ref = f.ref();
        if (r.outcome == file_outcome::cancelled && queue.stop_requested(ref)) {
            // A pause stopped it: back to the queue (even when resumed meanwhile). A cancel or
            // stop() since would have withdrawn the request.
            queue.requeued(ref);
        } else {
            queue.finished(ref);
            if (r.outcome == file_outcome::cancelled && m.discard)
                discard_partial(r.path);
            f.result = std::move(r);
            ++files_ended[f.result.outcome];
            --queued_files;
            if (queue.done(m.spec.id))
                model_done(m);
        }
        schedule();
        if (running.empty())
            pool.stop_warming(); // nothing will take them
    }

    /// Wakes the model's waiters, and forgets the oldest finished models beyond
    /// `keep_finished_models`: a process that adds models all day must not grow with each.
    void model_done(model_entry& m) {
        m.done_signal.cancel();
        if (m.retired)
            return;
        m.retired = true;
        finished_models.push_back(m.spec.id);
        while (finished_models.size() > std::max<std::size_t>(config.keep_finished_models, 1)) {
            if (auto oldest = models.find(finished_models.front());
                oldest != models.end() && oldest->second->waiters > 0)
                break; // its waiters have not run yet: it goes on a later call
            auto id = std::move(finished_models.front());
            finished_models.pop_front();
            models.erase(id);
            queue.remove(id);
            std::lock_guard lock(admission_mutex);
            ids.erase(id);
        }
    }

    static void discard_partial(const std::filesystem::path& final_path) { part_sink::discard_partial(final_path); }

    void cancel_model(model_entry& m, bool discard) {
        m.discard = m.discard || discard;
        auto dropped = queue.cancel(m.spec.id).value_or(std::vector<std::size_t>{});
        auto next_dropped = dropped.begin(); // ascending, as m.files
        for (auto& f : m.files) {
            bool just_dropped = next_dropped != dropped.end() && *next_dropped == f.index;
            if (just_dropped)
                ++next_dropped;
            if (f.transfer) {
                f.transfer->cancel(); // finished() discards its .part when asked
            } else if (just_dropped) {
                f.result.path = m.spec.dir / f.spec.path;
                f.result.url = f.spec.urls.empty() ? "" : f.spec.urls.front();
                f.result.outcome = file_outcome::cancelled;
                ++files_ended[file_outcome::cancelled];
                --queued_files;
                // A paused file has a .part from its earlier run.
                if (m.discard)
                    discard_partial(f.result.path);
            } else if (discard && f.result.outcome == file_outcome::cancelled) {
                discard_partial(f.result.path); // cancelled earlier, discarded now
            }
        }
        if (queue.done(m.spec.id))
            model_done(m);
    }

    /// add() has accepted the id but its model has not reached the strand yet (add() may run on
    /// any thread; a wait() spawned after it can get there first).
    bool add_in_flight(const std::string& id) {
        std::lock_guard lock(admission_mutex);
        return ids.count(id) > 0 && !models.count(id);
    }
    /// add() accepted the id and the model has not been forgotten since (any thread).
    bool known(const std::string& id) {
        std::lock_guard lock(admission_mutex);
        return ids.count(id) > 0;
    }
    static asio::awaitable<model_result> wait_on_strand(std::shared_ptr<state> s, std::string id);
    static asio::awaitable<std::vector<std::string>> ids_on_strand(std::shared_ptr<state> s);
    static asio::awaitable<engine_stats> stats_on_strand(std::shared_ptr<state> s);
    static asio::awaitable<std::optional<std::size_t>> move_on_strand(std::shared_ptr<state> s, std::string id,
                                                                      int offset, position_origin how);

    model_result result_of(const model_entry& m) const {
        model_result r;
        r.id = m.spec.id;
        for (auto& f : m.files)
            r.files.push_back(f.result);
        return r;
    }

    asio::any_io_executor strand; ///< a strand (compact_strand)
    engine_config config;
    asio::ssl::context tls;
    std::map<std::string, host_latency> latency; ///< per origin; the pool reports each request
    connection_pool pool;
    buffer_pool buffers;
    rate_limiter overall_rate;
    resource_monitor resources; ///< the stats snapshot's resource figures
    std::uint64_t pressure_limit;
    asio::steady_timer pressure_timer;
    bool pressure_wait_armed = false;
    std::uint64_t user_limit; ///< the overall limit asked for (config, set_limit_rate)
    std::optional<delay_based_rate> pacing; ///< when yielding to other traffic
    asio::steady_timer pacing_timer;
    bool pacing_armed = false;
    std::chrono::steady_clock::time_point paced_at{}; ///< the last update of `pacing`
    std::uint64_t paced_bytes = 0;                    ///< fetched() then
    std::map<std::string, connection_growth> host_growth; ///< per origin, once at its cap
    asio::steady_timer host_cap_timer;
    bool host_caps_armed = false;
    std::uint64_t resident = 0;
    std::chrono::steady_clock::time_point resident_read_at{};
    transfer_context context;

    model_queue queue; ///< what starts next: every scheduling decision is its
    std::map<std::string, std::unique_ptr<model_entry>> models;
    std::deque<std::string> finished_models; ///< oldest first
    asio::steady_timer arrival_signal; ///< cancelled whenever a model reaches `models`
    std::uint64_t arrivals = 0;
    std::vector<file_entry*> running;  ///< files whose transfer runs
    /// Files started early (start_successor) whose first answer may still be on its way.
    std::vector<std::weak_ptr<connection_handoff>> early;
    std::uint64_t bytes_fetched = 0;   ///< body bytes of the transfers that have ended
    file_outcomes files_ended;
    std::uint64_t retries = 0;
    throughput_window speed;           ///< of all models together
    std::chrono::steady_clock::time_point sampled_at{}; ///< of `speed`, on an event
    std::map<subscription_id, subscriber> subscribers;
    std::atomic<subscription_id> subscriptions{0};
    bool stopped = false;
    bool schedule_pending = false;

    // Touched from any thread by add(): ids and the queue bound.
    std::mutex admission_mutex;
    std::set<std::string> ids;
    std::atomic<std::size_t> queued_files{0};
    std::uint64_t generated_ids = 0;

    std::unique_ptr<asio::thread_pool> blocking_pool; ///< slow file work (config.blocking_threads)
    std::unique_ptr<asio::thread_pool> write_pool;    ///< body writes (config.write_threads)
};

model_queue::file_ref engine::state::file_entry::ref() const {
    return {model->spec.id, index};
}

engine::engine(asio::any_io_executor executor, engine_config config)
    : strand_(compact_strand(executor)), state_(std::make_shared<state>(strand_, std::move(config))) {}

engine::~engine() {
    stop();
}

add_result engine::add(model_spec model) {
    add_result out;
    {
        std::lock_guard lock(state_->admission_mutex);
        if (model.id.empty())
            model.id = "model-" + std::to_string(++state_->generated_ids);
        out.id = model.id;
        if (state_->ids.count(model.id)) {
            out.error = "model '" + model.id + "': a model with this id was already added";
            return out;
        }
        if (out.error = check_model(model); !out.error.empty())
            return out;
        if (state_->queued_files + model.files.size() > state_->config.max_queued_files) {
            out.error = "model '" + model.id + "': queue full (" + std::to_string(state_->config.max_queued_files) +
                        " files at most)";
            return out;
        }
        state_->ids.insert(model.id);
        state_->queued_files += model.files.size();
    }
    asio::post(strand_, [s = state_, model = std::move(model)]() mutable {
        auto entry = std::make_unique<state::model_entry>(s->strand);
        entry->arrival = ++s->arrivals;
        std::vector<std::optional<std::uint64_t>> sizes;
        entry->files.resize(model.files.size());
        for (std::size_t i = 0; i < model.files.size(); ++i) {
            auto& f = entry->files[i];
            f.model = entry.get();
            f.index = i;
            f.spec = std::move(model.files[i]);
            sizes.push_back(f.spec.size);
        }
        // The entries own the specs now: the emptied vector keeps no capacity (ten thousand
        // files' worth is megabytes).
        model.files = {};
        entry->spec = std::move(model);
        entry->rate.set_rate(entry->spec.limit_rate);
        auto& m = *entry;
        s->queue.add(m.spec.id, m.spec.prio, sizes); // the id is new: add() reserved it
        s->models.emplace(m.spec.id, std::move(entry));
        s->arrival_signal.cancel(); // wakes wait()s that came first
        s->arrival_signal.expires_at(asio::steady_timer::time_point::max());
        if (s->stopped)
            s->cancel_model(m, false);
        s->request_schedule();
    });
    return out;
}

// The coroutines below run on the strand; the public members hop onto it with co_spawn. Each
// awaitable is named before it is awaited: g++ 12 may destroy temporaries of a co_await
// expression twice, which would release a captured shared_ptr one time too many.

asio::awaitable<model_result> engine::state::wait_on_strand(std::shared_ptr<state> s, std::string id) {
    for (;;) {
        auto it = s->models.find(id);
        if (it == s->models.end()) {
            if (!s->add_in_flight(id)) {
                model_result unknown;
                unknown.id = id;
                co_return unknown;
            }
            co_await s->arrival_signal.async_wait(use_nothrow);
            continue;
        }
        auto& m = *it->second;
        if (s->queue.done(id))
            co_return s->result_of(m);
        ++m.waiters; // a model with waiters is not forgotten (model_done)
        co_await m.done_signal.async_wait(use_nothrow);
        --m.waiters;
    }
}

asio::awaitable<std::vector<std::string>> engine::state::ids_on_strand(std::shared_ptr<state> s) {
    std::vector<std::pair<std::uint64_t, std::string>> order;
    for (auto& [id, m] : s->models)
        order.emplace_back(m->arrival, id);
    std::sort(order.begin(), order.end());
    std::vector<std::string> out;
    for (auto& [arrival, id] : order)
        out.push_back(id);
    // Models whose add() has not reached the strand yet come last; wait() waits for them.
    std::lock_guard lock(s->admission_mutex);
    for (auto& id : s->ids)
        if (!s->models.count(id))
            out.push_back(id);
    co_return out;
}

asio::awaitable<model_result> engine::wait(std::string id) {
    auto on_strand = state::wait_on_strand(state_, std::move(id));
    auto spawned = asio::co_spawn(strand_, std::move(on_strand), asio::use_awaitable);
    co_return co_await std::move(spawned);
}

asio::awaitable<std::optional<model_result>> engine::wait_for(std::string id, std::chrono::milliseconds timeout) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(co_await asio::this_coro::executor, timeout);
    auto waiting = wait(std::move(id));
    auto expiry = deadline.async_wait(asio::use_awaitable);
    auto race = std::move(waiting) || std::move(expiry);
    auto outcome = co_await std::move(race);
    if (outcome.index() == 0)
        co_return std::get<0>(std::move(outcome));
    co_return std::nullopt;
}

asio::awaitable<std::vector<model_result>> engine::wait_all() {
    auto on_strand = state::ids_on_strand(state_);
    auto spawned = asio::co_spawn(strand_, std::move(on_strand), asio::use_awaitable);
    std::vector<std::string> ids = co_await std::move(spawned);
    std::vector<model_result> results;
    for (auto& id : ids) {
        auto one = wait(id);
        results.push_back(co_await std::move(one));
    }
    co_return results;
}

bool engine::pause(std::optional<std::string> id) {
    if (id && !state_->known(*id))
        return false;
    asio::post(strand_, [s = state_, id = std::move(id)] {
        auto stopping = id ? s->queue.pause(*id) : s->queue.pause_all();
        for (auto& ref : stopping)
            s->models.at(ref.model)->files[ref.file].transfer->cancel();
    });
    return true;
}

bool engine::resume(std::optional<std::string> id) {
    if (id && !state_->known(*id))
        return false;
    asio::post(strand_, [s = state_, id = std::move(id)] {
        if (id)
            s->queue.resume(*id);
        else
            s->queue.resume_all();
        s->request_schedule();
    });
    return true;
}

bool engine::cancel(const std::string& id, bool discard) {
    if (!state_->known(id))
        return false;
    asio::post(strand_, [s = state_, id, discard] {
        if (auto it = s->models.find(id); it != s->models.end())
            s->cancel_model(*it->second, discard);
    });
    return true;
}

bool engine::set_priority(const std::string& id, priority p) {
    if (!state_->known(id))
        return false;
    asio::post(strand_, [s = state_, id, p] {
        if (auto it = s->models.find(id); it != s->models.end()) {
            s->queue.set_priority(id, p);
            it->second->spec.prio = p;
            // Requests already waiting for a connection keep their place; new ones take this.
            for (auto& f : it->second->files)
                if (f.transfer)
                    f.transfer->set_priority(p);
        }
        s->request_schedule();
    });
    return true;
}

asio::awaitable<std::optional<std::size_t>> engine::state::move_on_strand(std::shared_ptr<state> s, std::string id,
                                                                          int offset, position_origin how) {
    auto moved = s->queue.change_position(id, offset, how);
    if (moved)
        s->request_schedule();
    co_return moved;
}

asio::awaitable<std::optional<std::size_t>> engine::change_position(std::string id, int offset, position_origin how) {
    auto on_strand = state::move_on_strand(state_, std::move(id), offset, how);
    auto spawned = asio::co_spawn(strand_, std::move(on_strand), asio::use_awaitable);
    co_return co_await std::move(spawned);
}

void engine::set_max_files(std::size_t n) {
    asio::post(strand_, [s = state_, n] {
        s->queue.set_max_files(n);
        s->request_schedule();
    });
}

void engine::set_limit_rate(std::uint64_t rate) {
    asio::post(strand_, [s = state_, rate] {
        s->user_limit = rate;
        s->apply_limit();
    });
}

bool engine::set_limit_rate(const std::string& id, std::uint64_t rate) {
    if (!state_->known(id))
        return false;
    asio::post(strand_, [s = state_, id, rate] {
        if (auto it = s->models.find(id); it != s->models.end()) {
            it->second->spec.limit_rate = rate;
            it->second->rate.set_rate(rate);
        }
    });
    return true;
}

bool engine::set_limit_rate(const std::string& id, const std::string& file, std::uint64_t rate) {
    if (!state_->known(id))
        return false;
    asio::post(strand_, [s = state_, id, file, rate] {
        auto it = s->models.find(id);
        if (it == s->models.end())
            return;
        for (auto& f : it->second->files) {
            if (f.spec.path.generic_string() != file && f.spec.name != file)
                continue;
            f.spec.limit_rate = rate; // a file not started yet takes it when it starts
            if (f.transfer)
                f.transfer->set_limit_rate(rate);
        }
    });
    return true;
}

void engine::stop() {
    asio::post(strand_, [s = state_] {
        if (s->stopped)
            return;
        s->stopped = true;
        for (auto& [id, m] : s->models)
            s->cancel_model(*m, false);
        s->pacing_timer.cancel();
        s->host_cap_timer.cancel();
        s->pool.shutdown();
    });
}

subscription_id engine::subscribe(std::function<void(const event&)> subscriber) {
    auto id = ++state_->subscriptions;
    auto call = std::make_shared<const std::function<void(const event&)>>(std::move(subscriber));
    asio::dispatch(strand_, [s = state_, id, call = std::move(call)]() mutable { s->subscribers.emplace(id, std::move(call)); });
    return id;
}

void engine::unsubscribe(subscription_id id) {
    asio::dispatch(strand_, [s = state_, id] { s->subscribers.erase(id); });
}

const char* to_string(model_state s) noexcept {
    switch (s) {
    case model_state::waiting: return "waiting";
    case model_state::active: return "active";
    case model_state::paused: return "paused";
    case model_state::complete: return "complete";
    case model_state::error: return "error";
    case model_state::removed: return "removed";
    }
    return "waiting";
}

asio::awaitable<engine_stats> engine::state::stats_on_strand(std::shared_ptr<state> s) {
    engine_stats out;
    auto now = std::chrono::steady_clock::now();
    out.files_running = s->queue.running();
    out.files_queued = s->queued_files - s->queue.running();
    out.files_ended = s->files_ended;
    out.retries = s->retries;
    out.bytes_fetched = s->bytes_fetched;
    for (auto& [id, m] : s->models) {
        auto queued = s->queue.status(id).value_or(model_queue::model_status{});
        auto files = s->queue.file_states(id);
        model_stats ms;
        ms.id = id;
        ms.prio = queued.prio;
        ms.paused = queued.paused;
        ms.position = queued.position;
        bool all_ok = true;
        for (auto& f : m->files) {
            ++ms.files_total;
            if (f.transfer) {
                ++ms.files_running;
                ms.bytes_done += f.transfer->bytes_done();
                ms.bytes_total += f.transfer->size() ? f.transfer->size() : f.spec.size.value_or(0);
                out.connections_active += f.transfer->connections();
                out.bytes_fetched += f.transfer->bytes_fetched();
            } else if (f.index < files.size() && files[f.index] == file_state::finished) {
                if (f.result.outcome == file_outcome::done || f.result.outcome == file_outcome::skipped) {
                    ++ms.files_done;
                    ms.bytes_done += f.result.size;
                } else {
                    all_ok = false;
                    if (f.result.outcome == file_outcome::failed)
                        ++ms.files_failed;
                }
                ms.bytes_total += f.result.size;
            } else {
                ms.bytes_total += f.spec.size.value_or(0);
            }
        }
        ms.state = state_of(queued, all_ok);
        m->speed.record(now, s->fetched(*m));
        ms.speed = m->speed.rate(now).value_or(0);
        ms.eta_seconds = eta_of(ms, queued.done());
        out.models.push_back(std::move(ms));
    }
    s->speed.record(now, s->fetched());
    out.speed = s->speed.rate(now).value_or(0);
    out.pool = s->pool.totals();
    out.hosts = s->pool.per_origin();
    out.latency = s->latency;
    out.buffers_allocated = s->buffers.allocated();
    out.buffer_size = s->buffers.buffer_size();
    out.buffers_in_use = s->buffers.in_use();
    out.limit_rate = s->overall_rate.rate();
    if (s->pacing) {
        auto base = s->pacing->base_delay().value_or(std::chrono::microseconds(0));
        out.yielding = engine_stats::yield_state{static_cast<std::uint64_t>(base.count()),
                                                 static_cast<std::uint64_t>(s->pacing->queueing_delay().count())};
    }
    out.max_files = s->queue.max_files();
    std::vector<std::filesystem::path> dirs;
    for (auto& m : out.models)
        if (m.state == model_state::waiting || m.state == model_state::active || m.state == model_state::paused)
            dirs.push_back(s->models.at(m.id)->spec.dir);
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    out.resources = s->resources.sample(now, dirs);
    co_return out;
}

asio::awaitable<engine_stats> engine::stats() {
    auto on_strand = state::stats_on_strand(state_);
    auto spawned = asio::co_spawn(strand_, std::move(on_strand), asio::use_awaitable);
    co_return co_await std::move(spawned);
}

} // namespace ferry
