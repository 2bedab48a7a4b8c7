#include "engine/file_transfer.hpp"

#include "engine/blocking_work.hpp"
#include "engine/compact_strand.hpp"
#include "engine/file_error.hpp"
#include "memory/git_blob_id.hpp"
#include "net/error.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;
using kind = response_verdict::kind;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds progress_interval{250};
constexpr int max_validator_restarts = 3;
/// 200s in a row to ranged requests before the file goes on as one stream.
constexpr int max_strikes = 3;
/// A connection slow for this long is replaced (a new connection takes its claim on): at the tail
/// a slow one is hedged sooner, but mid-file it would cost its share of the file's speed.
constexpr std::chrono::milliseconds replace_slow_after{2000};

std::unique_ptr<response_verdict> stop_with(response_verdict v) { return std::make_unique<response_verdict>(std::move(v)); }
std::unique_ptr<response_verdict> transport_stop(const error_code& ec) { return stop_with(transport_verdict(ec)); }
std::unique_ptr<response_verdict> stopped() { return transport_stop(asio::error::operation_aborted); }

} // namespace

/// A connection with a response whose head has been read, and the claim it serves.
struct file_transfer::open_response {
    connection_pool::handle conn;
    buffer_pool::lease buffer;
    std::size_t mirror = 0;
    std::optional<std::size_t> claim;
    std::uint64_t request_end = 0;  ///< exclusive end of the bytes the open response carries
    /// The claim this worker takes next, its first request (up to next_request_end) sent ahead
    /// on `conn` while the current claim's last response arrives.
    std::optional<std::size_t> next_claim;
    std::uint64_t next_request_end = 0;
    std::chrono::steady_clock::time_point sent_at{}; ///< when the open response's request went out
    bool flowing = false;           ///< this worker's connections have delivered body bytes
    bool stream = false;            ///< a 200: the whole file from byte 0
    bool empty_file = false;        ///< the file has no bytes: nothing to read
};

file_transfer::file_transfer(transfer_context& context, const std::string& model, const std::filesystem::path& dir,
                             const file_spec& spec, rate_limiter* model_rate)
    : ctx_(context), model_(model), dir_(dir), spec_(spec),
      limiters_{&ctx_.overall_rate, model_rate, nullptr}, workers_done_(ctx_.executor) {
    if (spec_.limit_rate > 0)
        set_limit_rate(spec_.limit_rate);
    if (ctx_.writes)
        write_lane_ = compact_strand(ctx_.writes);
}

file_transfer::~file_transfer() {
    stop_warm_timer();
    end_handoffs();
    if (predecessor_)
        predecessor_->abandon();
}

void file_transfer::set_limit_rate(std::uint64_t rate) {
    if (!file_rate_) {
        if (rate == 0)
            return;
        file_rate_ = std::make_unique<rate_limiter>(ctx_.executor, rate);
        limiters_[2] = file_rate_.get(); // grants under way go on without it; the next ones ask it
        return;
    }
    file_rate_->set_rate(rate);
}

std::string file_transfer::origin() const {
    return mirrors_ && mirrors_->size() > 0 ? (*mirrors_)[0].current().origin() : std::string();
}

std::uint64_t file_transfer::bytes_done() const noexcept { return plan_ ? plan_->bytes_done() : streamed_; }

asio::awaitable<void> file_transfer::run() {
    co_await asio::this_coro::throw_if_cancelled(false);
    if (!set_up_mirrors()) {
        result_.outcome = file_outcome::failed;
        result_.error = failure_;
        result_.message = failure_message_;
        settle_result();
        co_return;
    }
    if (co_await already_there()) {
        result_.outcome = file_outcome::skipped;
        emit(event::kind::skipped);
        settle_result();
        co_return;
    }

    bool committed = false; // in place: a cancel that came during verification changes nothing
    open_sink();
    if (!failure_) {
        emit(event::kind::started);
        for (int restarts = 0;;) {
            auto end = co_await attempt();
            end_handoffs(); // its responses are over
            if (end == attempt_end::complete) {
                committed = co_await finish_file();
                break;
            }
            if (end == attempt_end::again && !cancelled_)
                continue;
            if (end == attempt_end::restart && !cancelled_) {
                if (++restarts > max_validator_restarts) {
                    fail(make_error_code(file_error::changed_too_often));
                    break;
                }
                co_await sink_.settle();
                start_over();
                continue;
            }
            if (failure_ && !cancelled_ && bytes_done() == 0) {
                co_await sink_.settle();
                sink_.discard(); // nothing written: nothing to resume, no empty .part left behind
            } else {
                co_await save_journal_now();
            }
            break;
        }
    }

    result_.size = size_.value_or(streamed_);
    result_.bytes_resumed = resumed_bytes_;
    if (cancelled_ && !committed) {
        result_.outcome = file_outcome::cancelled;
        emit(event::kind::cancelled);
    } else if (failure_) {
        result_.outcome = file_outcome::failed;
        result_.error = failure_;
        result_.message = failure_message_;
        emit(event::kind::failed, failure_message_);
    } else {
        result_.outcome = file_outcome::done;
        emit(event::kind::completed);
    }
    settle_result();
}

bool file_transfer::set_up_mirrors() {
    std::vector<url> urls;
    for (auto& text : spec_.urls) {
        auto parsed = parse_url(text);
        if (!parsed) {
            result_.url = text;
            fail(parsed.error(), "invalid URL: " + parsed.error().message());
            return false;
        }
        urls.push_back(*parsed);
    }
    if (urls.empty()) {
        fail(make_error_code(net_error::bad_url), "no URL given");
        return false;
    }
    result_.url = urls.front().redacted();
    mirrors_.emplace(std::move(urls));
    mirrors_->origin_fields = ctx_.config.headers;
    mirrors_->origin_fields.insert(mirrors_->origin_fields.end(), spec_.headers.begin(), spec_.headers.end());
    return true;
}

