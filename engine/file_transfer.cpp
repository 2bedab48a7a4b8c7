#include "engine/file_transfer.hpp"

#include "net/error.hpp"
#include "net/http_fields.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// The journal is rewritten after this much time or this many new bytes, whichever comes first:
// a kill loses at most that much work, for a small write and rename.
constexpr std::chrono::milliseconds journal_interval{1000};
constexpr std::uint64_t journal_bytes = 4 * 1024 * 1024;
constexpr std::chrono::milliseconds progress_interval{250};
constexpr int max_validator_restarts = 3;

bool same_host(const url& a, const url& b) { return a.host == b.host; }

} // namespace

/// A connection with a response whose head has been read, and the claim it serves.
struct file_transfer::open_response {
    connection_pool::handle conn;
    buffer_pool::lease buffer;
    std::size_t mirror = 0;
    std::size_t claim = 0;
    bool has_claim = false;
    std::uint64_t request_end = 0;  ///< exclusive end of the bytes the open response carries
    bool stream = false;            ///< a 200 of unknown length: read to its end
    bool empty_file = false;        ///< the file has no bytes: nothing to read
};

file_transfer::file_transfer(transfer_context& context, std::string model, std::filesystem::path dir, file_spec spec,
                             rate_limiter* model_rate)
    : ctx_(context), model_(std::move(model)), dir_(std::move(dir)), spec_(std::move(spec)),
      file_rate_(ctx_.executor, spec_.limit_rate), limiters_{&ctx_.overall_rate, model_rate, &file_rate_},
      workers_done_(ctx_.executor) {}

file_transfer::~file_transfer() = default;

std::uint64_t file_transfer::bytes_done() const noexcept {
    if (plan_)
        return plan_->bytes_done();
    return streamed_;
}

