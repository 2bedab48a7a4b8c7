#include "tools/load/load_runner.hpp"

#include "net/error.hpp"
#include "net/tls_context.hpp"
#include "net/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <iostream>
#include <limits>

namespace ferry::load {
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t sink_size = 256 * 1024;
constexpr std::size_t keep_buffers_up_to = 2048; ///< connections

/// A short, stable name for what went wrong: the errors table of the summary.
std::string error_class(const boost::system::error_code& ec) {
    if (ec.category() == net_category()) {
        switch (net_error(ec.value())) {
        case net_error::connect_timeout: return "connect_timeout";
        case net_error::handshake_timeout: return "handshake_timeout";
        case net_error::first_byte_timeout: return "first_byte_timeout";
        case net_error::stall_timeout: return "stall_timeout";
        case net_error::body_too_short: return "body_too_short";
        case net_error::body_too_long: return "body_too_long";
        case net_error::bad_url: return "bad_url";
        default: return "net_error_" + std::to_string(ec.value());
        }
    }
    if (is_verify_error(ec))
        return "tls_verify";
    if (ec == asio::error::connection_refused)
        return "connection_refused";
    if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        return "connection_reset";
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        return "connection_closed";
    if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again)
        return "dns";
    if (ec == asio::error::timed_out)
        return "timeout";
    if (ec.category() == asio::error::get_ssl_category())
        return "tls";
    return "other";
}

/// Total size from `Content-Range: bytes a-b/total`.
std::optional<std::uint64_t> range_total(std::string_view content_range) {
    const auto slash = content_range.rfind('/');
    if (slash == std::string_view::npos)
        return std::nullopt;
    std::uint64_t total = 0;
    auto text = content_range.substr(slash + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), total);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return total;
}

/// Waits on a timer used as a condition variable: until cancel() or `until`.
asio::awaitable<void> sleep(asio::steady_timer& timer, clock::time_point until = clock::time_point::max()) {
    timer.expires_at(until);
    co_await timer.async_wait(use_nothrow);
}

} // namespace

bool scenario_report::rate_missed() const {
    return open_model(spec->executor) && due >= 1 && double(started) < 0.99 * due;
}

struct load_runner::vu {
    explicit vu(asio::any_io_executor ex) : wake(ex) {}
    asio::steady_timer wake;
    connection* in_flight = nullptr;      ///< the request's connection, closed by a hard stop
    std::optional<clock::time_point> job; ///< arrival-rate: the iteration given to it
    std::size_t index = 0;
    bool sleeping = false;
};

struct load_runner::scenario_run {
    scenario_run(asio::any_io_executor ex, scenario_report& r, std::size_t i)
        : report(r), index(i), signal(ex), controller(ex), hard_timer(ex) {}
    scenario_report& report;
    std::size_t index; ///< in the scenario file
    const scenario_spec& spec() const { return *report.spec; }
    std::vector<std::unique_ptr<vu>> vus;
    std::vector<vu*> idle; ///< arrival-rate: VUs waiting for an iteration
    std::optional<vu_ramp> ramp;
    std::optional<arrival_schedule> schedule;
    std::optional<vu_budget> budget;
    std::optional<iteration_pool> iterations;
    std::uint64_t target = 0; ///< ramping-vus: VUs wanted now
    clock::time_point start{}, end{}, hard_end{};
    std::size_t alive = 0;    ///< VU coroutines running
    bool stopping = false;    ///< past `end`: no new iterations
    bool killed = false;      ///< past `hard_end`: requests in flight were cut
    asio::steady_timer signal;     ///< wakes run_scenario when the last VU ends
    asio::steady_timer controller; ///< the ramp's or the arrival plan's clock
    asio::steady_timer hard_timer; ///< gracefulStop's end
};

