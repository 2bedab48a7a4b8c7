// Disks that say no: out of space (a small tmpfs in a private mount namespace), a file size limit
// (RLIMIT_FSIZE), destinations that cannot be created or written, and symlinks planted in the
// destination. All through the real `ferry get` binary against the in-process origin.
#include "reliability/get_fixture.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ferry;
using ferry::test::get_fixture;
using ferry::test::KiB;
using ferry::test::MiB;
using ferry::test::run_result;
using ferry::test::slurp;
using ferry::test::spit;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

/// Lines of `text` that contain `part`.
std::size_t lines_with(const std::string& text, std::string_view part) {
    std::size_t n = 0;
    for (auto& line : ferry::test::lines_of(text))
        n += contains(line, part);
    return n;
}

/// Mounts tmpfs file systems in a private mount namespace held by a child process. The test
/// reaches them through /proc/PID/root (view) and runs programs inside with nsenter (enter);
/// nothing is mounted in the test's own namespace, and everything vanishes with the holder,
/// whatever happens to the test.
class private_mounts {
public:
    struct mount_spec {
        fs::path where;      ///< an existing empty directory
        std::string options; ///< tmpfs options, e.g. "size=8m"
        bool read_only = false;
    };

    explicit private_mounts(std::vector<mount_spec> mounts) {
        if (::geteuid() != 0 || !fs::exists("/usr/bin/nsenter"))
            return;
        int ready[2], hold[2];
        REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(hold, O_CLOEXEC) == 0);
        // Prepared before fork: after it the child makes system calls only.
        std::vector<std::string> where, options;
        for (auto& m : mounts) {
            where.push_back(m.where.string());
            options.push_back(m.options);
        }
        pid_t parent = ::getpid();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(ready[0]);
            ::close(hold[1]);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            char status = 0;
            if (::getppid() != parent)
                ::_exit(1);
            if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                status = 1;
            for (std::size_t i = 0; i < where.size() && status == 0; ++i) {
                unsigned long flags = mounts[i].read_only ? MS_RDONLY : 0;
                if (::mount("tmpfs", where[i].c_str(), "tmpfs", flags, options[i].c_str()) != 0)
                    status = 2;
            }
            [[maybe_unused]] auto w = ::write(ready[1], &status, 1);
            for (;;) { // until the test closes its end
                char byte;
                auto n = ::read(hold[0], &byte, 1);
                if (n == 0 || (n < 0 && errno != EINTR))
                    break;
            }
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(hold[0]);
        hold_ = hold[1];
        char status = 1;
        ssize_t n;
        do
            n = ::read(ready[0], &status, 1);
        while (n < 0 && errno == EINTR);
        ::close(ready[0]);
        ok_ = n == 1 && status == 0;
    }
    ~private_mounts() {
        if (hold_ >= 0)
            ::close(hold_);
        if (pid_ > 0) {
            int status;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    private_mounts(const private_mounts&) = delete;
    private_mounts& operator=(const private_mounts&) = delete;

    /// False when mounts are not possible here (not root, no nsenter, no CAP_SYS_ADMIN).
    bool ok() const noexcept { return ok_; }
    /// `absolute` as the namespace sees it.
    fs::path view(const fs::path& absolute) const {
        return fs::path("/proc/" + std::to_string(pid_) + "/root") / absolute.relative_path();
    }
    /// argv prefix running a program inside the namespace.
    std::vector<std::string> enter() const {
        return {"/usr/bin/nsenter", "--mount=/proc/" + std::to_string(pid_) + "/ns/mnt", "--"};
    }

private:
    pid_t pid_ = -1;
    int hold_ = -1;
    bool ok_ = false;
};

/// The origin and scratch directory of these tests.
struct disk_fixture : get_fixture {
    disk_fixture() : get_fixture("ferry-disk") {}
};

} // namespace

