// Crash safety of the real `ferry get` binary: SIGKILL at pseudo-random moments across a
// multi-file, multi-segment download, rerunning the same command each time. After every kill no
// final path may hold a partial or unverified file; the last run completes byte-identical; and the
// bytes the origin sent again stay within a stated bound.
#include "reliability/get_fixture.hpp"

#include "memory/resume_journal.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

using namespace ferry;
using ferry::test::child_process;
using ferry::test::get_fixture;
using ferry::test::KiB;
using ferry::test::MiB;
using ferry::test::shell_status;
using ferry::test::slurp;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// An inotify watch on one directory, closed on destruction.
class directory_watch {
public:
    explicit directory_watch(const fs::path& dir) {
        fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        REQUIRE(fd_ >= 0);
        REQUIRE(::inotify_add_watch(fd_, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) >= 0);
    }
    ~directory_watch() { ::close(fd_); }
    directory_watch(const directory_watch&) = delete;
    directory_watch& operator=(const directory_watch&) = delete;

    /// Waits up to `timeout` for something to happen in the directory, then drains the events.
    void wait(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
        alignas(inotify_event) char buffer[4096];
        while (::read(fd_, buffer, sizeof buffer) > 0) {
        }
    }

private:
    int fd_ = -1;
};

struct shard {
    std::string name;
    std::uint64_t size = 0;
    sha256_digest digest{};
};

} // namespace