load_runner::load_runner(asio::io_context& io, const load_spec& spec, runner_options options)
    : io_(io), spec_(spec), options_(std::move(options)), tls_(make_client_tls_context(options_.ca_file)),
      thresholds_(spec), random_(options_.seed), sizes_(spec.requests.size()), sink_(sink_size) {
    std::uint64_t vus = 0;
    for (auto& s : spec.scenarios)
        vus += s.peak_vus();
    pool_config config;
    config.max_connections = options_.max_connections ? options_.max_connections : std::max<std::uint64_t>(vus, 1);
    config.max_per_host = config.max_connections;
    config.max_connecting = options_.max_connecting;
    config.idle_timeout = 120s;
    // Up to a few thousand connections, each keeps its TLS buffers and reads many records per
    // system call (OpenSSL then allocates and frees no record buffer per request); beyond, idle
    // connections hold none, so that 10,000 fit in a few hundred MiB.
    if (config.max_connections <= keep_buffers_up_to)
        config.tls_read_ahead = 16 * 1024;
    config.timeouts = options_.timeouts;
    config.proxies = proxy_policy(options_.proxy, process_environment());
    // A load test measures failures; it does not shield the server from them.
    config.circuit.failure_threshold = std::numeric_limits<std::size_t>::max();
    pool_ = std::make_unique<connection_pool>(io.get_executor(), tls_, std::move(config));

    std::uint64_t sum = 0;
    for (auto& r : spec.requests) {
        cumulative_weights_.push_back(sum += r.weight);
        targets_.push_back(parse_url(r.url));
        http_request req;
        req.method = r.method;
        req.fields = r.headers;
        prepared_.push_back(std::move(req));
    }
    for (auto& s : spec.scenarios) {
        auto report = std::make_unique<scenario_report>();
        report->spec = &s;
        runs_.push_back(std::make_unique<scenario_run>(io.get_executor(), *report, runs_.size()));
        scenarios_.push_back(std::move(report));
    }
    all_done_ = std::make_unique<asio::steady_timer>(io);
    report_timer_ = std::make_unique<asio::steady_timer>(io);
}

load_runner::~load_runner() = default;

metric_set load_runner::overall() const {
    metric_set all;
    for (auto& s : scenarios_)
        all.merge(s->total);
    return all;
}

double load_runner::elapsed_seconds() const {
    const auto end = finished_ ? finished_at_ : clock::now();
    return std::chrono::duration<double>(end - start_).count();
}

std::int64_t load_runner::second_of(clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::seconds>(t - start_).count();
}

std::size_t load_runner::pick_request() {
    if (cumulative_weights_.size() == 1)
        return 0;
    const std::uint64_t x = std::uniform_int_distribution<std::uint64_t>(0, cumulative_weights_.back() - 1)(random_);
    return std::size_t(std::upper_bound(cumulative_weights_.begin(), cumulative_weights_.end(), x) -
                       cumulative_weights_.begin());
}

std::string load_runner::range_field(const request_spec& r, std::size_t index) {
    std::uint64_t first = 0;
    if (r.range.how == range_spec::kind::random && sizes_[index] && *sizes_[index] > r.range.bytes)
        first = std::uniform_int_distribution<std::uint64_t>(0, *sizes_[index] - r.range.bytes)(random_);
    return "bytes=" + std::to_string(first) + "-" + std::to_string(first + r.range.bytes - 1);
}

asio::awaitable<void> load_runner::run() {
    start_ = last_report_ = clock::now();
    start_wall_ = std::chrono::system_clock::now();
    scenarios_left_ = runs_.size();
    auto ex = co_await asio::this_coro::executor;
    for (auto& s : runs_) {
        auto job = run_scenario(*s);
        asio::co_spawn(ex, std::move(job), asio::detached);
    }
    auto reporter = report_loop();
    asio::co_spawn(ex, std::move(reporter), asio::detached);
    while (scenarios_left_ > 0)
        co_await sleep(*all_done_);
    finished_ = true;
    finished_at_ = clock::now();
    report_timer_->cancel();
    report(finished_at_);
    pool_->shutdown();
}