asio::awaitable<bool> file_transfer::already_there() {
    auto existing = existing_file_size(dir_, spec_.path);
    if (!existing)
        co_return false;
    if (spec_.size) {
        if (*existing != *spec_.size)
            co_return false;
        // A whole file read back: off the event loop. (The work is a named object: GCC 12 destroys
        // a temporary with captures in a co_await expression twice.)
        auto compare = [path = destination(), sha = spec_.sha256, git = spec_.git_blob_id] {
            return (!sha || sha256_of_file(path) == sha) && (!git || git_blob_id_of_file(path) == git);
        };
        bool same = co_await run_blocking(ctx_.blocking, std::move(compare));
        if (!same)
            co_return false;
        result_.size = *spec_.size;
        co_return true;
    }
    // A file from a URL list (no size known): ask the server whether it changed since, as
    // `curl -z` and `wget -N` do, with the validators stored beside it. A rerun fetches nothing.
    auto stored = existing_file_validators(dir_, spec_.path);
    if (stored.empty() || existing_file_size(dir_, spec_.path.string() + ".part"))
        co_return false;
    exchange_request check;
    check.head_only = true;
    check.priority = static_cast<int>(priority_);
    if (!stored.etag.empty())
        check.fields.emplace_back("If-None-Match", stored.etag);
    if (!stored.last_modified.empty())
        check.fields.emplace_back("If-Modified-Since", stored.last_modified);
    connection_pool::handle conn;
    auto answer = co_await range_exchange(ctx_, conn, *mirrors_, check);
    if (answer.verdict.what != kind::not_modified)
        co_return false;
    result_.size = *existing;
    co_return true;
}

void file_transfer::open_sink() {
    part_sink::options options;
    options.durable = ctx_.config.fsync;
    options.hash = spec_.sha256.has_value(); // nothing else reads the digest
    auto opened = part_sink::open(dir_, spec_.path, options);
    if (!opened) {
        fail(opened.error(), "cannot create " + (destination().string() + ".part") + ": " + opened.error().message());
        return;
    }
    sink_ = std::move(*opened);
    auto record = sink_.resume();
    if (!record || (spec_.size && *spec_.size != record->size))
        return;
    size_ = record->size;
    if (record->mirrors.empty() && (!record->etag.empty() || !record->last_modified.empty()))
        record->mirrors.push_back({(*mirrors_)[0].original.redacted(), record->etag, record->last_modified});
    mirrors_->restore(record->mirrors);
    plan_.emplace(record->size, ctx_.config.min_piece, record->done, ctx_.config.min_request);
    resumed_bytes_ = plan_->bytes_done();
    high_water_ = resumed_bytes_;
}

void file_transfer::cancel() {
    if (cancelled_)
        return;
    cancelled_ = true;
    stop_workers();
    self_signal_.emit(asio::cancellation_type::terminal);
}

void file_transfer::start_over() {
    // The server's file changed: what was written belongs to another version.
    plan_.reset();
    size_.reset();
    streamed_ = 0;
    resumed_bytes_ = 0;
    high_water_ = 0;
    strikes_ = 0;
    mirrors_->forget_validators();
    sink_.restart();
}

void file_transfer::end_attempt(attempt_end how) {
    if (!ending_)
        ending_ = how;
    stop_workers();
}

asio::awaitable<file_transfer::attempt_end> file_transfer::attempt() {
    stopping_ = false;
    ending_.reset();
    warmed_ = 0;

    std::shared_ptr<open_response> first;
    while (!first) {
        if (cancelled_)
            co_return attempt_end::cancelled;
        auto opened = co_await open_first_response();
        if (opened)
            first = std::make_shared<open_response>(std::move(*opened));
        else if (cancelled_ || ending_ || failure_)
            co_return cancelled_ ? attempt_end::cancelled : failure_ ? attempt_end::failed : *ending_;
    }
    if (first->empty_file)
        co_return attempt_end::complete;

    // One worker continues the first response; the others split what is left.
    std::size_t workers = 1;
    growth_.reset();
    if (!first->stream) {
        auto start = plan_start(pipe_.round_trip(), plan_->file_size() - plan_->bytes_done());
        if (start.growth)
            growth_ = std::make_unique<connection_growth>(*start.growth, std::chrono::steady_clock::now(), bytes_done());
        workers = start.workers;
    }
    unclaimed_workers_ = workers - 1; // (before the first: it may run at once, and claim)
    start_worker(first);
    for (std::size_t i = 1; i < workers; ++i)
        start_worker(nullptr);

    while (active_workers_ > 0) {
        workers_done_.expires_at(asio::steady_timer::time_point::max());
        co_await workers_done_.async_wait(use_nothrow);
        if (cancelled_)
            stop_workers();
    }
    worker_signals_.clear();

    if (cancelled_)
        co_return attempt_end::cancelled;
    if (failure_)
        co_return attempt_end::failed;
    if (ending_)
        co_return *ending_;
    if (plan_ ? plan_->complete() : first->stream)
        co_return attempt_end::complete;
    fail(make_error_code(file_error::incomplete));
    co_return attempt_end::failed;
}

file_transfer::start_plan file_transfer::plan_start(std::optional<std::chrono::steady_clock::duration> rtt,
                                                     std::optional<std::uint64_t> left) const {
    start_plan start;
    std::size_t wanted = ctx_.config.connections_per_file;
    const std::uint64_t pieces = left ? *left / ctx_.config.min_piece + 1 : std::numeric_limits<std::uint64_t>::max();
    // Less than a piece left is one connection's, whatever growth would say: no growth.
    if (wanted == 0 && pieces > 1) {
        auto& growth = start.growth.emplace();
        growth.ceiling = ctx_.config.max_connections_per_file;
        if (rtt)
            growth.interval = connection_growth::interval_for_round_trip(*rtt, growth.interval);
        // On a long path the start skips doublings, within the file's share of its host (and
        // 16, as many as a peer's most opens per file, when the share is less: the pool's
        // per-host cap still holds, and the small files among those running need one).
        // (Not when yielding to other traffic: there the pace decides.)
        if (rtt && !ctx_.pacing) {
            std::size_t files = std::max<std::size_t>(ctx_.files_running, 1);
            std::size_t share = std::max<std::size_t>(ctx_.config.max_connections_per_host / files, 16);
            auto initial = connection_growth::initial_for_round_trip(
                *rtt, growth.initial, std::max(growth.initial, std::min(growth.ceiling, share)));
            growth.double_first = initial == growth.initial;
            if (!growth.double_first)
                growth.after_baseline = 1.5; // then one measured step: a capped server rewards it
            growth.initial = initial;
        }
        wanted = connection_growth::initial_workers(growth);
    }
    start.workers = static_cast<std::size_t>(std::max<std::uint64_t>(1, std::min<std::uint64_t>(wanted, pieces)));
    return start;
}

std::size_t file_transfer::most_workers(std::optional<std::uint64_t> left) const {
    return plan_start(std::chrono::seconds(1), left).workers; // a path as long as any
}

void file_transfer::warm_connections(const url& where, std::size_t workers) {
    if (!ctx_.warm || workers <= warmed_ + 1)
        return;
    ctx_.warm(where, workers - 1 - warmed_);
    warmed_ = workers - 1;
}