asio::awaitable<file_result> file_transfer::run() {
    co_await asio::this_coro::throw_if_cancelled(false);
    result_.path = dir_ / spec_.path;

    for (auto& text : spec_.urls) {
        auto parsed = parse_url(text);
        if (!parsed) {
            result_.url = text;
            fail(parsed.error(), "invalid URL: " + parsed.error().message());
            result_.outcome = file_outcome::failed;
            result_.error = failure_;
            result_.message = failure_message_;
            co_return result_;
        }
        mirrors_.push_back(*parsed);
    }
    original_ = mirrors_;
    result_.url = mirrors_.empty() ? std::string() : mirrors_.front().redacted();
    if (mirrors_.empty()) {
        fail(make_error_code(net_error::bad_url), "no URL given");
        result_.error = failure_;
        result_.message = failure_message_;
        co_return result_;
    }

    // Already there from an earlier run?
    if (spec_.size) {
        auto existing = existing_file_size(dir_, spec_.path);
        if (existing && *existing == *spec_.size &&
            (!spec_.sha256 || sha256_of_file(result_.path) == spec_.sha256)) {
            result_.outcome = file_outcome::skipped;
            result_.size = *spec_.size;
            emit(event::kind::skipped);
            co_return result_;
        }
    }

    bool committed = false; // in place: a cancel that came during verification changes nothing
    // The model's directory may be new; what lies below it part_file creates beneath it.
    std::error_code dir_error;
    std::filesystem::create_directories(dir_, dir_error);
    auto opened = part_file::open(dir_, spec_.path);
    if (!opened) {
        fail(opened.error(), "cannot create " + (result_.path.string() + ".part") + ": " + opened.error().message());
    } else {
        part_ = std::move(*opened);
        journal_ = journal_path(part_.path());
        if (auto record = read_journal(journal_)) {
            auto on_disk = part_.size_on_disk();
            bool consistent = on_disk && *on_disk == record->size && (!spec_.size || *spec_.size == record->size);
            if (consistent) {
                size_ = record->size;
                etag_ = record->etag;
                last_modified_ = record->last_modified;
                plan_.emplace(record->size, ctx_.config.min_piece, record->done, ctx_.config.min_request);
                resumed_bytes_ = plan_->bytes_done();
            }
        }
        retry_.emplace(ctx_.config.retry);
        last_journal_ = std::chrono::steady_clock::now(); // the first one after a second or 4 MiB
        emit(event::kind::started);

        int validator_restarts = 0;
        for (;;) {
            auto end = co_await attempt();
            if (end == attempt_end::complete) {
                if (auto ec = co_await verify_and_commit())
                    fail(ec, failure_message_);
                else
                    committed = true;
                break;
            }
            if (end == attempt_end::restart && !cancelled_) {
                if (restart_changed_file_ && ++validator_restarts > max_validator_restarts) {
                    fail(make_error_code(net_error::validator_changed));
                    break;
                }
                // The server's file changed or it stopped honouring ranges: start from zero.
                // Bytes of a new version are progress; the same ones fetched again are not.
                before_restart_ = restart_changed_file_ ? 0 : std::max(before_restart_, bytes_done());
                plan_.reset();
                if (!ranges_supported_ || restart_changed_file_)
                    size_.reset();
                etag_.clear();
                last_modified_.clear();
                streamed_ = 0;
                hashed_ = 0;
                hash_ = sha256();
                resumed_bytes_ = 0;
                remove_journal(journal_);
                continue;
            }
            if (failure_ && !cancelled_ && bytes_done() == 0) {
                // Nothing was written (refused at the first request, or no room to preallocate):
                // there is nothing to resume, so leave no empty .part or journal behind.
                part_.discard();
                remove_journal(journal_);
            } else {
                save_journal(true);
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
    co_return result_;
}

void file_transfer::cancel() {
    if (cancelled_)
        return;
    cancelled_ = true;
    stopping_ = true;
    stop_workers();
    self_signal_.emit(asio::cancellation_type::terminal);
}

asio::awaitable<file_transfer::attempt_end> file_transfer::attempt() {
    stopping_ = false;
    restart_ = false;
    restart_changed_file_ = false;

    std::shared_ptr<open_response> first;
    for (;;) {
        if (cancelled_)
            co_return attempt_end::cancelled;
        auto opened = co_await open_first_response();
        if (opened) {
            first = std::make_shared<open_response>(std::move(*opened));
            break;
        }
        if (cancelled_)
            co_return attempt_end::cancelled;
        if (restart_)
            co_return attempt_end::restart;
        if (failure_ || !co_await back_off(opened.error(), false))
            co_return attempt_end::failed;
    }
    if (first->empty_file)
        co_return attempt_end::complete;

    // One worker continues the first response; the others split what is left.
    std::size_t workers = 1;
    growth_.reset();
    if (plan_ && ranges_supported_) {
        std::size_t wanted = ctx_.config.connections_per_file;
        if (wanted == 0) {
            connection_growth::settings growth;
            growth.ceiling = ctx_.config.max_connections_per_file;
            growth_.emplace(growth, std::chrono::steady_clock::now(), bytes_done());
            wanted = growth_->initial_workers();
        }
        std::uint64_t pieces = (plan_->file_size() - plan_->bytes_done()) / ctx_.config.min_piece + 1;
        workers = static_cast<std::size_t>(std::max<std::uint64_t>(1, std::min<std::uint64_t>(wanted, pieces)));
    }
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
    if (restart_)
        co_return attempt_end::restart;
    if (failure_)
        co_return attempt_end::failed;
    if (plan_ ? plan_->complete() : first->stream)
        co_return attempt_end::complete;
    fail(make_error_code(net_error::body_too_short));
    co_return attempt_end::failed;
}

asio::awaitable<boost::system::result<file_transfer::open_response>> file_transfer::open_first_response() {
    open_response io;
    io.mirror = static_cast<std::size_t>(result_.retries) % mirrors_.size();

    std::uint64_t begin = 0;
    std::optional<std::uint64_t> end;
    if (plan_) {
        if (plan_->complete()) {
            io.empty_file = true; // everything is on disk already (journal): just verify
            co_return io;
        }
        // The first missing piece; the validator goes along in If-Range.
        auto claim = plan_->acquire(std::numeric_limits<std::size_t>::max());
        io.claim = claim->id;
        io.has_claim = true;
        begin = claim->begin;
        end = claim->end;
    } else if (!spec_.size || *spec_.size > 0) {
        end = spec_.size ? std::min<std::uint64_t>(*spec_.size, ctx_.config.min_piece) : ctx_.config.min_piece;
    }

    auto head = co_await request(io.conn, io.mirror, begin, end, true);
    if (!head) {
        if (io.has_claim)
            plan_->release(io.claim);
        co_return head.error();
    }

    if (head->status == 416 || (head->status == 200 && head->content_length == 0) ||
        (head->status == 200 && spec_.size == 0u)) {
        // An empty file.
        if (head->status == 200)
            co_await io.conn->discard_body();
        size_ = 0;
        plan_.emplace(0, ctx_.config.min_piece);
        if (auto ec = part_.resize(0)) {
            fail(ec, "cannot write " + part_.path().string() + ": " + ec.message());
            co_return ec;
        }
        io.empty_file = true;
        co_return io;
    }

    if (head->status == 206) {
        if (!plan_) {
            plan_.emplace(*size_, ctx_.config.min_piece, std::vector<byte_range>{}, ctx_.config.min_request);
            auto claim = plan_->acquire(std::numeric_limits<std::size_t>::max());
            io.claim = claim->id;
            io.has_claim = true;
            if (auto ec = part_.preallocate(*size_)) {
                fail(ec, describe_write_error(ec));
                co_return ec;
            }
        }
        io.request_end = std::min(*end, *size_);
        // A file that this one response completes needs no journal.
        if (io.request_end < *size_ || resumed_bytes_ > 0)
            save_journal(true);
        co_return io;
    }

    // 200: the whole file from its first byte, in one stream.
    ranges_supported_ = false;
    if (io.has_claim)
        plan_->release(io.claim);
    plan_.reset();
    resumed_bytes_ = 0;
    if (head->content_length) {
        size_ = *head->content_length;
        plan_.emplace(*size_, *size_);
        auto claim = plan_->acquire(1);
        io.claim = claim->id;
        io.has_claim = true;
        io.request_end = *size_;
        if (auto ec = part_.preallocate(*size_)) {
            fail(ec, describe_write_error(ec));
            co_return ec;
        }
    } else {
        io.stream = true;
        if (auto ec = part_.resize(0)) {
            fail(ec, describe_write_error(ec));
            co_return ec;
        }
    }
    co_return io;
}

asio::awaitable<boost::system::result<response_head>>
file_transfer::request(connection_pool::handle& conn, std::size_t mirror, std::uint64_t begin,
                       std::optional<std::uint64_t> end, bool probing) {
    for (int redirects = 0;; ++redirects) {
        const url& target = mirrors_[mirror];
        bool fresh_retry_allowed = true;
        boost::system::result<response_head> head = make_error_code(net_error::body_too_short);
        for (;;) {
            if (!conn || !conn->reusable() || conn->origin() != target.origin()) {
                conn = {};
                auto acquired = co_await ctx_.pool.acquire(target, static_cast<int>(priority_));
                if (!acquired)
                    co_return acquired.error();
                conn = std::move(*acquired);
            }

            http_request req;
            if (begin > 0 || end)
                req.fields.emplace_back("Range", "bytes=" + std::to_string(begin) + "-" +
                                                     (end ? std::to_string(*end - 1) : std::string()));
            if (!etag_.empty())
                req.fields.emplace_back("If-Range", etag_);
            else if (!last_modified_.empty())
                req.fields.emplace_back("If-Range", last_modified_);
            // User headers (credentials among them) go only to the host the user named.
            bool own_host = same_host(target, original_[mirror]);
            if (own_host)
                for (auto& [name, value] : ctx_.config.headers)
                    req.fields.emplace_back(name, value);

            bool reused = conn.reused() || conn->requests_served() > 0;
            conn.start_request();
            auto sent = co_await conn->send(target, req);
            if (!sent)
                head = co_await conn->read_head();
            else
                head = sent;
            if (head) {
                conn.head_received();
                break;
            }
            // A kept-alive connection the server closed meanwhile: one more try on a fresh one.
            // Garbage where the head should start (a previous body longer than announced) is
            // the same: the kept-alive connection is to blame, not this request.
            bool stale = reused && fresh_retry_allowed && head.error() != asio::error::operation_aborted;
            conn->poison();
            conn = {};
            if (!stale) {
                if (head.error() != asio::error::operation_aborted)
                    ctx_.pool.record_failure(target.origin());
                co_return head.error();
            }
            fresh_retry_allowed = false;
        }

        auto status = head->status;
        if (status >= 500 || status == 429 || status == 408)
            ctx_.pool.record_failure(target.origin());
        else
            ctx_.pool.record_success(target.origin());

        if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
            co_await conn->discard_body();
            if (head->location.empty())
                co_return make_error_code(net_error::redirect_without_location);
            if (redirects + 1 >= ctx_.config.max_redirects)
                co_return make_error_code(net_error::too_many_redirects);
            auto next = resolve_location(target, head->location);
            if (!next)
                co_return next.error();
            if (target.tls() && !next->tls())
                co_return make_error_code(net_error::redirect_to_http);
            mirrors_[mirror] = *next;
            continue;
        }

        auto new_etag = strong_etag(head->etag).value_or("");
        bool changed = (!etag_.empty() && new_etag != etag_) ||
                       (etag_.empty() && !last_modified_.empty() && !head->last_modified.empty() &&
                        head->last_modified != last_modified_);

        if (status == 206) {
            auto range = parse_content_range(head->content_range);
            // A first request may ask past the end of a file it does not know the size of yet.
            std::uint64_t total = range && range->total ? *range->total : 0;
            std::uint64_t expected_last = (end ? std::min(*end, total) : total) - 1;
            if (!range || !range->total || total == 0 || range->first != begin || range->last != expected_last ||
                (size_ && *range->total != *size_)) {
                conn->poison();
                if (range && range->total && size_ && *range->total != *size_) {
                    restart_changed_file_ = true;
                    restart_ = true;
                    co_return make_error_code(net_error::validator_changed);
                }
                co_return make_error_code(net_error::bad_content_range);
            }
            if (changed) {
                conn->poison();
                restart_changed_file_ = true;
                restart_ = true;
                co_return make_error_code(net_error::validator_changed);
            }
            if (spec_.size && *range->total != *spec_.size) {
                conn->poison();
                fail(make_error_code(net_error::size_mismatch),
                     "server has " + std::to_string(*range->total) + " bytes, expected " + std::to_string(*spec_.size));
                co_return failure_;
            }
            if (!size_) {
                size_ = *range->total;
                etag_ = new_etag;
                last_modified_ = etag_.empty() ? head->last_modified : std::string();
            }
            co_return head;
        }

        if (status == 200) {
            if (changed) {
                conn->poison();
                restart_changed_file_ = true;
                restart_ = true;
                co_return make_error_code(net_error::validator_changed);
            }
            if (probing && begin == 0) {
                if (spec_.size && head->content_length && *head->content_length != *spec_.size) {
                    conn->poison();
                    fail(make_error_code(net_error::size_mismatch),
                         "server has " + std::to_string(*head->content_length) + " bytes, expected " +
                             std::to_string(*spec_.size));
                    co_return failure_;
                }
                etag_ = new_etag;
                last_modified_ = etag_.empty() ? head->last_modified : std::string();
                co_return head;
            }
            // Ranges worked before and not now: fall back to one stream from the start.
            conn->poison();
            ranges_supported_ = false;
            restart_ = true;
            co_return make_error_code(net_error::range_ignored);
        }

        if (status == 416) {
            if (auto total = parse_unsatisfied_range(head->content_range); total == 0u && begin == 0) {
                co_await conn->discard_body();
                co_return head;
            }
            conn->poison();
            restart_changed_file_ = true;
            restart_ = true;
            co_return make_error_code(net_error::validator_changed);
        }

        last_retry_after_.reset();
        if (auto after = parse_retry_after(head->retry_after, std::chrono::system_clock::now()))
            last_retry_after_ = std::chrono::duration_cast<std::chrono::milliseconds>(*after);
        co_await conn->discard_body();
        // A signed URL reached through a redirect may have expired: go back to the original.
        if ((status == 401 || status == 403 || status == 410) && mirrors_[mirror].text != original_[mirror].text)
            mirrors_[mirror] = original_[mirror];
        co_return make_http_status_error(status);
    }
}

void file_transfer::start_worker(std::shared_ptr<open_response> first) {
    auto& signal = worker_signals_.emplace_back(std::make_unique<asio::cancellation_signal>());
    ++active_workers_;
    std::size_t index = next_worker_++;
    asio::co_spawn(ctx_.executor, worker(index, std::move(first)),
                   asio::bind_cancellation_slot(signal->slot(), [this](std::exception_ptr) {
                       if (--active_workers_ == 0)
                           workers_done_.cancel();
                   }));
}

void file_transfer::stop_workers() {
    stopping_ = true;
    for (auto& signal : worker_signals_)
        signal->emit(asio::cancellation_type::terminal);
}

asio::awaitable<void> file_transfer::worker(std::size_t index, std::shared_ptr<open_response> first) {
    co_await asio::this_coro::throw_if_cancelled(false);
    open_response io;
    bool request_open = false;
    if (first) {
        io = std::move(*first);
        request_open = !io.stream;
    } else {
        io.mirror = index % mirrors_.size();
    }
    try {
        io.buffer = co_await ctx_.buffers.acquire();
    } catch (const boost::system::system_error&) {
        co_return; // cancelled while waiting for memory
    }

    if (io.stream) {
        auto ec = co_await fetch_stream(io);
        if (ec && !stopping_) {
            // Without ranges there is no resuming a stream: start over after the back-off.
            if (co_await back_off(ec, streamed_ > before_restart_))
                restart_ = true;
            stopping_ = true;
        }
        co_return;
    }

    while (!stopping_) {
        if (!request_open) {
            auto claim = plan_->acquire(1);
            if (!claim)
                break;
            io.claim = claim->id;
            io.has_claim = true;
        }
        auto before = plan_->bytes_done();
        auto ec = co_await fetch_claim(io, request_open);
        request_open = false;
        bool progress = plan_->bytes_done() > std::max(before, before_restart_);
        plan_->release(io.claim);
        io.has_claim = false;
        if (!ec)
            continue;
        io.conn = {};
        if (stopping_ || restart_ || ec == asio::error::operation_aborted) {
            stop_workers();
            break;
        }
        if (!co_await back_off(ec, progress))
            break;
        io.mirror = (io.mirror + 1) % mirrors_.size(); // fail over to the next mirror
    }
}

asio::awaitable<error_code> file_transfer::fetch_claim(open_response& io, bool request_open) {
    const std::size_t id = io.claim;
    while (plan_->cursor(id) < plan_->end(id)) {
        std::uint64_t pos = plan_->cursor(id);
        std::uint64_t request_end;
        if (request_open) {
            request_end = io.request_end;
            plan_->set_requested(id, request_end);
            request_open = false;
        } else {
            // Requests of a quarter of the claim, smaller near the file's end: a steal then
            // usually splits between requests instead of cutting a response short.
            request_end = pos + request_window(plan_->end(id) - pos, plan_->file_size() - plan_->bytes_done(),
                                               active_workers_, ctx_.config.min_request, ctx_.config.max_request);
            plan_->set_requested(id, request_end);
            auto head = co_await request(io.conn, io.mirror, pos, request_end, false);
            if (!head)
                co_return head.error();
        }

        while (pos < request_end && pos < plan_->end(id) && !stopping_) {
            std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(io.buffer.size(), std::min(request_end, plan_->end(id)) - pos));
            std::size_t granted = want;
            if (any_limited(limiters_)) {
                auto tokens = grant(want);
                auto granted_or = co_await std::move(tokens);
                if (!granted_or)
                    co_return granted_or.error();
                granted = *granted_or;
            }
            // Fill the buffer (TLS hands out 16 KiB records) before one positional write.
            std::size_t filled = 0;
            error_code read_error;
            while (filled < granted) {
                auto n = co_await io.conn->read_body(io.buffer.data() + filled, granted - filled);
                if (!n) {
                    read_error = n.error();
                    break;
                }
                if (*n == 0) {
                    read_error = make_error_code(net_error::body_too_short);
                    break;
                }
                filled += *n;
                if (filled >= plan_->end(id) - pos)
                    break; // another worker took the rest of this claim meanwhile
            }
            give_back_all(limiters_, granted - filled);
            // Bytes that arrived before an error are good: keep them.
            std::size_t usable = static_cast<std::size_t>(std::min<std::uint64_t>(filled, plan_->end(id) - pos));
            if (usable > 0) {
                if (auto ec = store(pos, io.buffer.data(), usable)) {
                    fail(ec, describe_write_error(ec));
                    co_return ec;
                }
                plan_->advance(id, usable);
                pos += usable;
                maybe_grow();
            }
            if (read_error)
                co_return read_error;
        }
        if (pos < request_end)
            io.conn->poison(); // the rest of this response is not ours to read
        if (stopping_)
            co_return asio::error::operation_aborted;
    }
    co_return error_code{};
}

asio::awaitable<error_code> file_transfer::fetch_stream(open_response& io) {
    for (;;) {
        std::size_t granted = io.buffer.size();
        if (any_limited(limiters_)) {
            auto tokens = grant(granted);
            auto granted_or = co_await std::move(tokens);
            if (!granted_or)
                co_return granted_or.error();
            granted = *granted_or;
        }
        auto n = co_await io.conn->read_body(io.buffer.data(), granted);
        give_back_all(limiters_, granted - (n ? *n : 0));
        if (!n)
            co_return n.error();
        if (*n == 0)
            co_return error_code{};
        if (auto ec = store(streamed_, io.buffer.data(), *n)) {
            fail(ec, describe_write_error(ec));
            co_return ec;
        }
        streamed_ += *n;
    }
}

asio::awaitable<boost::system::result<std::size_t>> file_transfer::grant(std::size_t want) {
    try {
        auto tokens = acquire_all(limiters_, want);
        co_return co_await std::move(tokens);
    } catch (const boost::system::system_error&) {
        co_return error_code(asio::error::operation_aborted);
    }
}

error_code file_transfer::store(std::uint64_t offset, const std::byte* data, std::size_t size) {
    if (auto ec = part_.write_at(offset, data, size))
        return ec;
    if (spec_.sha256 && offset == hashed_) {
        hash_.update(data, size);
        hashed_ += size;
    }
    result_.bytes_fetched += size;
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ >= progress_interval) {
        last_progress_ = now;
        emit(event::kind::progress);
    }
    save_journal(false);
    return {};
}