TEST_CASE("out of space on a small tmpfs: a clear error naming the file, others unharmed, a rerun completes") {
    disk_fixture f;
    auto mnt = f.dir / "mnt";
    fs::create_directories(mnt);
    private_mounts ns({{mnt, "size=12m,mode=0755"}});
    if (!ns.ok()) {
        MESSAGE("cannot mount a tmpfs in a private namespace here (not root or no nsenter); skipped");
        return;
    }
    f.serve("a.bin", 1 * MiB);
    f.serve("big.bin", 6 * MiB);
    f.serve("c.bin", 512 * KiB);
    // 8 MiB of the 12 are taken by something else.
    spit(ns.view(mnt / "filler"), std::string(8 * MiB, 'f'));

    SUBCASE("a manifest that obviously cannot fit is refused before anything starts") {
        auto manifest = f.manifest("m", {{"a.bin", 1 * MiB}, {"big.bin", 6 * MiB}, {"c.bin", 512 * KiB}});
        auto r = f.run(f.get(mnt / "out", {"-i", manifest.string()}, ns.enter()));
        CAPTURE(r.err);
        CHECK(r.status == 1);
        CHECK(contains(r.err, "not enough space in"));
        CHECK(contains(r.err, std::to_string(7 * MiB + 512 * KiB) + " bytes needed"));
        CHECK(f.server.stats().requests == 0);
        std::error_code ec; // the model's directory may have been made; nothing is in it
        CHECK((!fs::exists(ns.view(mnt / "out" / "m"), ec) || fs::is_empty(ns.view(mnt / "out" / "m"), ec)));
    }
    SUBCASE("found out while downloading (sizes unknown): the file fails, the others complete") {
        auto out = mnt / "out";
        auto argv = f.get(out, {f.url("a.bin"), f.url("big.bin"), f.url("c.bin")}, ns.enter());
        auto r = f.run(argv);
        CAPTURE(r.err);
        CHECK(r.status == 1);
        // One line, naming the file, the reason and the space needed.
        CHECK(lines_with(r.err, "big.bin.part: No space left on device") == 1);
        // The space ran out while preallocating, before any byte: nothing is left to resume.
        CHECK(contains(r.err, "(" + std::to_string(6 * MiB) + " more bytes needed)"));
        CHECK_FALSE(contains(r.err, "a.bin"));
        CHECK_FALSE(contains(r.err, "c.bin"));
        CHECK(f.matches(ns.view(out / "a.bin"), "a.bin", 1 * MiB));
        CHECK(f.matches(ns.view(out / "c.bin"), "c.bin", 512 * KiB));
        CHECK_FALSE(fs::exists(ns.view(out / "big.bin")));
        CHECK_FALSE(fs::exists(ns.view(out / "big.bin.part")));
        CHECK_FALSE(fs::exists(ns.view(out / "big.bin.part.journal")));

        // Space freed: the same command completes.
        fs::remove(ns.view(mnt / "filler"));
        f.server.reset_stats();
        auto again = f.run(argv);
        CAPTURE(again.err);
        CHECK(again.status == 0);
        CHECK(f.matches(ns.view(out / "big.bin"), "big.bin", 6 * MiB));
        CHECK(f.matches(ns.view(out / "a.bin"), "a.bin", 1 * MiB));
        CHECK(f.matches(ns.view(out / "c.bin"), "c.bin", 512 * KiB));
        CHECK_FALSE(fs::exists(ns.view(out / "big.bin.part")));
        CHECK_FALSE(fs::exists(ns.view(out / "big.bin.part.journal")));
    }
}

namespace {

/// `ferry get` under RLIMIT_FSIZE (prlimit), with SIGXFSZ ignored or at its default.
run_result run_with_file_size_limit(disk_fixture& f, const std::vector<std::string>& get, std::uint64_t limit,
                                    bool ignore_sigxfsz) {
    std::string command = ignore_sigxfsz ? "trap '' XFSZ; exec" : "exec";
    command += " /usr/bin/prlimit --fsize=" + std::to_string(limit) + " --";
    for (auto& a : get)
        command += " '" + a + "'";
    return f.run({"/bin/sh", "-c", command});
}

void file_size_limit_case(bool ignore_sigxfsz) {
    if (!fs::exists("/usr/bin/prlimit")) {
        MESSAGE("no prlimit; skipped");
        return;
    }
    disk_fixture f;
    f.serve("a.bin", 256 * KiB);
    f.serve("big.bin", 4 * MiB);
    f.serve("c.bin", 512 * KiB);
    auto out = f.dir / "out";
    auto get = f.get(out, {"-j", "1", f.url("a.bin"), f.url("big.bin"), f.url("c.bin")});
    auto r = run_with_file_size_limit(f, get, 2 * MiB, ignore_sigxfsz);
    CAPTURE(r.err);
    CHECK(r.status == 1); // not 153: killed by SIGXFSZ
    CHECK(lines_with(r.err, "big.bin.part: File too large (the file is " + std::to_string(4 * MiB) + " bytes)") == 1);
    CHECK(f.matches(out / "a.bin", "a.bin", 256 * KiB));
    CHECK(f.matches(out / "c.bin", "c.bin", 512 * KiB));
    CHECK_FALSE(fs::exists(out / "big.bin"));
    CHECK_FALSE(fs::exists(out / "big.bin.part")); // refused while preallocating: nothing to resume

    auto again = f.run(get);
    CAPTURE(again.err);
    CHECK(again.status == 0);
    CHECK(f.matches(out / "big.bin", "big.bin", 4 * MiB));
    CHECK_FALSE(fs::exists(out / "big.bin.part"));
}

} // namespace