asio::awaitable<void> load_runner::report_loop() {
    for (std::int64_t second = 1; !finished_; ++second) {
        report_timer_->expires_at(start_ + std::chrono::seconds(second));
        auto [ec] = co_await report_timer_->async_wait(use_nothrow);
        if (ec || finished_)
            break;
        report(clock::now());
        if (aborted_)
            continue;
        if (auto failed = thresholds_.check_abort(second - 1)) {
            aborted_ = failed;
            abort_all();
        }
    }
}

void load_runner::report(clock::time_point now) {
    const double t = std::chrono::duration<double>(now - start_).count();
    const double span = std::chrono::duration<double>(now - last_report_).count();
    if (span <= 0.001 && finished_)
        return;
    last_report_ = now;
    if (hook_)
        hook_(t, span);
    for (auto& s : scenarios_) {
        if (s->running || s->interval.requests > 0) {
            series_point p;
            p.t = t;
            p.seconds = span;
            const auto& d = s->interval.of(trend::duration);
            p.p50 = double(d.value_at_percentile(50)) / 1000.0;
            p.p90 = double(d.value_at_percentile(90)) / 1000.0;
            p.p95 = double(d.value_at_percentile(95)) / 1000.0;
            p.p99 = double(d.value_at_percentile(99)) / 1000.0;
            p.p99_uncorrected = double(s->interval.of(trend::duration_uncorrected).value_at_percentile(99)) / 1000.0;
            p.requests_per_s = double(s->interval.requests) / span;
            p.bytes_per_s = double(s->interval.bytes) / span;
            p.errors_per_s = double(s->interval.failed) / span;
            p.vus = double(s->vus);
            s->series.add(p);
        }
        s->interval.reset();
    }
}

void load_runner::abort_all() {
    for (auto& s : runs_) {
        s->stopping = true;
        s->controller.cancel();
        hard_stop(*s);
    }
}

void load_runner::hard_stop(scenario_run& s) {
    s.stopping = true;
    s.killed = true;
    for (auto& v : s.vus) {
        if (v->in_flight)
            v->in_flight->close();
        v->wake.cancel();
    }
}

load_runner::vu& load_runner::add_vu(scenario_run& s) {
    s.vus.push_back(std::make_unique<vu>(io_.get_executor()));
    auto& v = *s.vus.back();
    v.index = s.vus.size() - 1;
    s.report.vus_max = std::max<std::uint64_t>(s.report.vus_max, s.vus.size());
    return v;
}

void load_runner::start_vu(scenario_run& s, vu& v, bool open) {
    ++s.alive;
    auto job = open ? open_vu(s, v) : closed_vu(s, v);
    asio::co_spawn(io_.get_executor(), std::move(job), [this, &s](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::cerr << "ferry load: a VU of " << s.spec().name << " failed: " << ex.what() << "\n";
            }
        }
        if (--s.alive == 0)
            s.signal.cancel();
    });
}