namespace {
/// The shortest round trip that is a long path: below it a round trip costs a file little, and
/// files do not line up (the files in flight keep to max_files), connections are not opened
/// before the answer asks for them, nor claims taken before the one before ends.
constexpr std::chrono::milliseconds long_round_trip{10};
/// How often a first request without an answer opens more connections ahead: a first answer on a
/// new connection takes three round trips, so each 30 ms of waiting shows at least 10 ms more of
/// round trip, and the start doubles per 6 ms of it (connection_growth::initial_for_round_trip).
constexpr std::chrono::milliseconds warm_step{30};
} // namespace

bool file_transfer::long_path() const {
    auto rtt = pipe_.round_trip();
    return rtt && *rtt >= long_round_trip;
}

void file_transfer::arm_warm_timer(std::size_t mirror, std::chrono::steady_clock::time_point sent) {
    // (Files running as many as a host's connections allow leave it none to warm.)
    if (!ctx_.warm || ctx_.pacing || ctx_.files_running >= ctx_.config.max_connections_per_host)
        return;
    if (!warm_timer_)
        warm_timer_ = std::make_unique<asio::steady_timer>(ctx_.executor);
    const auto waited = std::chrono::steady_clock::now() - sent;
    warm_timer_->expires_at(sent + (waited / warm_step + 1) * warm_step);
    if (!awaiting_answer_)
        awaiting_answer_ = std::make_shared<bool>();
    *awaiting_answer_ = true;
    warm_timer_->async_wait([this, mirror, sent, awaiting = awaiting_answer_](error_code ec) {
        if (ec || !*awaiting)
            return; // stopped: the answer came, or this transfer is gone
        auto left = size_ ? size_ : spec_.size;
        // A first answer on a new connection takes three round trips (connect, TLS, request).
        warm_connections((*mirrors_)[mirror].current(),
                         plan_start((std::chrono::steady_clock::now() - sent) / 3, left).workers);
        if (warmed_ + 1 < most_workers(left))
            arm_warm_timer(mirror, sent); // a longer wait starts more
    });
}

void file_transfer::stop_warm_timer() noexcept {
    // Thousands of transfers each keep nothing of it once their answer came.
    if (awaiting_answer_)
        *std::exchange(awaiting_answer_, nullptr) = false; // (a wait that has just ended is queued: it finds this)
    warm_timer_.reset(); // (cancels a wait in progress)
}

exchange_request file_transfer::first_request(std::size_t mirror, std::uint64_t begin,
                                              std::optional<std::uint64_t> end) const {
    auto r = range_request(mirror, begin, end);
    r.probing = true;
    r.size = size_ ? size_ : spec_.size;
    // Ranges were struck out: a 200 is now the way this file comes.
    r.accept_whole_body = strikes_ >= max_strikes;
    return r;
}

asio::awaitable<std::optional<file_transfer::open_response>> file_transfer::open_first_response() {
    open_response io;
    auto mirror = mirrors_->pick(first_requests_++);
    if (!mirror) {
        fail(make_error_code(file_error::no_mirror_left));
        co_return std::nullopt;
    }
    io.mirror = *mirror;

    std::uint64_t begin = 0;
    std::optional<std::uint64_t> end;
    if (plan_) {
        if (plan_->complete()) {
            io.empty_file = true; // everything is on disk already (journal): just verify
            co_return io;
        }
        // The first missing piece; the mirror's validator goes along in If-Range.
        auto claim = plan_->acquire(std::numeric_limits<std::size_t>::max());
        io.claim = claim->id;
        begin = claim->begin;
        end = claim->end;
    } else if (!spec_.size || *spec_.size > 0) {
        end = spec_.size ? std::min<std::uint64_t>(*spec_.size, ctx_.config.min_piece) : ctx_.config.min_piece;
    }

    auto request = first_request(io.mirror, begin, end);
    if (predecessor_) {
        auto taking = take_predecessor_connection(io, request);
        request.sent_ahead = co_await std::move(taking);
    }
    if (!request.sent_ahead && first_requests_ == 1 && !spec_.redirects &&
        most_workers(spec_.size) > 1)
        arm_warm_timer(io.mirror, std::chrono::steady_clock::now());
    connection_pool::handle left_for_redirect; // (with the line's requests on it)
    auto answer = co_await range_exchange(ctx_, io.conn, *mirrors_, request, &left_for_redirect);
    stop_warm_timer();
    // A redirect led elsewhere (the Hub's to its CDN): the line's answers come next on the
    // connection it left, which goes on to them.
    if (left_for_redirect) {
        auto handing = hand_over(left_for_redirect);
        co_await std::move(handing);
    }
    // The line's requests went ahead on the connection taken: they are lost when the answer came
    // on another one (the first was lost).
    if (auto sent = std::count_if(line_.begin(), line_.end(), [](const auto& h) { return h->sent(); });
        sent > 0 && (!io.conn || io.conn->queued_requests() != static_cast<std::size_t>(sent)))
        end_handoffs();
    const auto& v = answer.verdict;
    if (v.what != kind::accept) {
        if (io.claim)
            plan_->release(*io.claim);
        if (io.conn) {
            auto handing = hand_over(io.conn); // (a refused answer was read or dropped: the line's come next)
            co_await std::move(handing);
        }
        io.conn = {}; // closed now if poisoned, not after the back-off: the server stops sending
        co_await recover(v, io.mirror);
        co_return std::nullopt;
    }
    mirrors_->learn(io.mirror, v, begin > 0 || end.has_value());
    if (!request.sent_ahead || answer.sent_ahead_lost)
        first_byte_came(io, answer.first_byte);
    else if (line_round_trip_)
        first_byte_came(io, *line_round_trip_); // (its head came right after the response before)
    else
        io.sent_at = std::chrono::steady_clock::now();

    bool empty = answer.head->status == 416 || (v.whole_body && v.length_known && v.total == 0) ||
                 (v.whole_body && spec_.size == 0u);
    if (empty) {
        if (answer.head->status != 416)
            co_await io.conn->discard_body();
        if (io.claim)
            plan_->release(*io.claim);
        size_ = 0;
        plan_.emplace(0, ctx_.config.min_piece);
        if (auto ec = co_await sink_.prepare(0, ctx_.blocking)) {
            fail(ec, describe_write_error(ec));
            co_return std::nullopt;
        }
        io.empty_file = true;
        co_return io;
    }

    if (!v.whole_body) {
        strikes_ = 0;
        if (!plan_) {
            size_ = v.total;
            plan_.emplace(*size_, ctx_.config.min_piece, std::vector<byte_range>{}, ctx_.config.min_request);
            io.claim = plan_->acquire(std::numeric_limits<std::size_t>::max())->id;
            // On a long path the other connections open while the file is made ready (its size
            // set, a journal).
            if (long_path())
                warm_connections((*mirrors_)[io.mirror].current(),
                                 plan_start(pipe_.round_trip(), *size_ - std::min(*end, *size_)).workers);
            if (auto ec = co_await sink_.prepare(*size_, ctx_.blocking)) {
                fail(ec, describe_write_error(ec));
                co_return std::nullopt;
            }
        }
        io.request_end = std::min(*end, *size_);
        // A file that this one response completes needs no journal.
        if (io.request_end < *size_ || resumed_bytes_ > 0)
            co_await save_journal_now();
        co_return io;
    }

    // A 200: the whole file from its first byte, in one stream. What is already written stays.
    if (io.claim)
        plan_->release(*io.claim);
    io.claim.reset();
    io.stream = true;
    if (v.length_known) {
        if (!plan_ || plan_->file_size() != v.total) {
            size_ = v.total;
            plan_.emplace(*size_, ctx_.config.min_piece);
            if (auto ec = co_await sink_.prepare(*size_, ctx_.blocking)) {
                fail(ec, describe_write_error(ec));
                co_return std::nullopt;
            }
        }
    } else {
        plan_.reset();
        size_.reset();
        streamed_ = 0;
        if (auto ec = sink_.prepare_stream()) {
            fail(ec, describe_write_error(ec));
            co_return std::nullopt;
        }
    }
    co_return io;
}

