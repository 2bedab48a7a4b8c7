#pragma once

#include "memory/buffer_pool.hpp"
#include "memory/part_file.hpp"
#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// Where one file's bytes land: DEST.part, its journal DEST.part.journal and the running sha256
/// of its contiguous prefix. Opens, writes at offsets, checkpoints, verifies and commits (renames
/// into place), or discards. Nothing else builds these paths.
///
/// Durability: when `durable`, the .part's data is synced (fdatasync) before a journal that
/// claims its ranges replaces the old one, so after a power cut the journal never claims bytes
/// the disk lost; the file and its directory are synced around the final rename. When journals
/// are written: journal_due.
///
/// Not thread-safe: the file's coroutine owns it (and hands writes to its lane, write_on).
class part_sink {
public:
    struct options {
        bool durable = true;
        /// Hash the bytes in flight for verify()'s sha256; off when no digest will be checked
        /// (verify() then hashes from disk whatever it is asked to check).
        bool hash = true;
        std::chrono::milliseconds journal_interval{1000};
        /// Progress that makes a journal due at once: a fiftieth of the file, within these bounds.
        /// A crash costs a file at most that much progress to fetch again, and a fast file syncs
        /// its data once per step (at 4 MiB, a 2 GiB file written to disk at 1 GB/s
        /// spent 0.5-0.9 s more in fdatasync).
        std::uint64_t journal_least_bytes = 4 * 1024 * 1024;
        std::uint64_t journal_most_bytes = 64 * 1024 * 1024;
        /// Progress a journal written after journal_interval records at least; less waits for
        /// journal_idle_interval (ten thousand slow files, each a journal a second, made the
        /// disk's queue hold a descriptor for each, and cost more than their transfers).
        std::uint64_t journal_min_bytes = 256 * 1024;
        std::chrono::milliseconds journal_idle_interval{30'000};
    };

    /// Whether a journal of a file of `size` bytes is due `since` the last one, with `fresh` bytes
    /// of progress beyond it: at journal_step's progress; after journal_interval with
    /// journal_min_bytes of it; after journal_idle_interval with any. A crash loses at most that
    /// much of a file's progress, never a byte the journal claims. No I/O.
    static bool journal_due(std::chrono::steady_clock::duration since, std::uint64_t fresh, std::uint64_t size,
                            const options& opts) noexcept;
    /// The progress that makes a journal due at once: size / 50, within journal_least_bytes and
    /// journal_most_bytes.
    static std::uint64_t journal_step(std::uint64_t size, const options& opts) noexcept;

    /// Opens (creating) DEST.part beneath `dir`; `dir` itself is created when missing.
    static boost::system::result<part_sink> open(const std::filesystem::path& dir, const std::filesystem::path& relative,
                                                 options opts);
    /// Removes a partial download of `final_path` (the .part and its journal), if any.
    static void discard_partial(const std::filesystem::path& final_path);

    part_sink() = default;
    part_sink(part_sink&&) noexcept = default;
    part_sink& operator=(part_sink&&) noexcept = default;

    /// The journal of an earlier run, when it agrees with the .part on disk (size).
    std::optional<journal_record> resume();

    /// Sizes the .part for a file of `size` bytes (preallocated where that is cheap). A large one
    /// is reserved on `blocking`: a file system can take tens of milliseconds over it.
    boost::asio::awaitable<boost::system::error_code> prepare(std::uint64_t size, boost::asio::any_io_executor blocking);
    /// A body of unknown length: the .part starts empty and grows.
    boost::system::error_code prepare_stream();
    /// Writes at `offset`; the running sha256 takes the bytes that continue its prefix.
    boost::system::error_code write(std::uint64_t offset, const std::byte* data, std::size_t size);
    /// The same on `lane`, a strand of the engine's write threads (run_blocking), so that a write
    /// the disk holds up and the hashing do not hold up the loop; in place with a null `lane`.
    /// All of a file's writes go through one lane, and nothing else touches the sink while one
    /// runs (restart, verify, commit and discard come after the writers ended).
    boost::asio::awaitable<boost::system::error_code> write_on(boost::asio::any_io_executor lane, std::uint64_t offset,
                                                               const std::byte* data, std::size_t size);

    /// Whether a checkpoint is due with `bytes_done` bytes written in all (never while one runs).
    bool checkpoint_due(std::uint64_t bytes_done, std::uint64_t size) const;
    /// Syncs the data (when durable) and then replaces the journal with `record`, on `blocking`
    /// while writes go on here: an fdatasync behind a busy disk takes seconds, which the event
    /// loop must not wait for. One at a time. A failure to sync or write the journal is not an
    /// error of the download: the next checkpoint tries again. With a null `blocking`, in place.
    void checkpoint(const journal_record& record, std::uint64_t bytes_done, boost::asio::any_io_executor blocking);
    /// The same, now (after the one running, if any), and returns when the journal is written:
    /// the last checkpoint of a pause, a cancellation or a failure.
    boost::asio::awaitable<void> checkpoint_now(journal_record record, std::uint64_t bytes_done,
                                                boost::asio::any_io_executor blocking);
    /// Returns once no checkpoint runs: call before the journal may go (restart, discard, verify,
    /// commit), so that a late journal never claims a file that moved on.
    boost::asio::awaitable<void> settle();
    /// Forgets what was written (a new version of the file): the journal goes, the hash restarts.
    void restart();

    /// Checks the length and, when `expected` is given, the sha256 (hashing from disk what was
    /// not hashed in flight, yielding to other work every 64 MiB), and the git blob id when
    /// `expected_git_blob` is given (read back from disk: files without LFS are small). On a
    /// digest mismatch the .part and journal are removed. `message` says what is wrong.
    /// The reading and hashing run on `blocking` (run_blocking): nothing else may use this sink
    /// meanwhile.
    boost::asio::awaitable<boost::system::error_code>
    verify(std::uint64_t size, const std::optional<sha256_digest>& expected,
           const std::optional<std::string>& expected_git_blob, buffer_pool& buffers,
           boost::asio::any_io_executor blocking, std::string& message);
    /// Renames DEST.part into place (with the validators for a later rerun; synced when durable)
    /// and drops the journal, on `blocking`: nothing else may use this sink meanwhile.
    boost::asio::awaitable<boost::system::error_code> commit(const stored_validators& validators,
                                                             boost::asio::any_io_executor blocking,
                                                             std::string& message);
    /// Removes the .part and its journal.
    void discard();

    std::filesystem::path part_path() const { return part_.path(); }
    bool is_open() const noexcept { return part_.is_open(); }
    /// "cannot write DEST.part: REASON"
    std::string describe_write_error(const boost::system::error_code& ec) const;

private:
    void forget_journal();
    /// DEST.part.journal (made when needed, as the .part's path is).
    std::filesystem::path journal() const { return journal_path(part_.path()); }

    options options_;
    part_file part_;
    bool journal_missing_ = false; ///< resume() found no journal and none was written since
    sha256 hash_;
    std::uint64_t hashed_ = 0; ///< bytes [0, hashed_) are in hash_
    std::chrono::steady_clock::time_point last_journal_{};
    std::uint64_t journaled_bytes_ = 0;
    /// Set while a checkpoint runs on the blocking pool (shared with it: the sink may move).
    std::shared_ptr<std::atomic<bool>> checkpointing_ = std::make_shared<std::atomic<bool>>(false);
};

} // namespace ferry