void file_transfer::maybe_grow() {
    if (!growth_ || !growth_->growing())
        return;
    std::size_t wanted = growth_->workers_wanted(std::chrono::steady_clock::now(), bytes_done(), active_workers_);
    bool worth_it = plan_->file_size() - plan_->bytes_done() > 8 * ctx_.config.min_piece;
    while (worth_it && active_workers_ < wanted)
        start_worker(nullptr);
}

asio::awaitable<bool> file_transfer::back_off(const error_code& ec, bool made_progress) {
    if (stopping_ || failure_)
        co_return false;
    attempt_failure failure;
    failure.error = ec;
    failure.http_status = http_status_of(ec);
    failure.retry_after = last_retry_after_;
    failure.made_progress = made_progress;
    failure.transient = is_transient(ec);
    last_retry_after_.reset();
    auto delay = retry_->next_delay(failure);
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

asio::awaitable<error_code> file_transfer::verify_and_commit() {
    std::uint64_t size = size_.value_or(streamed_);
    if (!size_ && part_.resize(streamed_))
        co_return make_error_code(net_error::body_too_short);
    if (spec_.size && *spec_.size != size) {
        failure_message_ = "size mismatch: got " + std::to_string(size) + " bytes, expected " +
                           std::to_string(*spec_.size);
        co_return make_error_code(net_error::size_mismatch);
    }
    if (spec_.sha256) {
        // Hash what was not hashed as it arrived (other segments, resumed bytes) from the file.
        auto lease = ctx_.buffers.try_acquire();
        std::vector<std::byte> fallback;
        std::byte* buffer = lease ? lease.data() : (fallback.resize(256 * 1024), fallback.data());
        std::size_t buffer_size = lease ? lease.size() : fallback.size();
        std::uint64_t since_yield = 0;
        while (hashed_ < size) {
            auto n = part_.read_at(hashed_, buffer, static_cast<std::size_t>(std::min<std::uint64_t>(buffer_size, size - hashed_)));
            if (!n || *n == 0) {
                failure_message_ = "cannot read back " + part_.path().string();
                co_return n ? make_error_code(net_error::body_too_short) : n.error();
            }
            hash_.update(buffer, *n);
            hashed_ += *n;
            if ((since_yield += *n) >= 64 * 1024 * 1024) {
                since_yield = 0;
                co_await asio::post(ctx_.executor, asio::use_awaitable); // let other transfers run
            }
        }
        auto digest = hash_.finish();
        if (digest != *spec_.sha256) {
            failure_message_ = "sha256 mismatch: expected " + to_hex(*spec_.sha256) + ", got " + to_hex(digest) +
                               " (partial file removed)";
            part_.discard();
            remove_journal(journal_);
            co_return make_error_code(net_error::size_mismatch);
        }
        emit(event::kind::verified);
    }
    if (auto ec = part_.commit(ctx_.config.fsync)) {
        failure_message_ = "cannot move " + part_.path().string() + " into place: " + ec.message();
        co_return ec;
    }
    remove_journal(journal_);
    co_return error_code{};
}

void file_transfer::save_journal(bool force) {
    if (!plan_ || !size_ || !part_.is_open() || !ranges_supported_)
        return;
    auto now = std::chrono::steady_clock::now();
    auto done = plan_->bytes_done();
    if (!force && (plan_->complete() || (now - last_journal_ < journal_interval &&
                                         done - std::min(done, journaled_bytes_) < journal_bytes)))
        return; // complete: the commit comes next, a journal would only be deleted again
    last_journal_ = now;
    journaled_bytes_ = done;
    journal_record record;
    record.url = mirrors_.front().redacted();
    record.size = *size_;
    record.etag = etag_;
    record.last_modified = last_modified_;
    record.done = plan_->done();
    write_journal(journal_, record);
}

void file_transfer::fail(error_code ec, std::string message) {
    if (!failure_) {
        failure_ = ec;
        failure_message_ = message.empty() ? describe(ec) : std::move(message);
    }
    stop_workers();
}

std::string file_transfer::describe_write_error(const error_code& ec) const {
    std::string what = "cannot write " + part_.path().string() + ": " + ec.message();
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
    e.file = spec_.path.generic_string();
    e.bytes = bytes_done();
    e.total = size_.value_or(spec_.size.value_or(0));
    e.message = std::move(message);
    ctx_.emit(e);
}

} // namespace ferry