asio::awaitable<void> load_runner::run_scenario(scenario_run& s) {
    const auto& spec = s.spec();
    asio::steady_timer wait(io_);
    co_await sleep(wait, start_ + spec.start_time);
    if (!aborted_) {
        s.start = clock::now();
        s.end = s.start + spec.length();
        s.hard_end = s.end + spec.graceful_stop;
        s.report.running = true;
        // A hard stop at end + gracefulStop cuts whatever is still in flight.
        auto guard = guard_hard_stop(s);
        asio::co_spawn(io_.get_executor(), std::move(guard), asio::detached);

        switch (spec.executor) {
        case executor_kind::constant_vus:
        case executor_kind::shared_iterations:
            if (spec.executor == executor_kind::shared_iterations)
                s.iterations.emplace(spec.iterations);
            for (std::uint64_t i = 0; i < spec.vus; ++i)
                add_vu(s);
            s.report.vus = spec.vus;
            for (auto& v : s.vus)
                start_vu(s, *v, false);
            break;
        case executor_kind::ramping_vus: {
            s.ramp.emplace(double(spec.start_vus), spec.stages);
            for (std::uint64_t i = 0; i < s.ramp->peak(); ++i)
                add_vu(s);
            s.report.vus_max = 0;
            for (auto& v : s.vus)
                start_vu(s, *v, false);
            // The ramp's clock: wake the VUs it lets in, at each change of the target.
            while (!s.stopping) {
                const auto now = clock::now();
                s.target = s.ramp->target_at(now - s.start);
                s.report.vus = s.target;
                s.report.vus_max = std::max(s.report.vus_max, s.target);
                for (std::uint64_t i = 0; i < s.target && i < s.vus.size(); ++i)
                    if (s.vus[i]->sleeping)
                        s.vus[i]->wake.cancel();
                auto next = s.ramp->next_change(now - s.start);
                if (!next)
                    break;
                co_await sleep(s.controller, s.start + *next);
            }
            s.target = 0;
            s.stopping = true;
            for (auto& v : s.vus)
                v->wake.cancel();
            break;
        }
        case executor_kind::constant_arrival_rate:
        case executor_kind::ramping_arrival_rate: {
            if (spec.executor == executor_kind::constant_arrival_rate)
                s.schedule.emplace(arrival_schedule::constant(spec.rate, spec.duration, spec.time_unit));
            else
                s.schedule.emplace(spec.start_rate, spec.stages, spec.time_unit);
            s.budget.emplace(spec.pre_allocated_vus, spec.max_vus);
            s.report.due = s.schedule->total();
            for (std::uint64_t i = 0; i < spec.pre_allocated_vus; ++i)
                start_vu(s, add_vu(s), true);
            s.report.vus = spec.pre_allocated_vus;
            for (std::uint64_t i = 0; !s.stopping; ++i) {
                auto at = s.schedule->send_time(i);
                if (!at)
                    break;
                const auto due = s.start + std::chrono::duration_cast<clock::duration>(*at);
                if (clock::now() < due)
                    co_await sleep(s.controller, due);
                if (s.stopping)
                    break;
                switch (s.budget->take()) {
                case vu_budget::outcome::idle: {
                    vu* v = s.idle.back();
                    s.idle.pop_back();
                    v->job = due;
                    v->wake.cancel();
                    break;
                }
                case vu_budget::outcome::spawn: {
                    auto& v = add_vu(s);
                    v.job = due;
                    s.report.vus = s.vus.size();
                    start_vu(s, v, true);
                    break;
                }
                case vu_budget::outcome::dropped:
                    ++s.report.total.dropped;
                    ++s.report.interval.dropped;
                    thresholds_.add_dropped(s.index, second_of(due));
                    break;
                }
            }
            s.stopping = true;
            for (auto* v : s.idle)
                v->wake.cancel();
            break;
        }
        }
        // Closed-model VUs end by themselves at the scenario's end (or when the shared iterations
        // run out); the others were told to above.
        while (s.alive > 0)
            co_await sleep(s.signal);
        s.hard_timer.cancel();
        s.report.running = false;
        s.report.vus = 0;
        s.report.ran_seconds = std::chrono::duration<double>(clock::now() - s.start).count();
    }
    s.report.done = true;
    if (--scenarios_left_ == 0)
        all_done_->cancel();
}

asio::awaitable<void> load_runner::guard_hard_stop(scenario_run& s) {
    co_await sleep(s.hard_timer, s.hard_end);
    if (s.alive > 0 && clock::now() >= s.hard_end)
        hard_stop(s);
}

asio::awaitable<void> load_runner::closed_vu(scenario_run& s, vu& v) {
    const bool ramping = s.ramp.has_value();
    while (!s.stopping && clock::now() < s.end) {
        if (ramping && v.index >= s.target) {
            v.sleeping = true;
            co_await sleep(v.wake, s.end);
            v.sleeping = false;
            continue;
        }
        if (s.iterations && !s.iterations->claim())
            break;
        co_await iteration(s, v, clock::now());
    }
}

