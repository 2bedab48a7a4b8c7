#include "engine/part_sink.hpp"

#include "engine/blocking_work.hpp"
#include "engine/file_error.hpp"
#include "memory/git_blob_id.hpp"
#include "net/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>

#include <unistd.h>


namespace ferry {

using boost::system::error_code;

boost::system::result<part_sink> part_sink::open(const std::filesystem::path& dir, const std::filesystem::path& relative,
                                                 options opts) {
    auto opened = part_file::open(dir, relative);
    if (!opened && opened.error() == boost::system::errc::no_such_file_or_directory) {
        // The destination itself is missing (what lies below it part_file creates): made once,
        // not looked at for every file.
        std::error_code ignored;
        std::filesystem::create_directories(dir, ignored);
        opened = part_file::open(dir, relative);
    }
    if (!opened)
        return opened.error();
    part_sink sink;
    sink.options_ = opts;
    sink.part_ = std::move(*opened);
    sink.last_journal_ = std::chrono::steady_clock::now(); // the first one after an interval
    return sink;
}

void part_sink::discard_partial(const std::filesystem::path& final_path) {
    std::error_code ignored;
    std::filesystem::remove(final_path.string() + ".part", ignored);
    remove_journal(final_path.string() + ".part.journal");
}

std::optional<journal_record> part_sink::resume() {
    auto record = read_journal(journal(), &journal_missing_);
    if (!record)
        return std::nullopt;
    auto on_disk = part_.size_on_disk();
    if (!on_disk || *on_disk != record->size)
        return std::nullopt;
    return record;
}

boost::asio::awaitable<error_code> part_sink::prepare(std::uint64_t size, boost::asio::any_io_executor blocking) {
    constexpr std::uint64_t reserved_in_place = 8 * 1024 * 1024; // quick: not worth a thread hop
    if (size <= reserved_in_place)
        co_return part_.preallocate(size);
    auto reserve = [this, size] { return part_.preallocate(size); };
    auto reserving = run_blocking(std::move(blocking), std::move(reserve));
    co_return co_await std::move(reserving);
}

error_code part_sink::prepare_stream() { return part_.resize(0); }

boost::asio::awaitable<error_code> part_sink::write_on(boost::asio::any_io_executor lane, std::uint64_t offset,
                                                       const std::byte* data, std::size_t size) {
    if (!lane)
        co_return write(offset, data, size);
    auto work = [this, offset, data, size] { return write(offset, data, size); };
    auto writing = run_blocking(std::move(lane), std::move(work));
    co_return co_await std::move(writing);
}

error_code part_sink::write(std::uint64_t offset, const std::byte* data, std::size_t size) {
    if (auto ec = part_.write_at(offset, data, size))
        return ec;
    if (options_.hash && offset <= hashed_ && offset + size > hashed_) {
        auto skip = hashed_ - offset;
        hash_.update(data + skip, size - static_cast<std::size_t>(skip));
        hashed_ = offset + size;
    }
    return {};
}

bool part_sink::checkpoint_due(std::uint64_t bytes_done, std::uint64_t size) const {
    if (checkpointing_->load(std::memory_order_acquire))
        return false;
    return journal_due(std::chrono::steady_clock::now() - last_journal_,
                       bytes_done - std::min(bytes_done, journaled_bytes_), size, options_);
}

std::uint64_t part_sink::journal_step(std::uint64_t size, const options& opts) noexcept {
    return std::clamp<std::uint64_t>(size / 50, opts.journal_least_bytes, opts.journal_most_bytes);
}

bool part_sink::journal_due(std::chrono::steady_clock::duration since, std::uint64_t fresh, std::uint64_t size,
                            const options& opts) noexcept {
    return fresh >= journal_step(size, opts) || (since >= opts.journal_interval && fresh >= opts.journal_min_bytes) ||
           (since >= opts.journal_idle_interval && fresh > 0);
}

namespace {

/// What a checkpoint does off the loop: the data first, then the journal that claims it.
struct checkpoint_work {
    int sync_fd; ///< -1: nothing to sync
    std::filesystem::path journal;
    journal_record record;
    void operator()() const {
        bool synced = sync_fd < 0 || ::fdatasync(sync_fd) == 0;
        if (sync_fd >= 0)
            ::close(sync_fd);
        // The journal must never claim bytes the disk does not hold yet.
        if (synced)
            write_journal(journal, record);
    }
};

/// Checkpoints queued for the blocking threads in the whole process: each holds a descriptor (a
/// dup of its .part, for the sync) until it runs. Ten thousand slow files checkpointing together
/// held one each beside their .part, beyond the few dozen the descriptor budget keeps aside
/// (queue/descriptor_budget.hpp), and commits failed with "Too many open files". Past the cap a
/// checkpoint waits for the file's next write.
constexpr int max_checkpoints_queued = 16;
std::atomic<int> checkpoints_queued{0};

} // namespace

void part_sink::checkpoint(const journal_record& record, std::uint64_t bytes_done, boost::asio::any_io_executor blocking) {
    if (blocking && checkpoints_queued.load(std::memory_order_relaxed) >= max_checkpoints_queued)
        return; // (no journal written: one seen missing at the start stays so)
    journal_missing_ = false;
    if (checkpointing_->load(std::memory_order_acquire))
        return;
    last_journal_ = std::chrono::steady_clock::now();
    journaled_bytes_ = bytes_done;
    checkpoint_work work{options_.durable ? part_.sync_handle() : -1, journal(), record};
    if (!blocking) {
        work();
        return;
    }
    checkpointing_->store(true, std::memory_order_release);
    checkpoints_queued.fetch_add(1, std::memory_order_relaxed);
    boost::asio::post(blocking, [work = std::move(work), flag = checkpointing_] {
        work();
        checkpoints_queued.fetch_sub(1, std::memory_order_relaxed);
        flag->store(false, std::memory_order_release);
    });
}

boost::asio::awaitable<void> part_sink::checkpoint_now(journal_record record, std::uint64_t bytes_done,
                                                       boost::asio::any_io_executor blocking) {
    journal_missing_ = false;
    co_await settle();
    last_journal_ = std::chrono::steady_clock::now();
    journaled_bytes_ = bytes_done;
    checkpoint_work work{options_.durable ? part_.sync_handle() : -1, journal(), std::move(record)};
    co_await run_blocking(blocking, std::move(work));
}

boost::asio::awaitable<void> part_sink::settle() {
    if (!checkpointing_->load(std::memory_order_acquire))
        co_return;
    // A sync rarely takes long; look again every few milliseconds meanwhile (the loop runs on).
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (checkpointing_->load(std::memory_order_acquire)) {
        wait.expires_after(std::chrono::milliseconds(2));
        co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
}

void part_sink::restart() {
    forget_journal();
    hash_ = sha256();
    hashed_ = 0;
    journaled_bytes_ = 0;
}

boost::asio::awaitable<error_code> part_sink::verify(std::uint64_t size, const std::optional<sha256_digest>& expected,
                                                     const std::optional<std::string>& expected_git_blob,
                                                     buffer_pool& buffers, boost::asio::any_io_executor blocking,
                                                     std::string& message) {
    auto on_disk = part_.size_on_disk();
    if (!on_disk || *on_disk != size) {
        message = "cannot read back " + part_.path().string();
        co_return on_disk ? make_error_code(file_error::incomplete) : on_disk.error();
    }
    if (expected_git_blob) {
        auto hash_file = [path = part_.path()] { return git_blob_id_of_file(path); };
        auto id = co_await run_blocking(blocking, std::move(hash_file));
        if (id != expected_git_blob) {
            message = "git blob id mismatch: expected " + *expected_git_blob + ", got " +
                      id.value_or("nothing (unreadable)") + " (partial file removed)";
            discard();
            co_return make_error_code(file_error::digest_mismatch);
        }
    }
    if (!expected)
        co_return error_code{};
    // What was not hashed in flight (the part written by an earlier run) is read back off the
    // event loop; the buffer is leased here, on the strand, and only its memory travels.
    auto lease = buffers.try_acquire();
    std::vector<std::byte> fallback;
    std::byte* buffer = lease ? lease.data() : (fallback.resize(256 * 1024), fallback.data());
    std::size_t buffer_size = lease ? lease.size() : fallback.size();
    auto read_rest = [&]() -> error_code {
        while (hashed_ < size) {
            auto n = part_.read_at(hashed_, buffer,
                                   static_cast<std::size_t>(std::min<std::uint64_t>(buffer_size, size - hashed_)));
            if (!n || *n == 0)
                return n ? make_error_code(file_error::incomplete) : n.error();
            hash_.update(buffer, *n);
            hashed_ += *n;
        }
        return {};
    };
    auto read = co_await run_blocking(blocking, std::move(read_rest));
    if (read) {
        message = "cannot read back " + part_.path().string();
        co_return read;
    }
    auto digest = hash_.finish();
    if (digest != *expected) {
        message = "sha256 mismatch: expected " + to_hex(*expected) + ", got " + to_hex(digest) + " (partial file removed)";
        discard();
        co_return make_error_code(file_error::digest_mismatch);
    }
    co_return error_code{};
}

boost::asio::awaitable<error_code> part_sink::commit(const stored_validators& validators,
                                                     boost::asio::any_io_executor blocking, std::string& message) {
    auto sync_and_rename = [&] {
        part_.set_validators(validators);
        return part_.commit(options_.durable);
    };
    // In memory there is no disk to wait for: not worth two thread hops (many small files).
    if (part_.in_memory())
        blocking = {};
    auto ec = co_await run_blocking(blocking, std::move(sync_and_rename));
    if (ec) {
        message = "cannot move " + part_.path().string() + " into place: " + ec.message();
        co_return ec;
    }
    forget_journal();
    co_return error_code{};
}

void part_sink::forget_journal() {
    // A file seen absent at resume() and never checkpointed since has none to remove (most small
    // files): an unlink that fails costs a path walk.
    if (!journal_missing_)
        remove_journal(journal());
}

void part_sink::discard() {
    if (part_.is_open())
        part_.discard();
    forget_journal();
}

std::string part_sink::describe_write_error(const error_code& ec) const {
    return "cannot write " + part_.path().string() + ": " + ec.message();
}

} // namespace ferry
