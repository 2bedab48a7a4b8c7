#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace ferry {

/// The file being downloaded: DEST.part beneath a destination directory, written at offsets and
/// renamed to DEST once verified. Not thread-safe; one owner (the file's coroutine).
///
/// Paths are opened beneath the destination directory one component at a time without following
/// symlinks (O_NOFOLLOW), so a planted symlink cannot send writes out of it; missing intermediate
/// directories are created (mode 0777 & ~umask). Files get mode 0666 & ~umask.
///
/// Errors are system error codes; the ones worth telling apart compare equal to:
/// - errc::invalid_argument: `relative` fails check_relative_path, or NAME.part is not a regular file;
/// - errc::too_many_symbolic_link_levels: a component beneath `dir`, or NAME.part, is a symlink;
/// - errc::not_a_directory: a component beneath `dir` is a file; errc::too_many_links: NAME.part
///   has other hard links;
/// - errc::no_such_file_or_directory / not_a_directory / permission_denied: `dir` itself (it must
///   exist: it is never created here);
/// - errc::no_space_on_device (ENOSPC, EDQUOT), errc::file_too_large (EFBIG: RLIMIT_FSIZE or the
///   file system's maximum) from preallocate, resize, write_at and sync;
/// - errc::bad_file_descriptor when used after commit, discard or a move.
/// The validators a completed file was served with, kept in its extended attributes
/// (`user.ferry.etag`, `user.ferry.last-modified`) so that a rerun can ask whether it changed.
struct stored_validators {
    std::string etag;
    std::string last_modified;
    bool empty() const noexcept { return etag.empty() && last_modified.empty(); }
};

class part_file {
public:
    part_file() = default;
    part_file(part_file&&) noexcept;
    part_file& operator=(part_file&&) noexcept;
    ~part_file();

    /// Opens (creating if needed, keeping existing bytes) `relative` + ".part" beneath `dir`.
    /// `relative` must be relative and free of `..` (checked: errc::invalid_argument).
    static boost::system::result<part_file> open(const std::filesystem::path& dir,
                                                 const std::filesystem::path& relative);

    /// Reserves `size` bytes (fallocate; when the file system cannot, ftruncate instead; on tmpfs,
    /// where fallocate costs a pass over the memory, ftruncate after checking the free space).
    /// Afterwards the file is exactly `size` bytes long; bytes below `size` are kept.
    /// ENOSPC is reported as errc::no_space_on_device, EFBIG as errc::file_too_large.
    boost::system::error_code preallocate(std::uint64_t size);
    /// Sets the length (truncates or extends with zeros).
    boost::system::error_code resize(std::uint64_t size);
    /// Writes all of `data` at `offset` (pwrite, looping on short writes).
    boost::system::error_code write_at(std::uint64_t offset, const void* data, std::size_t size);
    /// Reads up to `size` bytes at `offset`; 0 at end of file.
    boost::system::result<std::size_t> read_at(std::uint64_t offset, void* data, std::size_t size);
    boost::system::result<std::uint64_t> size_on_disk() const;
    /// fsync (nothing on tmpfs, where fsync does nothing).
    boost::system::error_code sync();
    /// A second descriptor of the file, for fdatasync on another thread while this one writes on
    /// (the caller closes it); -1 on tmpfs, where there is nothing to sync, or when closed.
    int sync_handle() const noexcept;
    /// Stores the server's validators with the file (best effort: ignored where the file system
    /// has no user attributes). They move with it at commit().
    void set_validators(const stored_validators& v);

    /// Renames DEST.part to DEST (atomically replacing it) and, when `durable`, fsyncs the file
    /// before and the directory after. The part_file is closed afterwards (also when only the
    /// directory sync failed: the file is in place then). Refuses (ESTALE, system category) when
    /// DEST.part is no longer the file this handle wrote.
    boost::system::error_code commit(bool durable);
    /// Closes and deletes the .part file.
    boost::system::error_code discard();

    bool is_open() const noexcept { return fd_ >= 0; }
    /// On tmpfs: its writes, syncs and rename never wait for a disk.
    bool in_memory() const noexcept { return in_memory_; }
    /// dir / relative + ".part", for messages (made when asked: thousands of open files keep
    /// only their directory and name).
    std::filesystem::path path() const;

private:
    void close() noexcept;

    int fd_ = -1;
    bool in_memory_ = false; ///< on tmpfs: no fallocate (a pass over RAM) and no fsync (a no-op)
    bool bare_ = false;      ///< created by open() and given no attribute since: none to remove
    /// The destination, as given to open() (its text: a path object would keep a list of its
    /// components, a few hundred bytes for each of thousands of open files).
    std::string dir_;
    std::vector<std::string> parts_; ///< the relative path's components, the file's name last
};

/// Whether DEST exists beneath `dir` as a regular file (without following symlinks), and its size.
/// Walks the components like part_file::open, without creating anything; a symlink anywhere
/// beneath `dir` or a non-regular file is an error.
boost::system::result<std::uint64_t> existing_file_size(const std::filesystem::path& dir,
                                                        const std::filesystem::path& relative);

/// The validators stored with DEST beneath `dir` (see stored_validators); empty when there are
/// none, DEST is missing, or the path walks through a symlink.
stored_validators existing_file_validators(const std::filesystem::path& dir, const std::filesystem::path& relative);

/// Checks that a manifest or user path is relative, non-empty, and has no `..`, `.`-only or empty
/// components. Returns a message saying what is wrong, or an empty string when it is fine.
std::string check_relative_path(std::string_view path);

} // namespace ferry
