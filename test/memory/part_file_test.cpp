#include "memory/part_file.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace ferry;
using ferry::test::entry_count;
using ferry::test::read_text;
using ferry::test::temp_dir;
using ferry::test::write_text;
namespace errc = boost::system::errc;
namespace fs = std::filesystem;

// part_file has no operator<<: print an open result as such, a failed one by its error.
template <>
struct doctest::StringMaker<boost::system::result<part_file>> {
    static doctest::String convert(const boost::system::result<part_file>& r) {
        return r ? doctest::String("part_file") : doctest::String(r.error().message().c_str());
    }
};

namespace {

std::string pattern(std::size_t size, unsigned seed) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<char>((i * 2654435761u + seed) >> 7);
    return out;
}

/// Runs `body` in a forked child and returns its exit status (or -1 when it did not exit normally).
/// The child never returns into doctest: it leaves with _exit.
int in_child(const std::function<int()>& body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 99;
        try {
            code = body();
        } catch (...) {
        }
        ::_exit(code);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("check_relative_path says what is wrong") {
    CHECK(check_relative_path("model.safetensors") == "");
    CHECK(check_relative_path("org/model/shard-00001.safetensors") == "");
    CHECK(check_relative_path("...") == "");      // a name, not a parent reference
    CHECK(check_relative_path("a/..b/c") == "");

    CHECK(check_relative_path("") == "path is empty");
    CHECK(check_relative_path("/etc/passwd") == "path is absolute");
    CHECK(check_relative_path("..") == "path contains '..'");
    CHECK(check_relative_path("a/../../b") == "path contains '..'");
    CHECK(check_relative_path("a/..") == "path contains '..'");
    CHECK_FALSE(check_relative_path("./a").empty());
    CHECK_FALSE(check_relative_path("a/./b").empty());
    CHECK_FALSE(check_relative_path("a//b").empty());
    CHECK_FALSE(check_relative_path("a/").empty());
    CHECK_FALSE(check_relative_path(std::string_view("a\0b", 3)).empty());
    CHECK_FALSE(check_relative_path(std::string(256, 'x')).empty());
    CHECK(check_relative_path(std::string(255, 'x')) == "");
    std::string deep;
    while (deep.size() <= 4096)
        deep += "abcdefg/";
    deep += "f";
    CHECK_FALSE(check_relative_path(deep).empty());
}

TEST_CASE("part_file writes at scattered offsets and reads them back") {
    temp_dir dir;
    auto file = part_file::open(dir.path(), "model/weights.bin");
    REQUIRE(file.has_value());
    CHECK(file->is_open());
    CHECK(file->path() == dir / "model/weights.bin.part");
    CHECK(fs::is_regular_file(dir / "model/weights.bin.part"));

    constexpr std::uint64_t size = 3 * 1024 * 1024 + 17;
    REQUIRE_FALSE(file->preallocate(size));
    REQUIRE(file->size_on_disk());
    CHECK(*file->size_on_disk() == size);
    CHECK(fs::file_size(dir / "model/weights.bin.part") == size);

    // Out of order, across block boundaries, the last one ending exactly at the end.
    struct piece {
        std::uint64_t offset;
        std::string data;
    };
    std::vector<piece> pieces = {
        {2 * 1024 * 1024 + 5, pattern(100'000, 1)},
        {0, pattern(4097, 2)},
        {size - 12345, pattern(12345, 3)},
        {1024 * 1024 - 1, pattern(2, 4)},
        {4097, pattern(65536, 5)},
    };
    for (const auto& p : pieces)
        REQUIRE_FALSE(file->write_at(p.offset, p.data.data(), p.data.size()));
    CHECK(*file->size_on_disk() == size);

    for (const auto& p : pieces) {
        std::string back(p.data.size(), '\0');
        auto n = file->read_at(p.offset, back.data(), back.size());
        REQUIRE(n);
        CHECK(*n == p.data.size());
        CHECK(back == p.data);
    }
    // Bytes nobody wrote read as zeros; reading at the end gives 0.
    std::string gap(10, 'x');
    REQUIRE(file->read_at(1024 * 1024 + 10, gap.data(), gap.size()));
    CHECK(gap == std::string(10, '\0'));
    auto at_end = file->read_at(size, gap.data(), gap.size());
    REQUIRE(at_end);
    CHECK(*at_end == 0);
    CHECK_FALSE(file->sync());
}

TEST_CASE("part_file reopens keeping bytes; preallocate and resize set the length") {
    temp_dir dir;
    {
        auto file = part_file::open(dir.path(), "f");
        REQUIRE(file.has_value());
        REQUIRE_FALSE(file->write_at(0, "hello world", 11));
    }
    auto file = part_file::open(dir.path(), "f");
    REQUIRE(file.has_value());
    CHECK(*file->size_on_disk() == 11);
    char back[5] = {};
    REQUIRE(file->read_at(6, back, 5));
    CHECK(std::string(back, 5) == "world");

    // A stale, longer .part is cut to the new size; bytes below it are kept.
    REQUIRE_FALSE(file->preallocate(5));
    CHECK(*file->size_on_disk() == 5);
    REQUIRE(file->read_at(0, back, 5));
    CHECK(std::string(back, 5) == "hello");
    REQUIRE_FALSE(file->preallocate(1000));
    CHECK(*file->size_on_disk() == 1000);
    REQUIRE_FALSE(file->preallocate(0));
    CHECK(*file->size_on_disk() == 0);
    REQUIRE_FALSE(file->resize(42));
    CHECK(*file->size_on_disk() == 42);
}

TEST_CASE("on tmpfs, preallocate checks the room instead of zeroing pages the download overwrites") {
    struct statfs fs {};
    if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
        MESSAGE("/dev/shm is not a tmpfs here; skipped");
        return;
    }
    char pattern[] = "/dev/shm/ferry-part-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern));
    std::filesystem::path dir = pattern;
    {
        auto file = part_file::open(dir, "f");
        REQUIRE(file.has_value());
        REQUIRE_FALSE(file->preallocate(64 << 20));
        CHECK(*file->size_on_disk() == (64 << 20));
        struct stat st {};
        REQUIRE(::stat((dir / "f.part").c_str(), &st) == 0);
        CHECK(st.st_blocks == 0); // sparse: no page was touched
        REQUIRE_FALSE(file->write_at(1 << 20, "x", 1));
        // More than the tmpfs has free: refused at once, the file as it was.
        struct statvfs vfs {};
        REQUIRE(::statvfs(pattern, &vfs) == 0);
        std::uint64_t too_much = std::uint64_t(vfs.f_bavail) * vfs.f_frsize + (std::uint64_t(1) << 30);
        CHECK(file->preallocate(too_much) == errc::no_space_on_device);
        CHECK(*file->size_on_disk() == (64 << 20));
        char back = 0;
        REQUIRE(file->read_at(1 << 20, &back, 1));
        CHECK(back == 'x');
        REQUIRE_FALSE(file->discard());
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("commit renames the .part into place and closes") {
    temp_dir dir;
    write_text(dir / "old.bin", "previous version");
    auto file = part_file::open(dir.path(), "old.bin");
    REQUIRE(file.has_value());
    REQUIRE_FALSE(file->preallocate(6));
    REQUIRE_FALSE(file->write_at(0, "fresh!", 6));

    CHECK(*existing_file_size(dir.path(), "old.bin") == 16);
    REQUIRE_FALSE(file->commit(true));
    CHECK_FALSE(file->is_open());
    CHECK_FALSE(fs::exists(dir / "old.bin.part"));
    CHECK(read_text(dir / "old.bin") == "fresh!");
    CHECK(entry_count(dir.path()) == 1);
    REQUIRE(existing_file_size(dir.path(), "old.bin"));
    CHECK(*existing_file_size(dir.path(), "old.bin") == 6);

    // Anything after commit reports a closed handle.
    CHECK(file->write_at(0, "x", 1) == errc::bad_file_descriptor);
    CHECK(file->commit(false) == errc::bad_file_descriptor);
    CHECK(file->discard() == errc::bad_file_descriptor);
    CHECK(file->size_on_disk().error() == errc::bad_file_descriptor);

    // Non-durable commit in a subdirectory.
    auto nested = part_file::open(dir.path(), "a/b/c.txt");
    REQUIRE(nested.has_value());
    REQUIRE_FALSE(nested->write_at(0, "abc", 3));
    REQUIRE_FALSE(nested->commit(false));
    CHECK(read_text(dir / "a/b/c.txt") == "abc");
    CHECK_FALSE(fs::exists(dir / "a/b/c.txt.part"));
}

TEST_CASE("commit refuses when the .part was replaced behind its back") {
    temp_dir dir;
    auto file = part_file::open(dir.path(), "f");
    REQUIRE(file.has_value());
    REQUIRE_FALSE(file->write_at(0, "ours", 4));
    fs::remove(dir / "f.part");
    write_text(dir / "f.part", "theirs");
    auto ec = file->commit(false);
    CHECK(ec == boost::system::error_code(ESTALE, boost::system::system_category()));
    CHECK_FALSE(fs::exists(dir / "f"));
    CHECK(read_text(dir / "f.part") == "theirs");
}

TEST_CASE("an open .part holds one descriptor; a directory swapped for a symlink is refused at commit") {
    auto open_descriptors = [] {
        return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
    };
    temp_dir dir;
    temp_dir outside;
    const auto before = open_descriptors();
    auto file = part_file::open(dir.path(), "models/m/weights.bin");
    REQUIRE(file.has_value());
    CHECK(open_descriptors() == before + 1); // the .part only: not its directory too
    REQUIRE_FALSE(file->write_at(0, "ours", 4));

    // While it downloads, the directory is moved away and a symlink to elsewhere put in its place.
    fs::rename(dir / "models/m", outside / "m");
    fs::create_directory_symlink(outside / "m", dir / "models/m");
    CHECK(file->commit(false) == errc::too_many_symbolic_link_levels);
    CHECK_FALSE(fs::exists(outside / "m/weights.bin"));
    CHECK(read_text(outside / "m/weights.bin.part") == "ours");
    CHECK(file->discard() == errc::too_many_symbolic_link_levels); // nothing deleted through it either
    CHECK(fs::exists(outside / "m/weights.bin.part"));
    CHECK(open_descriptors() == before);
}

TEST_CASE("validators: a reopened .part loses a stale attribute; a new one stores what it is given") {
    temp_dir dir;
    {
        // A commit that never happened: the attributes were set, the rename was not.
        auto first = part_file::open(dir.path(), "v.bin");
        REQUIRE(first.has_value());
        REQUIRE_FALSE(first->write_at(0, "old", 3));
        first->set_validators({"\"a\"", "Mon, 01 Jan 2024 00:00:00 GMT"});
    }
    auto resumed = part_file::open(dir.path(), "v.bin");
    REQUIRE(resumed.has_value());
    resumed->set_validators({"\"b\"", ""}); // this server sends no Last-Modified
    REQUIRE_FALSE(resumed->commit(false));
    auto stored = existing_file_validators(dir.path(), "v.bin");
    CHECK(stored.etag == "\"b\"");
    CHECK(stored.last_modified.empty());

    auto fresh = part_file::open(dir.path(), "w.bin");
    REQUIRE(fresh.has_value());
    fresh->set_validators({"", "Tue, 02 Jan 2024 00:00:00 GMT"});
    REQUIRE_FALSE(fresh->commit(false));
    auto fresh_stored = existing_file_validators(dir.path(), "w.bin");
    CHECK(fresh_stored.etag.empty());
    CHECK(fresh_stored.last_modified == "Tue, 02 Jan 2024 00:00:00 GMT");
}

TEST_CASE("discard deletes the .part") {
    temp_dir dir;
    auto file = part_file::open(dir.path(), "sub/f");
    REQUIRE(file.has_value());
    REQUIRE_FALSE(file->write_at(0, "data", 4));
    REQUIRE_FALSE(file->discard());
    CHECK_FALSE(file->is_open());
    CHECK_FALSE(fs::exists(dir / "sub/f.part"));
    CHECK_FALSE(fs::exists(dir / "sub/f"));
    CHECK(entry_count(dir / "sub") == 0);
}

TEST_CASE("moving a part_file moves the handle") {
    temp_dir dir;
    auto opened = part_file::open(dir.path(), "f");
    REQUIRE(opened.has_value());
    part_file a = std::move(*opened);
    CHECK_FALSE(opened->is_open());
    CHECK(opened->write_at(0, "x", 1) == errc::bad_file_descriptor);
    part_file b;
    b = std::move(a);
    CHECK_FALSE(a.is_open());
    REQUIRE_FALSE(b.write_at(0, "xy", 2));
    REQUIRE_FALSE(b.commit(false));
    CHECK(read_text(dir / "f") == "xy");
}

TEST_CASE("bad relative paths are refused before touching the disk") {
    temp_dir dir;
    for (std::string bad : {"", "/tmp/escape", "../escape", "a/../../escape", "a//b", "./a", "a/"}) {
        CAPTURE(bad);
        auto file = part_file::open(dir.path(), bad);
        REQUIRE_FALSE(file.has_value());
        CHECK(file.error() == errc::invalid_argument);
        auto size = existing_file_size(dir.path(), bad);
        REQUIRE_FALSE(size);
        CHECK(size.error() == errc::invalid_argument);
    }
    CHECK(entry_count(dir.path()) == 0);
    CHECK_FALSE(fs::exists(dir.path().parent_path() / "escape.part"));
}

TEST_CASE("the destination directory must exist and be a directory") {
    temp_dir dir;
    auto missing = part_file::open(dir / "nope", "f");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error() == errc::no_such_file_or_directory);
    CHECK_FALSE(fs::exists(dir / "nope"));

    write_text(dir / "plain", "x");
    auto file_as_dir = part_file::open(dir / "plain", "f");
    REQUIRE_FALSE(file_as_dir.has_value());
    CHECK(file_as_dir.error() == errc::not_a_directory);

    CHECK(existing_file_size(dir / "nope", "f").error() == errc::no_such_file_or_directory);

    if (::geteuid() != 0) { // root ignores permission bits
        fs::create_directory(dir / "locked");
        fs::permissions(dir / "locked", fs::perms::none);
        auto locked = part_file::open(dir / "locked", "f");
        REQUIRE_FALSE(locked.has_value());
        CHECK(locked.error() == errc::permission_denied);
        fs::permissions(dir / "locked", fs::perms::owner_all);
    }
}

TEST_CASE("a file in place of an intermediate directory is not_a_directory") {
    temp_dir dir;
    write_text(dir / "a", "I am a file");
    auto file = part_file::open(dir.path(), "a/b");
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error() == errc::not_a_directory);
    CHECK(read_text(dir / "a") == "I am a file");
}

TEST_CASE("a symlink planted as an intermediate directory is refused") {
    temp_dir dir;
    temp_dir outside;
    fs::create_directory(dir / "models");
    fs::create_directory_symlink(outside.path(), dir / "models/evil");

    auto file = part_file::open(dir.path(), "models/evil/weights.bin");
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error() == errc::too_many_symbolic_link_levels);
    auto deeper = part_file::open(dir.path(), "models/evil/sub/weights.bin");
    REQUIRE_FALSE(deeper.has_value());
    CHECK(deeper.error() == errc::too_many_symbolic_link_levels);
    CHECK(entry_count(outside.path()) == 0);

    // A symlink to a directory inside the destination is refused too: no link is followed.
    fs::create_directory(dir / "real");
    fs::create_directory_symlink(dir / "real", dir / "alias");
    auto alias = part_file::open(dir.path(), "alias/f");
    REQUIRE_FALSE(alias.has_value());
    CHECK(alias.error() == errc::too_many_symbolic_link_levels);
    CHECK(entry_count(dir / "real") == 0);

    write_text(outside / "secret", "1234");
    auto size = existing_file_size(dir.path(), "models/evil/secret");
    REQUIRE_FALSE(size);
    CHECK(size.error() == errc::too_many_symbolic_link_levels);
}

TEST_CASE("a symlink or hard link planted as NAME.part is refused") {
    temp_dir dir;
    temp_dir outside;
    write_text(outside / "target", "do not touch");

    fs::create_symlink(outside / "target", dir / "weights.bin.part");
    auto file = part_file::open(dir.path(), "weights.bin");
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error() == errc::too_many_symbolic_link_levels);
    CHECK(read_text(outside / "target") == "do not touch");

    // A dangling symlink must not be created through either.
    fs::create_symlink(outside / "created", dir / "other.part");
    auto dangling = part_file::open(dir.path(), "other");
    REQUIRE_FALSE(dangling.has_value());
    CHECK(dangling.error() == errc::too_many_symbolic_link_levels);
    CHECK_FALSE(fs::exists(outside / "created"));

    // A hard link would share the inode with a file elsewhere (same file system: /tmp).
    std::error_code ec;
    fs::create_hard_link(outside / "target", dir / "linked.part", ec);
    if (!ec) {
        auto linked = part_file::open(dir.path(), "linked");
        REQUIRE_FALSE(linked.has_value());
        CHECK(linked.error() == errc::too_many_links);
        CHECK(read_text(outside / "target") == "do not touch");
    }

    // A directory or FIFO under the .part name is not a file to write.
    fs::create_directory(dir / "d.part");
    CHECK_FALSE(part_file::open(dir.path(), "d").has_value());
    REQUIRE(::mkfifo((dir / "p.part").c_str(), 0600) == 0);
    auto fifo = part_file::open(dir.path(), "p");
    REQUIRE_FALSE(fifo.has_value());
    CHECK(fifo.error() == errc::invalid_argument);

    CHECK(entry_count(outside.path()) == 1);
}