asio::awaitable<bool> file_transfer::recover(const response_verdict& v, std::size_t& mirror) {
    if (stopping_ || failure_ || cancelled_ || v.error == asio::error::operation_aborted)
        co_return false;
    switch (v.what) {
    case kind::accept:
    case kind::not_modified:
    case kind::redirect:
        co_return true;
    case kind::restart:
        end_attempt(attempt_end::restart);
        co_return false;
    case kind::strike:
        if (++strikes_ >= max_strikes) {
            // The mirror keeps ignoring ranges: go on as one stream, keeping what is written.
            end_attempt(attempt_end::again);
            co_return false;
        }
        co_return co_await back_off(v.error);
    case kind::re_resolve:
        // The signed URL expired: the original URL hands out a fresh one, at once.
        mirrors_->re_resolve(mirror);
        co_return co_await back_off(v.error, std::chrono::milliseconds(0));
    case kind::drop_mirror: {
        mirrors_->drop(mirror);
        auto next = mirrors_->next_after(mirror);
        if (!next) {
            fail(v.error, v.message);
            co_return false;
        }
        mirror = *next;
        co_return true;
    }
    case kind::retry:
        if (v.error == file_error::slow_connection)
            co_return true; // a fresh connection at once: nothing failed
        if (v.host_pushback || v.error == asio::error::connection_reset)
            if (growth_)
                growth_->on_pushback(std::chrono::steady_clock::now()); // fewer connections to this host
        co_return co_await back_off(v.error, v.host_pushback ? v.host_pause : std::nullopt);
    }
    co_return false;
}

void file_transfer::start_worker(std::shared_ptr<open_response> first) {
    auto& signal = worker_signals_.emplace_back(std::make_unique<asio::cancellation_signal>());
    ++active_workers_;
    std::size_t index = next_worker_++;
    asio::co_spawn(ctx_.executor, worker(index, std::move(first), signal.get()),
                   asio::bind_cancellation_slot(signal->slot(), [this](std::exception_ptr, bool retired) {
                       if (retired)
                           --retiring_;
                       if (--active_workers_ == 0)
                           workers_done_.cancel();
                   }));
}

void file_transfer::stop_workers() {
    stopping_ = true;
    for (auto& signal : worker_signals_)
        signal->emit(asio::cancellation_type::terminal);
}

asio::awaitable<bool> file_transfer::worker(std::size_t index, std::shared_ptr<open_response> first,
                                            asio::cancellation_signal* stop) {
    co_await asio::this_coro::throw_if_cancelled(false);
    open_response io;
    // However the worker ends, it no longer counts among those flowing.
    struct flow_guard {
        const open_response& io;
        std::size_t& flowing;
        ~flow_guard() {
            if (io.flowing)
                --flowing;
        }
    } guard{io, flowing_};
    // Workers started together share the free space in equal claims (claimants()): the first
    // would otherwise take it all, and each next one steal half of the largest. Each counts
    // among those to come until its first claim (or its end).
    struct unclaimed_guard {
        std::size_t* unclaimed;
        void claiming() {
            if (unclaimed && *unclaimed > 0)
                --*unclaimed;
            unclaimed = nullptr;
        }
        ~unclaimed_guard() { claiming(); }
    } unclaimed{first ? nullptr : &unclaimed_workers_};
    bool request_open = false;
    if (first) {
        io = std::move(*first);
        request_open = !io.stream;
    } else {
        auto mirror = mirrors_->pick(index);
        if (!mirror)
            co_return false;
        io.mirror = *mirror;
    }
    if (io.stream) {
        auto streaming = stream_worker(io);
        co_await std::move(streaming);
        co_return false;
    }

    while (!stopping_) {
        // (A claim whose request went ahead is fetched first: its answer is on the way.)
        if (!request_open && !io.next_claim && retiring()) {
            ++retiring_;
            co_return true;
        }
        std::optional<std::uint64_t> sent_ahead_to;
        if (io.next_claim) {
            io.claim = std::exchange(io.next_claim, std::nullopt);
            sent_ahead_to = io.next_request_end;
        } else if (!request_open) {
            // A connection first, then a claim: bytes claimed while a connection opens (round
            // trips) or waits for room at its host would wait with it, while the connections
            // already flowing run out of work. (None is opened with nothing to claim.)
            if (plan_->has_work()) {
                if (auto refused = co_await connect(io, stop)) {
                    io.conn = {};
                    if (plan_->complete() || !co_await recover(*refused, io.mirror))
                        break;
                    continue;
                }
            }
            unclaimed.claiming();
            auto claim = plan_->acquire(claimants());
            if (!claim)
                claim = co_await hedge_or_wait();
            if (!claim)
                break;
            io.claim = claim->id;
        }
        hedge_.started(*io.claim, std::chrono::steady_clock::now());
        claim_workers_[*io.claim] = stop;
        auto v = co_await fetch_claim(io, request_open, sent_ahead_to);
        request_open = false;
        hedge_.ended(*io.claim);
        claim_workers_.erase(*io.claim);
        plan_->release(*io.claim);
        io.claim.reset();
        if (hedge_watcher_ && plan_->complete())
            hedge_watcher_->cancel(); // nothing left to hedge: the file ends now
        if (!v)
            continue;
        drop_next_claim(io); // its request went on the connection given up now
        if (io.conn && line_connection() == &*io.conn)
            end_handoffs(); // and so did the line's
        io.conn = {};
        if (!co_await recover(*v, io.mirror))
            break;
    }
    drop_next_claim(io);
    co_return false;
}