TEST_CASE("SIGKILL at random moments never leaves a partial file in place, and resumes") {
    const std::uint64_t seed = [] {
        const char* text = std::getenv("FERRY_CRASH_SEED");
        return text ? std::strtoull(text, nullptr, 10) : 77;
    }();
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    auto uniform = [&](std::int64_t lo, std::int64_t hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(random);
    };

    // Each response is capped at 384 KiB/s: 4 files x 4 connections take about 16 s of transfer
    // for 96 MiB, so every kill lands mid-transfer and the whole test stays under a minute.
    constexpr std::uint64_t per_connection_rate = 384 * KiB;
    constexpr int files = 4, connections_per_file = 4, min_kills = 20;
    origin::origin_config oc;
    oc.rate_per_connection = per_connection_rate;
    oc.threads = 2;
    get_fixture f("ferry-crash", oc);
    auto& dir = f.dir;
    auto out = dir / "out";
    auto model_dir = out / "crash";
    fs::create_directories(model_dir);

    std::vector<shard> shards;
    std::vector<std::pair<std::string, std::uint64_t>> listed;
    std::uint64_t payload = 0;
    for (int i = 0; i < files; ++i) {
        shard s;
        s.name = "shard-" + std::to_string(i) + ".bin";
        s.size = 24 * MiB;
        s.digest = f.digest(s.name, s.size);
        f.serve(s.name, s.size);
        listed.emplace_back(s.name, s.size);
        payload += s.size;
        shards.push_back(s);
    }
    auto manifest = f.manifest("crash", listed);
    const auto argv = f.get(out, {"-i", manifest.string(), "-x", std::to_string(connections_per_file)});

    // Durable progress of each file: bytes a rerun will not fetch again (journaled ranges, or the
    // whole file once it is in place).
    auto progress_of_each = [&] {
        std::vector<std::uint64_t> each;
        for (auto& s : shards) {
            std::uint64_t n = 0;
            std::error_code ec;
            if (fs::exists(model_dir / s.name, ec)) {
                n = s.size;
            } else if (auto record = read_journal(model_dir / (s.name + ".part.journal"))) {
                for (auto& r : record->done)
                    n += r.size();
            }
            each.push_back(n);
        }
        return each;
    };
    auto durable = [&] {
        auto each = progress_of_each();
        std::uint64_t n = 0;
        for (auto v : each)
            n += v;
        return n;
    };
    // The invariant: a final name exists only with the right size and digest.
    auto check_final_names = [&](int kill) {
        for (auto& s : shards) {
            auto path = model_dir / s.name;
            std::error_code ec;
            if (!fs::exists(path, ec))
                continue;
            CAPTURE(kill);
            CAPTURE(path);
            CHECK(fs::file_size(path) == s.size);
            CHECK(sha256_of_file(path) == s.digest);
        }
    };

    directory_watch watch(model_dir);
    int kills = 0, runs = 0, waited_for_journal = 0;
    const auto give_up = std::chrono::steady_clock::now() + 75s;
    while (kills < min_kills && std::chrono::steady_clock::now() < give_up) {
        child_process child(argv, dir / "ferry.out", dir / "ferry.err");
        ++runs;
        auto delay = std::chrono::milliseconds(uniform(50, 400));
        auto ended = child.wait_for(delay);
        // Every other kill waits (bounded) until the journal of every unfinished file shows new
        // progress, then a random while longer: a run shorter than the journal interval (1 s)
        // would otherwise never advance the download.
        if (!ended && kills % 2 == 1) {
            ++waited_for_journal;
            auto deadline = std::chrono::steady_clock::now() + 5s;
            auto start = progress_of_each();
            auto all_advanced = [&] {
                auto now = progress_of_each();
                for (std::size_t i = 0; i < now.size(); ++i)
                    if (now[i] < shards[i].size && now[i] <= start[i])
                        return false;
                return true;
            };
            while (!all_advanced() && child.running() && std::chrono::steady_clock::now() < deadline)
                watch.wait(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::min<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(), 250ms)));
            ended = child.wait_for(std::chrono::milliseconds(uniform(0, 300)));
        }
        if (ended || !child.running()) {
            // It finished before the kill: the download is complete, no more kills possible.
            auto status = child.kill_and_wait();
            INFO("ferry ended by itself after " << kills << " kills, status " << shell_status(status) << ": "
                                                 << slurp(dir / "ferry.err"));
            CHECK(shell_status(status) == 0);
            break;
        }
        int status = child.kill_and_wait();
        CHECK(WIFSIGNALED(status));
        ++kills;
        check_final_names(kills);
    }
    CHECK(kills >= min_kills);
    auto before_final = f.server.stats();
    auto durable_before_final = durable();

    // The last run, undisturbed, completes everything.
    {
        child_process child(argv, dir / "ferry.out", dir / "ferry.err");
        auto status = child.wait_for(60s);
        REQUIRE_MESSAGE(status.has_value(), "the final run did not finish within 60 s");
        INFO("stderr: " << slurp(dir / "ferry.err"));
        CHECK(shell_status(*status) == 0);
    }
    check_final_names(-1);
    std::set<std::string> expected, litter;
    for (auto& s : shards) {
        expected.insert(s.name);
        CHECK(fs::exists(model_dir / s.name));
    }
    for (auto& entry : fs::directory_iterator(model_dir)) {
        auto name = entry.path().filename().string();
        if (!expected.count(name))
            litter.insert(name);
    }
    for (auto& name : litter) {
        // A journal's temporary file from a kill inside its few-microsecond write is harmless
        // (never read) but should not stay; anything else is a leftover of the download.
        if (name.find(".part.journal.tmp") != std::string::npos)
            WARN_MESSAGE(false, "a journal temp file was left behind: " << name);
        else
            CHECK_MESSAGE(false, "left in the destination: " << name);
    }

    // The bound: what a kill can make the origin send again is what had not reached the journal.
    // Per kill and per connection that is at most
    //   - one I/O buffer (256 KiB: a worker fills its whole buffer before one pwrite),
    //   - plus what was written since the last journal write of its file (the journal is
    //     rewritten every second or 4 MiB: 1 s at the per-connection cap, 384 KiB),
    //   - plus what was in flight (the origin paces its body in 20 ms pieces; 64 KiB is generous),
    // and over the whole run 2% of the payload for steals that cut a response short.
    auto stats = f.server.stats();
    const std::uint64_t per_kill_per_connection = 256 * KiB + per_connection_rate * 1 + 64 * KiB;
    const std::uint64_t bound = payload + payload / 50 +
                                std::uint64_t(kills) * files * connections_per_file * per_kill_per_connection;
    MESSAGE("seed " << seed << ": " << runs + 1 << " runs, " << kills << " kills (" << waited_for_journal
                    << " after journal progress); origin sent " << stats.body_bytes_sent << " body bytes for a payload of "
                    << payload << ", " << durable_before_final << " of it durable before the final run (" << (double(stats.body_bytes_sent) / double(payload) - 1) * 100
                    << "% again; bound " << bound << "), " << stats.requests << " requests; the final run fetched "
                    << stats.body_bytes_sent - before_final.body_bytes_sent);
    CHECK(stats.body_bytes_sent >= payload);
    CHECK(stats.body_bytes_sent <= bound);
}