TEST_CASE("existing_file_size looks without following or creating") {
    temp_dir dir;
    auto missing = existing_file_size(dir.path(), "a/b/c");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error() == errc::no_such_file_or_directory);
    CHECK(entry_count(dir.path()) == 0); // nothing created

    fs::create_directories(dir / "a/b");
    write_text(dir / "a/b/c", "12345");
    REQUIRE(existing_file_size(dir.path(), "a/b/c"));
    CHECK(*existing_file_size(dir.path(), "a/b/c") == 5);

    fs::create_symlink(dir / "a/b/c", dir / "a/b/link");
    CHECK(existing_file_size(dir.path(), "a/b/link").error() == errc::too_many_symbolic_link_levels);
    CHECK(existing_file_size(dir.path(), "a/b").error() == errc::is_a_directory);
    REQUIRE(::mkfifo((dir / "a/fifo").c_str(), 0600) == 0);
    CHECK_FALSE(existing_file_size(dir.path(), "a/fifo"));
}

TEST_CASE("a file size limit is reported as file_too_large (RLIMIT_FSIZE in a child)") {
    temp_dir dir;
    auto file = part_file::open(dir.path(), "big");
    REQUIRE(file.has_value());
    // 0: as expected; other codes say which step failed (the child cannot use CHECK).
    int status = in_child([&]() -> int {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{1 << 20, 1 << 20};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0)
            return 10;
        if (file->write_at(0, "below", 5))
            return 11;
        if (file->write_at(2 << 20, "beyond", 6) != errc::file_too_large)
            return 12;
        if (file->preallocate(4 << 20) != errc::file_too_large)
            return 13;
        // A write straddling the limit: the part below it lands, then EFBIG.
        std::string chunk(8192, 'z');
        if (file->write_at((1 << 20) - 4096, chunk.data(), chunk.size()) != errc::file_too_large)
            return 14;
        return 0;
    });
    CHECK(status == 0);
    // The parent's limit is untouched.
    CHECK_FALSE(file->write_at(2 << 20, "beyond", 6));
}

TEST_CASE("a full file system is reported as no_space_on_device (tmpfs in a private mount namespace)") {
    temp_dir dir;
    // 77 means: no permission to make a mount namespace or mount here; skipped.
    int status = in_child([&]() -> int {
        if (::unshare(CLONE_NEWNS) != 0)
            return 77;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return 77;
        if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0)
            return 77;
        // The mount vanishes with this child's namespace: nothing to clean up.
        auto file = part_file::open(dir.path(), "sub/f");
        if (!file)
            return 20;
        if (file->preallocate(16 << 20) != errc::no_space_on_device)
            return 21;
        std::string chunk(64 * 1024, 'q');
        boost::system::error_code ec;
        for (std::uint64_t at = 0; at < (16u << 20) && !ec; at += chunk.size())
            ec = file->write_at(at, chunk.data(), chunk.size());
        if (ec != errc::no_space_on_device)
            return 22;
        if (file->discard())
            return 23;
        return 0;
    });
    if (status == 77) {
        MESSAGE("cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN); skipped");
        return;
    }
    CHECK(status == 0);
    CHECK(entry_count(dir.path()) == 0); // the tmpfs was never visible here
}