asio::awaitable<void> file_transfer::stream_worker(open_response& io) {
    try {
        io.buffer = co_await ctx_.buffers.acquire();
    } catch (const boost::system::system_error&) {
        co_return; // cancelled while waiting for memory
    }
    // One stream carries the file: when it breaks off, a new attempt asks again.
    if (auto v = co_await fetch_stream(io); v && co_await recover(*v, io.mirror))
        end_attempt(attempt_end::again);
}

asio::awaitable<file_transfer::stop_reason> file_transfer::connect(open_response& io,
                                                                   asio::cancellation_signal* stop) {
    if (mirrors_->needs_fresh_url(io.mirror, std::chrono::system_clock::now()))
        mirrors_->re_resolve(io.mirror);
    connecting_.push_back(stop);
    auto readying = ready_connection(ctx_, io.conn, (*mirrors_)[io.mirror].current(), static_cast<int>(priority_));
    auto ec = co_await std::move(readying);
    std::erase(connecting_, stop);
    if (ec)
        co_return transport_stop(ec);
    co_return nullptr;
}

void file_transfer::drop_next_claim(open_response& io) {
    if (io.next_claim)
        plan_->release(*std::exchange(io.next_claim, std::nullopt));
}

asio::awaitable<void> file_transfer::send_next_claim_ahead(open_response& io, std::uint64_t request_end,
                                                           std::uint64_t pos) {
    // As send_ahead does within a claim, across claims: the next claim is taken (free space, or
    // a steal) about two round trips before this one ends, and its first request goes out on the
    // same connection, so that the connection does not wait a round trip between claims.
    if (io.next_claim || !ahead_in_time(io, request_end, pos))
        co_return;
    auto next = plan_->acquire(claimants());
    if (!next)
        co_return;
    const std::uint64_t next_end = next_request_end(next->id, next->begin);
    plan_->set_requested(next->id, next_end);
    io.next_claim = next->id;
    io.next_request_end = next_end;
    const auto request = range_request(io.mirror, next->begin, next_end);
    auto sending = send_range_ahead(ctx_, io.conn, *mirrors_, request, time_to_receive(request_end - pos));
    if (co_await std::move(sending))
        drop_next_claim(io);
}

bool file_transfer::ahead_in_time(const open_response& io, std::uint64_t request_end, std::uint64_t pos) const {
    // Once the response has about two round trips of data left: the next request's answer then
    // follows its last byte with no round trip in between.
    const std::uint64_t ahead_at =
        std::max<std::uint64_t>(ctx_.buffers.buffer_size(), 2 * pipe_.round_trip_bytes());
    return send_ahead_works_ && pos < request_end && request_end - pos <= ahead_at && !stopping_ && !retiring() &&
           io.conn->can_send_ahead();
}

std::uint64_t file_transfer::next_request_end(std::size_t claim, std::uint64_t from) const {
    // Requests of a quarter of the claim, smaller near the file's end: a steal then usually
    // splits between requests instead of cutting a response short. Never less than a few round
    // trips of data, though: each request costs its connection one.
    return from + request_window(plan_->end(claim) - from, plan_->file_size() - plan_->bytes_done(), active_workers_,
                                 ctx_.config.min_request, ctx_.config.max_request, least_request());
}

exchange_request file_transfer::range_request(std::size_t mirror, std::uint64_t begin,
                                              std::optional<std::uint64_t> end) const {
    exchange_request r;
    r.mirror = mirror;
    r.begin = begin;
    r.end = end;
    r.size = size_;
    r.size_from_manifest = spec_.size.has_value();
    r.priority = static_cast<int>(priority_);
    return r;
}

std::size_t file_transfer::claimants() const {
    return 1 + unclaimed_workers_;
}

std::uint64_t file_transfer::least_request() const {
    // A request sent ahead hides the round trip before its answer: it only has to outlast the
    // wait (about two round trips). Without that, each request leaves its connection idle for a
    // round trip, and several round trips of data keep that a small part of the time.
    return send_ahead_works_ ? 2 * pipe_.round_trip_bytes() : pipe_.bytes();
}

asio::awaitable<std::optional<std::uint64_t>> file_transfer::send_ahead(open_response& io, std::size_t claim,
                                                                         std::uint64_t request_end, std::uint64_t pos) {
    // The claim's next request goes out on the same connection in time (ahead_in_time) while its
    // response arrives (a steal still splits between the two, or cuts the second as any response).
    if (plan_->end(claim) <= request_end || !ahead_in_time(io, request_end, pos))
        co_return std::nullopt;
    std::uint64_t next_end = next_request_end(claim, request_end);
    plan_->set_requested(claim, next_end);
    const auto next = range_request(io.mirror, request_end, next_end);
    auto sending = send_range_ahead(ctx_, io.conn, *mirrors_, next, time_to_receive(request_end - pos));
    if (co_await std::move(sending)) {
        plan_->set_requested(claim, request_end);
        co_return std::nullopt;
    }
    co_return next_end;
}

std::optional<std::chrono::steady_clock::duration> file_transfer::time_to_receive(std::uint64_t bytes) const {
    auto rate = pipe_.rate();
    if (!rate || *rate <= 0)
        return std::nullopt;
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(double(bytes) / *rate));
}

namespace {
/// Requests queued on a connection at most for the files in line: enough to cover a round trip
/// of small files.
constexpr std::size_t line_depth = 4;
/// How long a connection whose last response came at once waits for the next file in line to
/// offer its request (it is being started): a new connection would cost round trips.
constexpr std::chrono::milliseconds offer_wait{20};
} // namespace

asio::awaitable<void> file_transfer::pass_on(open_response& io, std::size_t claim, std::uint64_t request_end,
                                             std::uint64_t pos) {
    if (stopping_)
        co_return;
    // Only for the file's last response: all that is still missing is the rest of it.
    bool last = request_end >= plan_->end(claim) && plan_->file_size() - plan_->bytes_done() == plan_->end(claim) - pos;
    if (!successors_asked_ && last && ctx_.successor && long_path() && io.conn->can_send_ahead(line_depth)) {
        successors_asked_ = true;
        while (line_.size() < line_depth) {
            auto next = ctx_.successor(io.conn->origin());
            if (!next)
                break;
            line_.push_back(std::move(next));
        }
    }
    auto sending = send_line(io.conn, time_to_receive(request_end - pos));
    co_await std::move(sending);
}