asio::awaitable<void> load_runner::open_vu(scenario_run& s, vu& v) {
    for (;;) {
        if (v.job) {
            const auto intended = *v.job;
            v.job.reset();
            co_await iteration(s, v, intended);
            s.budget->give_back();
        }
        if (s.stopping)
            break;
        s.idle.push_back(&v);
        v.sleeping = true;
        co_await sleep(v.wake);
        v.sleeping = false;
        if (!v.job)
            break; // woken by the end of the scenario
    }
}

asio::awaitable<void> load_runner::iteration(scenario_run& s, vu& v, clock::time_point intended) {
    ++s.report.started;
    const std::size_t index = pick_request();
    request_sample sample;
    sample.intended = intended;
    sample.started = clock::now();
    co_await request(v, spec_.requests[index], index, sample);
    if (s.killed && sample.failed)
        co_return; // cut by the hard stop: interrupted, not a server's failure
    s.report.total.add(sample);
    s.report.interval.add(sample);
    ++s.report.total.iterations;
    ++s.report.interval.iterations;
    const auto second = second_of(sample.done);
    thresholds_.add(s.index, second, sample);
    thresholds_.add_iteration(s.index, second);
}

asio::awaitable<void> load_runner::request(vu& v, const request_spec& r, std::size_t index, request_sample& sample) {
    const auto& target = targets_[index];
    auto fail = [&](const boost::system::error_code& ec) {
        sample.failed = true;
        sample.error_class = error_class(ec);
        sample.done = clock::now();
        if (sample.sent == clock::time_point{})
            sample.sent = sample.done;
    };
    if (!target) {
        fail(target.error());
        co_return;
    }
    std::optional<http_request> ranged;
    if (r.range.how != range_spec::kind::none) {
        ranged.emplace(prepared_[index]);
        ranged->fields.emplace_back("Range", range_field(r, index));
    }
    const http_request& req = ranged ? *ranged : prepared_[index];

    // A kept-alive connection the server closed meanwhile fails before any answer: once, the
    // request goes again on a new connection (as a browser or k6 would).
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto acquired = co_await pool_->acquire(*target);
        if (!acquired) {
            fail(acquired.error());
            co_return;
        }
        auto handle = std::move(*acquired);
        if (!handle.reused()) {
            sample.new_connection = true;
            sample.connecting = handle->connect_time();
            sample.tls_handshaking = handle->handshake_time();
        }
        v.in_flight = &*handle;
        sample.sent = clock::now();
        auto ec = co_await handle->send(*target, req);
        boost::system::result<response_head> head = ec;
        if (!ec)
            head = co_await handle->read_head();
        if (!head) {
            v.in_flight = nullptr;
            handle->poison();
            if (attempt == 0 && handle.reused() && head.error() != asio::error::operation_aborted)
                continue;
            fail(head.error());
            co_return;
        }
        sample.head = clock::now();
        sample.got_head = true;
        sample.status = head->status;
        if (!sizes_[index]) {
            if (head->status == 206)
                sizes_[index] = range_total(head->content_range);
            else if (head->status == 200 && head->content_length)
                sizes_[index] = head->content_length;
        }
        if (r.method != "HEAD") {
            for (;;) {
                auto n = co_await handle->read_body(sink_.data(), sink_.size());
                if (!n) {
                    v.in_flight = nullptr;
                    fail(n.error());
                    co_return;
                }
                if (*n == 0)
                    break;
                sample.bytes += *n;
                if (handle->body_remaining() == std::optional<std::uint64_t>(0))
                    break; // the whole body: no call just to hear that
            }
        }
        v.in_flight = nullptr;
        sample.done = clock::now();
        if (head->status >= 400) {
            sample.failed = true;
            sample.error_class = "http_" + std::to_string(head->status);
        }
        co_return;
    }
}

} // namespace ferry::load