TEST_CASE("a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored): a clear error, others complete, a rerun completes") {
    file_size_limit_case(true);
}

// ferry ignores SIGXFSZ itself, so a limit past which the kernel would kill it is an error instead.
TEST_CASE("a file size limit with SIGXFSZ at its default: ferry still fails cleanly") {
    file_size_limit_case(false);
}

TEST_CASE("a destination that cannot be created is a clear error, exit 1") {
    disk_fixture f;
    f.serve("x.bin", 1000);
    spit(f.dir / "a-file", "not a directory");
    auto r = f.run(f.get(f.dir / "a-file" / "out", {f.url("x.bin")}));
    CAPTURE(r.err);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "destination"));
    CHECK(contains(r.err, "Not a directory"));
    CHECK(f.server.stats().requests == 0);
}

TEST_CASE("a missing destination directory is created (mkdir -p)") {
    disk_fixture f;
    f.serve("x.bin", 1000);
    auto dest = f.dir / "missing" / "deeper" / "out";
    auto r = f.run(f.get(dest, {f.url("x.bin")}));
    CAPTURE(r.err);
    CHECK(r.status == 0);
    CHECK(f.matches(dest / "x.bin", "x.bin", 1000));
}

TEST_CASE("a read-only destination is a clear error naming the file, exit 1") {
    disk_fixture f;
    auto ro = f.dir / "ro";
    fs::create_directories(ro);
    private_mounts ns({{ro, "size=1m", true}});
    if (!ns.ok()) {
        MESSAGE("cannot mount a read-only tmpfs here (not root or no nsenter); skipped");
        return;
    }
    f.serve("x.bin", 1000);
    SUBCASE("the directory exists") {
        auto r = f.run(f.get(ro, {f.url("x.bin")}, ns.enter()));
        CAPTURE(r.err);
        CHECK(r.status == 1);
        CHECK(lines_with(r.err, "x.bin.part: Read-only file system") == 1);
    }
    SUBCASE("the directory would have to be created") {
        auto r = f.run(f.get(ro / "out", {f.url("x.bin")}, ns.enter()));
        CAPTURE(r.err);
        CHECK(r.status == 1);
        CHECK(contains(r.err, "destination"));
        CHECK(contains(r.err, "Read-only file system"));
        CHECK(f.server.stats().requests == 0);
    }
}

TEST_CASE("symlinks planted in the destination are not followed: nothing is written outside it") {
    disk_fixture f;
    auto out = f.dir / "out";
    auto model = out / "model";
    auto elsewhere = f.dir / "elsewhere";
    fs::create_directories(model);
    fs::create_directories(elsewhere);
    spit(elsewhere / "victim-part", "precious part");
    spit(elsewhere / "victim-final", "precious final");
    // A directory, a .part and a final name, each a link out of the destination.
    fs::create_directory_symlink(elsewhere, model / "sub");
    fs::create_symlink(elsewhere / "victim-part", model / "link.bin.part");
    fs::create_symlink(elsewhere / "victim-final", model / "final.bin");

    f.serve("sub/weights.bin", 300 * KiB);
    f.serve("link.bin", 200 * KiB);
    f.serve("final.bin", 100 * KiB);
    f.serve("ok.bin", 50 * KiB);
    auto manifest = f.manifest("model", {{"sub/weights.bin", 300 * KiB},
                                         {"link.bin", 200 * KiB},
                                         {"final.bin", 100 * KiB},
                                         {"ok.bin", 50 * KiB}});
    auto r = f.run(f.get(out, {"-i", manifest.string()}));
    CAPTURE(r.err);
    CHECK(r.status == 1);
    // The two files whose path goes through a link fail, each with one line naming it.
    CHECK(lines_with(r.err, "sub/weights.bin") == 1);
    CHECK(lines_with(r.err, "link.bin") == 1);
    CHECK(lines_with(r.err, "ymbolic link") == 2);
    // The rest completes; a link in place of the final name is replaced, not written through.
    CHECK(f.matches(model / "ok.bin", "ok.bin", 50 * KiB));
    CHECK(f.matches(model / "final.bin", "final.bin", 100 * KiB));
    CHECK_FALSE(fs::is_symlink(model / "final.bin"));
    // Outside: exactly what was there, untouched.
    CHECK(slurp(elsewhere / "victim-part") == "precious part");
    CHECK(slurp(elsewhere / "victim-final") == "precious final");
    std::size_t entries = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(elsewhere))
        ++entries;
    CHECK(entries == 2);
    CHECK(fs::is_symlink(model / "sub"));
    CHECK(fs::is_symlink(model / "link.bin.part"));
}