const connection* file_transfer::line_connection() const noexcept {
    for (const auto& handoff : line_)
        if (handoff->sent())
            return handoff->sent_on();
    return nullptr;
}

bool file_transfer::line_rides_elsewhere(const connection_pool::handle& conn) const noexcept {
    auto on = line_connection();
    return on && (!conn || on != &*conn);
}

asio::awaitable<void> file_transfer::send_line(connection_pool::handle& conn,
                                               std::optional<std::chrono::steady_clock::duration> wait) {
    if (line_rides_elsewhere(conn))
        co_return; // the line rides on another connection of this file
    // The line keeps the order of the wire: those sent first, then the others as they go.
    std::size_t sent = 0;
    while (sent < line_.size() && line_[sent]->sent())
        ++sent;
    for (std::size_t i = sent; i < line_.size() && conn && conn->can_send_ahead(line_depth); ++i) {
        if (!line_[i]->wants_sending())
            continue;
        auto handoff = line_[i];
        auto sending = handoff->send_ahead(ctx_, conn, wait, line_depth);
        if (!co_await std::move(sending))
            break;
        auto it = std::find(line_.begin(), line_.end(), handoff); // (the line may have moved meanwhile)
        if (it == line_.end() || it < line_.begin() + static_cast<std::ptrdiff_t>(sent))
            break;
        std::rotate(line_.begin() + static_cast<std::ptrdiff_t>(sent), it, it + 1);
        ++sent;
    }
}

asio::awaitable<void> file_transfer::hand_over(connection_pool::handle& conn) {
    if (line_.empty())
        co_return;
    if (line_rides_elsewhere(conn))
        co_return; // another worker's response ends first: the line goes on with its connection
    if (conn && conn->reusable()) {
        // The response came before the next files offered their requests: they are on their
        // way (being started), and go together rather than a round trip apart.
        const auto until = std::chrono::steady_clock::now() + offer_wait;
        auto waiting_for = line_;
        for (auto& next : waiting_for) {
            auto waiting = next->wait_offer(until - std::chrono::steady_clock::now());
            co_await std::move(waiting);
        }
        auto sending = send_line(conn, time_to_receive(0));
        co_await std::move(sending);
    }
    if (line_.empty() || !line_.front()->sent()) {
        end_handoffs(); // nothing went: they ask the pool
        co_return;
    }
    auto first = line_.front();
    connection_handoff::line rest(std::make_move_iterator(line_.begin() + 1), std::make_move_iterator(line_.end()));
    line_.clear();
    first->settle(conn, std::move(rest), pipe_.round_trip());
}

asio::awaitable<bool> file_transfer::take_predecessor_connection(open_response& io, const exchange_request& request) {
    auto handoff = std::move(predecessor_); // once: a later attempt asks the pool
    handoff->offer(*mirrors_, request);
    auto taking = handoff->take(io.conn, line_);
    bool sent = co_await std::move(taking);
    line_round_trip_ = handoff->round_trip();
    co_return sent;
}

asio::awaitable<file_transfer::stop_reason> file_transfer::request_range(open_response& io, std::uint64_t begin,
                                                                          std::uint64_t end, bool sent_ahead) {
    auto r = range_request(io.mirror, begin, end);
    r.sent_ahead = sent_ahead;
    auto answer = co_await range_exchange(ctx_, io.conn, *mirrors_, r);
    if (answer.sent_ahead_lost)
        send_ahead_works_ = false; // the server drops what comes after a response: no more
    if (answer.verdict.what != kind::accept)
        co_return stop_with(std::move(answer.verdict));
    strikes_ = 0;
    mirrors_->learn(io.mirror, answer.verdict, true);
    if (sent_ahead && !answer.sent_ahead_lost)
        io.sent_at = std::chrono::steady_clock::now() - pipe_.round_trip().value_or(answer.first_byte);
    else
        first_byte_came(io, answer.first_byte);
    co_return nullptr;
}

asio::awaitable<file_transfer::body_taken> file_transfer::take_body(open_response& io, std::size_t id,
                                                                     std::uint64_t pos, std::size_t granted) {
    body_taken out;
    try {
        io.buffer = co_await ctx_.buffers.acquire();
    } catch (const boost::system::system_error&) {
        give_back_all(limiters_, granted);
        out.stopped = true; // cancelled while waiting for memory
        co_return out;
    }
    // Fill the buffer (TLS hands out 16 KiB records) before one positional write, with what the
    // connection holds now.
    std::size_t filled = 0;
    while (filled < granted) {
        if (filled > 0 && !io.conn->body_ready())
            break; // write what came and give the buffer back rather than wait holding it
        auto n = co_await io.conn->read_body(io.buffer.data() + filled, granted - filled);
        if (!n || *n == 0) {
            out.read_error = n ? make_error_code(net_error::body_too_short) : n.error();
            break;
        }
        filled += *n;
        auto now = std::chrono::steady_clock::now();
        hedge_.received(id, *n, now);
        sample_round_trip(*io.conn, now);
        if (filled >= plan_->end(id) - pos)
            break; // another worker took the rest of this claim meanwhile
        if (!plan_->twin(id) && hedge_.slow(id, now, replace_slow_after)) {
            out.replace = true; // keep what came, then go on over another connection
            break;
        }
    }
    give_back_all(limiters_, granted - filled);
    result_.bytes_fetched += filled;
    // Bytes that arrived before an error are good: keep them.
    std::size_t usable = static_cast<std::size_t>(std::min<std::uint64_t>(filled, plan_->end(id) - pos));
    if (usable > 0) {
        auto storing = store(pos, io.buffer.data(), usable);
        if (auto ec = co_await std::move(storing)) {
            fail(ec, describe_write_error(ec));
            out.stopped = true;
            co_return out;
        }
        // A thief may have cut the claim meanwhile: advance() keeps to its new end (the bytes
        // past it, the same ones, are the thief's to write and count).
        plan_->advance(id, usable);
        if (plan_->complete())
            for (auto* waiting : std::exchange(connecting_, {}))
                waiting->emit(asio::cancellation_type::terminal); // nothing left to connect for
        out.stored = usable;
        settle_hedge(id);
        if (!io.flowing) {
            io.flowing = true;
            ++flowing_;
        }
        maybe_grow();
    }
    io.buffer = {};
    co_return out;
}

asio::awaitable<file_transfer::stop_reason> file_transfer::fetch_claim(open_response& io, bool request_open,
                                                                        std::optional<std::uint64_t> ahead_end) {
    const std::size_t id = *io.claim;
    // ahead_end: the end of the claim's request sent ahead on io.conn
    while (plan_->cursor(id) < plan_->end(id)) {
        std::uint64_t pos = plan_->cursor(id);
        const std::uint64_t request_begin = pos;
        std::uint64_t request_end;
        if (request_open) {
            request_end = io.request_end;
            plan_->set_requested(id, request_end);
            request_open = false;
        } else {
            const bool sent = ahead_end.has_value();
            if (sent) {
                request_end = *ahead_end;
                ahead_end.reset();
            } else {
                if (retiring())
                    co_return nullptr; // the rest of the claim goes back to the plan
                request_end = next_request_end(id, pos);
                plan_->set_requested(id, request_end);
            }
            auto requesting = request_range(io, pos, request_end, sent);
            if (auto refused = co_await std::move(requesting))
                co_return std::move(refused);
        }

        while (pos < request_end && pos < plan_->end(id) && !stopping_) {
            if (!ahead_end) {
                auto passing = pass_on(io, id, request_end, pos);
                co_await std::move(passing);
            }
            std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(ctx_.buffers.buffer_size(), std::min(request_end, plan_->end(id)) - pos));
            std::size_t granted = want;
            if (any_limited(limiters_)) {
                auto tokens = grant(want);
                auto granted_or = co_await std::move(tokens);
                if (!granted_or)
                    co_return stopped();
                granted = *granted_or;
            }
            // Bytes first, then a buffer: a connection waiting for its server (thousands of slow
            // ones, or one between requests) holds none, and takes one back only to read.
            if (auto ec = co_await io.conn->wait_body()) {
                io.conn->poison();
                give_back_all(limiters_, granted);
                co_return transport_stop(ec);
            }
            auto taking = take_body(io, id, pos, granted);
            const body_taken taken = co_await std::move(taking);
            if (taken.stopped)
                co_return stopped();
            pos += taken.stored;
            if (taken.read_error)
                co_return transport_stop(taken.read_error);
            if (!ahead_end && !taken.replace)
                ahead_end = co_await send_ahead(io, id, request_end, pos);
            if (!ahead_end && !taken.replace && plan_->end(id) <= request_end && long_path()) {
                auto sending = send_next_claim_ahead(io, request_end, pos);
                co_await std::move(sending);
            }
            if (taken.replace) {
                io.conn->poison();
                auto slow = std::make_unique<response_verdict>(); // kind::retry, on a fresh connection
                slow->error = make_error_code(file_error::slow_connection);
                slow->discard_connection = true;
                co_return slow;
            }
        }
        if (pos < request_end) {
            io.conn->poison(); // the rest of this response is not ours to read
            ahead_end.reset();
            drop_next_claim(io);
            end_handoffs(); // (a request sent ahead for the next file goes with it)
        } else {
            pipe_.body(request_end - request_begin, std::chrono::steady_clock::now() - io.sent_at);
            // What is left of a response under two pipes' worth ends sooner than a thief's new
            // request would: not cut (its bytes would be sent twice, its connection lost).
            plan_->keep_responses_below(2 * least_request());
            auto handing = hand_over(io.conn); // the next files' answers may come next on it
            co_await std::move(handing);
        }
        if (stopping_)
            co_return stopped();
    }
    co_return nullptr;
}

asio::awaitable<std::optional<segment_plan::claim>> file_transfer::hedge_or_wait() {
    while (!stopping_ && !plan_->complete()) {
        if (auto claim = plan_->acquire(claimants()))
            co_return claim; // a failed or retiring connection gave its piece back
        std::vector<tail_hedge::candidate> alone; // claims in flight without a twin yet
        for (const auto& [id, worker] : claim_workers_)
            if (!plan_->twin(id))
                alone.push_back({id, plan_->end(id) - plan_->cursor(id)});
        if (auto victim = hedge_.pick(alone, std::chrono::steady_clock::now()))
            co_return plan_->hedge(*victim);
        if (hedge_watcher_ || alone.empty())
            co_return std::nullopt; // one watcher is enough; nothing left that could go slow
        // The last pieces are on other connections: look again in a while, in case one slows
        // down (a timer per file tail, not per byte).
        asio::steady_timer timer(ctx_.executor, ctx_.config.hedge_watch);
        hedge_watcher_ = &timer;
        co_await timer.async_wait(use_nothrow);
        hedge_watcher_ = nullptr;
        if (cancelled_)
            co_return std::nullopt;
    }
    co_return std::nullopt;
}

void file_transfer::settle_hedge(std::size_t claim) {
    auto twin = plan_->twin(claim);
    if (!twin || plan_->cursor(claim) < plan_->end(claim))
        return;
    // First complete wins: the other's request is cancelled (its end already dropped).
    if (auto it = claim_workers_.find(*twin); it != claim_workers_.end() && it->second)
        it->second->emit(asio::cancellation_type::terminal);
}

asio::awaitable<file_transfer::stop_reason> file_transfer::fetch_stream(open_response& io) {
    std::uint64_t pos = 0;
    for (;;) {
        std::size_t granted = io.buffer.size();
        if (any_limited(limiters_)) {
            auto tokens = grant(granted);
            auto granted_or = co_await std::move(tokens);
            if (!granted_or)
                co_return stopped();
            granted = *granted_or;
        }
        auto n = co_await io.conn->read_body(io.buffer.data(), granted);
        give_back_all(limiters_, granted - (n ? *n : 0));
        if (!n)
            co_return transport_stop(n.error());
        if (*n == 0)
            co_return nullptr;
        result_.bytes_fetched += *n;
        if (ctx_.pacing)
            sample_round_trip(*io.conn, std::chrono::steady_clock::now());
        if (plan_) {
            // Bytes written before (other ranges, an earlier stream) are not written again.
            for (auto part : plan_->take_free({pos, pos + *n})) {
                auto storing =
                    store(part.begin, io.buffer.data() + (part.begin - pos), static_cast<std::size_t>(part.size()));
                if (auto ec = co_await std::move(storing)) {
                    fail(ec, describe_write_error(ec));
                    co_return stopped();
                }
            }
        } else {
            auto storing = store(streamed_, io.buffer.data(), *n);
            if (auto ec = co_await std::move(storing)) {
                fail(ec, describe_write_error(ec));
                co_return stopped();
            }
            streamed_ += *n;
        }
        pos += *n;
    }
}

void file_transfer::first_byte_came(open_response& io, std::chrono::steady_clock::duration first_byte) {
    auto now = std::chrono::steady_clock::now();
    pipe_.first_byte(first_byte);
    io.sent_at = now - first_byte;
    // A request's first byte is a round trip of its own, fresh even when the transfers trickle
    // (the kernel's estimate moves only with full-sized segments).
    if (ctx_.pacing)
        ctx_.pacing->add_sample(now, std::chrono::duration_cast<std::chrono::microseconds>(first_byte));
}

void file_transfer::sample_round_trip(connection& conn, std::chrono::steady_clock::time_point now) {
    if (!ctx_.pacing || !ctx_.pacing->wants_sample(now))
        return;
    if (auto rtt = conn.round_trip_time())
        ctx_.pacing->add_sample(now, *rtt);
    conn.limit_receive_window(ctx_.pacing->receive_window());
}

asio::awaitable<boost::system::result<std::size_t>> file_transfer::grant(std::size_t want) {
    try {
        auto tokens = acquire_all(limiters_, want);
        co_return co_await std::move(tokens);
    } catch (const boost::system::system_error&) {
        co_return error_code(asio::error::operation_aborted);
    }
}

asio::awaitable<error_code> file_transfer::store(std::uint64_t offset, const std::byte* data, std::size_t size) {
    auto writing = sink_.write_on(write_lane_, offset, data, size);
    if (auto ec = co_await std::move(writing))
        co_return ec;
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ >= progress_interval) {
        last_progress_ = now;
        emit(event::kind::progress);
    }
    save_journal();
    co_return error_code{};
}

bool file_transfer::retiring() const {
    // The host pushed back: connections beyond the halved number retire between requests.
    return growth_ && growth_->pushback_limit() && active_workers_ - retiring_ > *growth_->pushback_limit();
}

void file_transfer::maybe_grow() {
    // (Not while workers started together are yet to claim: the first of them may already be
    // writing, and the count of those to come must stand until they have their shares.)
    if (!growth_ || !growth_->growing() || unclaimed_workers_ > 0)
        return;
    std::size_t wanted =
        growth_->workers_wanted(std::chrono::steady_clock::now(), bytes_done(), active_workers_, flowing_);
    // A new connection takes round trips (connect, handshake, request) before its first byte:
    // not worth it when the file's connections will have fetched the rest by about then.
    std::uint64_t left = plan_->file_size() - plan_->bytes_done();
    bool worth_it = left > 8 * ctx_.config.min_piece && left > active_workers_ * pipe_.bytes();
    if (!worth_it)
        return;
    unclaimed_workers_ = wanted > active_workers_ ? wanted - active_workers_ : 0;
    while (active_workers_ < wanted)
        start_worker(nullptr);
}

asio::awaitable<bool> file_transfer::back_off(const error_code& ec, std::optional<std::chrono::milliseconds> retry_after) {
    if (stopping_ || failure_)
        co_return false;
    attempt_failure failure;
    failure.retry_after = retry_after;
    failure.made_progress = bytes_done() > high_water_;
    high_water_ = std::max(high_water_, bytes_done());
    if (!retry_)
        retry_ = std::make_unique<retry_policy>(ctx_.config.retry);
    auto delay = retry_->next_delay(failure, std::chrono::steady_clock::now());
    if (!delay) {
        fail(ec);
        co_return false;
    }
    ++result_.retries;
    emit(event::kind::retried, describe(ec));
    asio::steady_timer timer(ctx_.executor, *delay);
    co_await timer.async_wait(use_nothrow);
    co_return !stopping_ && !cancelled_;
}

asio::awaitable<bool> file_transfer::finish_file() {
    co_await sink_.settle(); // a journal written after the commit would outlive the .part
    std::uint64_t size = size_.value_or(streamed_);
    if (spec_.size && *spec_.size != size) {
        fail(make_error_code(file_error::size_mismatch),
             "size mismatch: got " + std::to_string(size) + " bytes, expected " + std::to_string(*spec_.size));
        co_return false;
    }
    std::string message;
    if (auto ec = co_await sink_.verify(size, spec_.sha256, spec_.git_blob_id, ctx_.buffers, ctx_.blocking, message)) {
        fail(ec, message);
        co_return false;
    }
    if (spec_.sha256 || spec_.git_blob_id)
        emit(event::kind::verified);
    stored_validators validators;
    for (std::size_t i = 0; i < mirrors_->size() && validators.empty(); ++i)
        validators = {(*mirrors_)[i].etag, (*mirrors_)[i].last_modified};
    if (auto ec = co_await sink_.commit(validators, ctx_.blocking, message)) {
        fail(ec, message);
        co_return false;
    }
    co_return true;
}

std::optional<journal_record> file_transfer::journal_now() const {
    // Only ranges make a journal worth keeping: a file without them starts over in a new run.
    if (!plan_ || !size_ || !sink_.is_open())
        return std::nullopt;
    auto validators = mirrors_->validators();
    if (validators.empty())
        return std::nullopt;
    journal_record record;
    record.url = (*mirrors_)[0].original.redacted();
    record.size = *size_;
    record.etag = validators.front().etag;
    record.last_modified = validators.front().last_modified;
    record.mirrors = std::move(validators);
    record.done = plan_->done();
    return record;
}

void file_transfer::save_journal() {
    // Complete: the commit comes next, a journal would only be deleted again.
    if (!plan_ || plan_->complete() || !sink_.checkpoint_due(plan_->bytes_done(), plan_->file_size()))
        return;
    if (auto record = journal_now())
        sink_.checkpoint(*record, plan_->bytes_done(), ctx_.blocking);
}

asio::awaitable<void> file_transfer::save_journal_now() {
    auto record = journal_now();
    if (!record)
        co_return;
    auto saving = sink_.checkpoint_now(std::move(*record), plan_->bytes_done(), ctx_.blocking);
    co_await std::move(saving);
}

void file_transfer::fail(error_code ec, std::string message) {
    if (!failure_) {
        failure_ = ec;
        failure_message_ = message.empty() ? describe(ec) : std::move(message);
    }
    stop_workers();
}

std::string file_transfer::describe_write_error(const error_code& ec) const {
    std::string what = sink_.describe_write_error(ec);
    if (!size_)
        return what;
    if (ec == boost::system::errc::no_space_on_device)
        what += " (" + std::to_string(*size_ - bytes_done()) + " more bytes needed";
    else if (ec == boost::system::errc::file_too_large)
        what += " (the file is " + std::to_string(*size_) + " bytes";
    else
        return what;
    return what + (bytes_done() > 0 ? "; the partial file is kept for resuming)" : ")");
}

void file_transfer::emit(event::kind what, std::string message) {
    if (!ctx_.emit)
        return;
    event e;
    e.what = what;
    e.model = model_;
    e.file = spec_.name.empty() ? spec_.path.generic_string() : spec_.name;
    e.bytes = bytes_done();
    e.total = size_.value_or(spec_.size.value_or(0));
    e.message = std::move(message);
    if (what == event::kind::failed)
        e.error = failure_;
    ctx_.emit(e);
}

} // namespace ferry
