// ferry-soak: a long run of many concurrent transfers through the project's origin with faults
// mixed in, watching this process's memory and open file descriptors for leaks and verifying
// every file. See `ferry-soak --help`; results in docs/benchmarks.md.
//
// It embeds the engine the way an async server would: one io_context (run by the main thread)
// drives the engine and the soak's own timers; results arrive on the engine's strand; the heavy
// part of handling one (hashing the finished file) goes to a thread pool, which also adds the
// next transfer. The origin runs in the same process on its own thread.
#include "engine/engine.hpp"
#include "memory/memory_limits.hpp"
#include "memory/sha256.hpp"
#include "tools/arguments.hpp"
#include "tools/origin/origin_server.hpp"
#include "tools/origin/synthetic.hpp"
#include "tools/soak/process_usage.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

namespace ferry::soak {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

constexpr const char* usage =
    "usage: ferry-soak [OPTIONS]\n"
    "\n"
    "Keeps N transfers in flight for a while through an in-process HTTPS origin that misbehaves\n"
    "(connections dropped at random offsets, stalls, 503 and 429 with Retry-After, short bodies,\n"
    "ignored ranges, lying Content-Range, late first bytes). Each finished file is checked (size\n"
    "and sha256 against the synthetic content), deleted, and replaced by a new transfer. Memory\n"
    "(VmRSS, heap in use) and open file descriptors are sampled throughout.\n"
    "\n"
    "  --duration SECONDS     how long to keep adding transfers (default 600)\n"
    "  --concurrency N        transfers in flight (default 1000)\n"
    "  --connections N        connections in total (default 256): transfers wait for one\n"
    "  --file-size SIZE       typical file size (default 1M): a third of the files are small\n"
    "                         (0-64K), the rest between SIZE/2 and 2*SIZE\n"
    "  --fault-rate PERCENT   share of requests the origin answers with a fault (default 2)\n"
    "  --seed N               seed of the sizes, the fault mix and the synthetic bytes (default 1)\n"
    "  --dir DIR              where files land, in a fresh subdirectory removed at the end\n"
    "                         (default /dev/shm when it has room, else the temp directory)\n"
    "  --json FILE            write the options, every sample and the summary as JSON\n"
    "\n"
    "The warm-up is the first 10% of the duration, at least 30 s (at most half the run). Fails\n"
    "(exit 1) when any file failed or was wrong; when the RSS at the end exceeds the RSS at the\n"
    "end of the warm-up by more than 20% + 16 MiB; when the most descriptors open over the last\n"
    "tenth of the samples exceed the most over the tenth after the warm-up by more than 16 + N/20;\n"
    "or when descriptors are left open after shutdown. Exit 2: usage.\n";

struct options {
    std::chrono::seconds duration{600};
    std::size_t concurrency = 1000;
    std::size_t connections = 256;
    std::uint64_t file_size = 1 * MiB;
    unsigned fault_percent = 2;
    std::uint64_t seed = 1;
    fs::path dir;
    fs::path json_file;
};

options parse_options(std::span<const std::string_view> args) {
    options o;
    cli::arguments a(args);
    std::string value;
    while (!a.done()) {
        auto arg = a.take();
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        if (a.value(arg, "--duration", value)) {
            o.duration = std::chrono::seconds(cli::parse_count("--duration", value));
        } else if (a.value(arg, "--concurrency", value)) {
            o.concurrency = cli::parse_count("--concurrency", value);
        } else if (a.value(arg, "--connections", value)) {
            o.connections = cli::parse_count("--connections", value);
        } else if (a.value(arg, "--file-size", value)) {
            auto size = parse_byte_size(value);
            if (!size || *size < 2)
                throw cli::usage_error("--file-size needs a size like 512K or 4M, not '" + value + "'");
            o.file_size = *size;
        } else if (a.value(arg, "--fault-rate", value)) {
            o.fault_percent = value == "0" ? 0 : static_cast<unsigned>(cli::parse_count("--fault-rate", value));
            if (o.fault_percent > 100)
                throw cli::usage_error("--fault-rate is a percentage (0-100), not '" + value + "'");
        } else if (a.value(arg, "--seed", value)) {
            o.seed = value == "0" ? 0 : cli::parse_count("--seed", value);
        } else if (a.value(arg, "--dir", value)) {
            o.dir = value;
        } else if (a.value(arg, "--json", value)) {
            o.json_file = value;
        } else {
            throw cli::usage_error("unknown option '" + std::string(arg) + "' (ferry-soak --help)");
        }
    }
    return o;
}

std::string mib(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / double(MiB));
    return text;
}

/// A fresh directory for the downloads under --dir, or /dev/shm when it can hold every file in
/// flight twice over, or the temp directory.
fs::path make_work_dir(const options& o) {
    fs::path parent = o.dir;
    if (parent.empty()) {
        struct statvfs shm{};
        std::uint64_t wanted = 2 * o.concurrency * 2 * o.file_size;
        bool shm_fits = ::statvfs("/dev/shm", &shm) == 0 && std::uint64_t(shm.f_bavail) * shm.f_frsize > wanted;
        parent = shm_fits ? fs::path("/dev/shm") : fs::temp_directory_path();
    }
    fs::create_directories(parent);
    std::string pattern = (parent / "ferry-soak-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
        throw std::system_error(errno, std::generic_category(), "cannot create a directory in " + parent.string());
    return pattern;
}

/// One file the origin serves, with what a correct download of it holds.
struct served_file {
    std::string path; ///< URL path without the leading '/'
    std::uint64_t size = 0;
    sha256_digest digest{};
};

/// Twice as many synthetic files as transfers in flight, under /soak/ (two transfers of one file
/// at once happen, but are not the rule), sized like a model repository: a third small (configs,
/// tokenizers), the rest around `file_size` (shards; past the first 1 MiB request, a file is
/// fetched over several connections).
std::vector<served_file> serve_files(origin::origin_server& server, const options& o) {
    std::mt19937_64 random(o.seed);
    std::vector<served_file> files(2 * o.concurrency);
    for (std::size_t i = 0; i < files.size(); ++i) {
        auto& f = files[i];
        f.path = "soak/file-" + std::to_string(i) + ".bin";
        f.size = i % 3 == 0 ? std::uniform_int_distribution<std::uint64_t>(0, 64 * KiB)(random)
                            : std::uniform_int_distribution<std::uint64_t>(o.file_size / 2, 2 * o.file_size)(random);
        f.digest = origin::synthetic_sha256(f.path, f.size, server.config().seed);
        server.add_synthetic(f.path, f.size);
    }
    return files;
}

/// The kinds of fault and how often each is drawn (weights out of 100).
constexpr std::pair<const char*, int> fault_kinds[] = {
    {"drop", 30},       // connection closed at a random body offset
    {"stall", 15},      // body stops at a random offset, connection left open
    {"503", 15},        // 503 with Retry-After: 1
    {"429", 5},         // 429 with Retry-After: 0
    {"short-body", 10}, // Content-Length promises more than is sent, then close
    {"late-start", 5},  // first byte after the first-byte timeout
    {"ignore-range", 10},
    {"content-range", 5}, // a Content-Range other than asked for (header only, or body too)
    {"close", 5},         // Connection: close after a normal response
};

/// A random fault for one request; `kind` says which. Offsets are drawn within what a response
/// usually carries (a small file, or a piece of about 1 MiB): some land past the end of a shorter
/// body and change nothing.
origin::fault random_fault(std::mt19937_64& random, std::string& kind) {
    auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {
        return std::uniform_int_distribution<std::uint64_t>(lo, hi)(random);
    };
    int roll = static_cast<int>(uniform(0, 99));
    for (auto& [name, weight] : fault_kinds) {
        kind = name;
        if (roll < weight)
            break;
        roll -= weight;
    }
    origin::fault f;
    auto offset = [&] { return uniform(0, uniform(0, 2) == 0 ? 64 * KiB : MiB); };
    if (kind == "drop") {
        f.drop_after = offset();
    } else if (kind == "stall") {
        f.stall_after = offset();
    } else if (kind == "503") {
        f.status = 503;
        f.retry_after = "1";
    } else if (kind == "429") {
        f.status = 429;
        f.retry_after = "0";
    } else if (kind == "short-body") {
        f.short_body = uniform(1, 64 * KiB);
    } else if (kind == "late-start") {
        f.first_byte_delay = 6s; // the soak's first-byte timeout is 5 s
    } else if (kind == "ignore-range") {
        f.ignore_range = true;
    } else if (kind == "content-range") {
        f.content_range_shift = static_cast<std::int64_t>(uniform(1, 4096));
        f.shifted_body = uniform(0, 1) == 1;
    } else {
        f.close = true;
    }
    return f;
}

/// One look at the process and the counters.
struct sample {
    double seconds = 0; ///< since the start
    std::uint64_t rss = 0, heap = 0, fds = 0;
    std::uint64_t in_flight = 0, files_done = 0, failures = 0, bytes = 0;
    std::uint64_t requests = 0, faulted = 0; ///< origin totals so far
    std::uint64_t origin_connections = 0;    ///< open now

    json::object to_json() const {
        return {{"t", seconds},
                {"rss", rss},
                {"heap", heap},
                {"fds", fds},
                {"in_flight", in_flight},
                {"files_done", files_done},
                {"failures", failures},
                {"bytes", bytes},
                {"requests", requests},
                {"faulted", faulted},
                {"origin_connections", origin_connections}};
    }
};

/// What a run saw.
struct soak_results {
    std::vector<sample> samples;
    std::optional<std::size_t> warm_up_sample, end_sample; ///< indexes into samples
    std::uint64_t completed = 0, failed = 0, retries = 0;
    std::vector<std::string> failure_lines; ///< the first 20
    std::map<std::string, std::uint64_t> faults_armed; ///< by kind
    std::chrono::duration<double> ran_for{}; ///< until the end (not counting the drain)
    bool interrupted = false;
    engine_stats final_stats; ///< the engine's, once drained
};

/// The soak itself: keeps the transfers going, checks each file, injects faults, samples.
class soak_run {
public:
    soak_run(const options& o, asio::io_context& io, origin::origin_server& server, engine& downloads,
             const std::vector<served_file>& files, fs::path dir)
        : options_(o), io_(io), server_(server), downloads_(downloads), files_(files), dir_(std::move(dir)),
          random_(o.seed), fault_random_(o.seed + 1), drained_(io), signals_(io, SIGINT, SIGTERM) {}

    /// Starts the transfers and the soak's own coroutine; the caller then runs the io_context.
    void start() {
        started_ = clock::now();
        for (std::size_t i = 0; i < options_.concurrency; ++i)
            start_transfer();
        wait_for_signal();
        asio::co_spawn(io_, control(), asio::detached);
    }

    /// Once io_context::run() returned: waits for the verifier and hands over what was seen.
    soak_results finish() {
        verifier_.join();
        results_.completed = completed_;
        results_.failed = failed_;
        results_.retries = retries_;
        results_.interrupted = interrupted_;
        return std::move(results_);
    }

private:
    /// Adds one single-file model for a random served file. Any thread.
    void start_transfer() {
        std::size_t index = 0;
        std::uint64_t serial = 0;
        {
            std::lock_guard lock(mutex_);
            index = std::uniform_int_distribution<std::size_t>(0, files_.size() - 1)(random_);
            serial = ++serial_;
        }
        auto& served = files_[index];
        model_spec m;
        m.id = "soak-" + std::to_string(serial);
        m.dir = dir_;
        const auto destination = dir_ / (m.id + ".bin");
        file_spec f;
        f.urls = {server_.url(served.path)};
        f.path = destination.filename();
        f.size = served.size;
        if (serial % 2 == 0) // half without a digest: then only the soak's own check sees a wrong byte
            f.sha256 = served.digest;
        m.files.push_back(std::move(f));
        ++in_flight_; // before add(): the transfer may be over before add() returns
        auto added = downloads_.add(std::move(m));
        if (!added) { // one failure, and one transfer fewer in flight from now on
            --in_flight_;
            failure(served, "not added: " + added.error);
            return;
        }
        downloads_.async_wait(added.id, [this, index, destination](std::exception_ptr e, model_result r) {
            // On the engine's strand: hashing a file here would hold up every transfer.
            asio::post(verifier_, [this, index, destination, e, r = std::move(r)] {
                std::string problem;
                if (e)
                    problem = "wait() threw";
                else if (r.files.empty())
                    problem = "wait() gave no result (the engine had forgotten the model)";
                finished(files_[index], destination, problem.empty() ? &r.files.front() : nullptr, problem);
            });
        });
    }

    /// A transfer ended (on the verifier): check what it left at `destination`, clean up, start
    /// the next one unless the run is over. `r` is null when wait() gave no result (`problem`).
    void finished(const served_file& served, const fs::path& destination, const file_result* r,
                  std::string problem) {
        std::error_code ec;
        if (!problem.empty()) {
            // Nothing to check against: the file may be in place or not.
        } else if (r->outcome != file_outcome::done) {
            problem = std::string(to_string(r->outcome)) + ": " + r->message;
        } else if (auto size = fs::file_size(destination, ec); ec) {
            problem = "not in place: " + ec.message();
        } else if (size != served.size) {
            problem = "wrong size " + std::to_string(size);
        } else if (sha256_of_file(destination) != served.digest) {
            problem = "wrong sha256";
        } else if (fs::exists(destination.string() + ".part") || fs::exists(destination.string() + ".part.journal")) {
            problem = "a .part or journal left beside the file";
        }
        fs::remove(destination, ec);
        fs::remove(destination.string() + ".part", ec);
        fs::remove(destination.string() + ".part.journal", ec);
        if (r)
            retries_ += static_cast<std::uint64_t>(std::max(r->retries, 0));
        if (problem.empty()) {
            ++completed_;
            bytes_ += served.size;
        } else {
            failure(served, problem);
        }
        if (!stopping_)
            start_transfer();
        if (--in_flight_ == 0 && stopping_)
            asio::post(io_, [this] { drained_.cancel(); });
    }

    void failure(const served_file& served, const std::string& problem) {
        ++failed_;
        std::lock_guard lock(mutex_);
        if (results_.failure_lines.size() < 20)
            results_.failure_lines.push_back("/" + served.path + " (" + std::to_string(served.size) +
                                             " bytes): " + problem);
    }

    /// The first SIGINT or SIGTERM ends the run early (the usual end: drain, report); the second
    /// stops the transfers in flight.
    void wait_for_signal() {
        signals_.async_wait([this](boost::system::error_code ec, int) {
            if (ec)
                return;
            if (interrupted_)
                downloads_.stop();
            interrupted_ = true;
            wait_for_signal();
        });
    }

    /// Draws which of the next `expected` requests get a fault. A rule on every path with
    /// skip=i and times=1 fires on the (i+1)-th request from now; each second the rules are drawn
    /// again, for twice the requests the last second saw, so the rate holds when traffic grows.
    void arm_faults(std::uint64_t expected) {
        server_.clear_faults();
        std::bernoulli_distribution faulty(options_.fault_percent / 100.0);
        std::string kind;
        for (std::uint64_t i = 0; i < 2 * expected; ++i) {
            if (!faulty(fault_random_))
                continue;
            auto what = random_fault(fault_random_, kind);
            what.skip = static_cast<int>(i);
            what.times = 1;
            server_.add_fault("/soak/*", what);
            ++results_.faults_armed[kind];
        }
    }

    void take_sample() {
        // The origin's request log grows with every request: read it, then start it again.
        auto seen = server_.stats();
        server_.reset_stats();
        requests_ += seen.requests;
        for (auto& r : seen.log)
            faulted_ += r.faulted;
        sample s;
        s.seconds = std::chrono::duration<double>(clock::now() - started_).count();
        s.rss = resident_bytes();
        s.heap = heap_in_use();
        s.fds = open_fds();
        s.in_flight = in_flight_;
        s.files_done = completed_;
        s.failures = failed_;
        s.bytes = bytes_;
        s.requests = requests_;
        s.faulted = faulted_;
        s.origin_connections = seen.connections_open;
        auto previous = results_.samples.empty() ? sample{} : results_.samples.back();
        results_.samples.push_back(s);
        std::fprintf(stderr,
                     "  %5.0fs  rss %9s  heap %9s  fds %5llu  in flight %5llu  files %8llu (+%llu)  failed %llu  "
                     "requests %llu, %llu faulted\n",
                     s.seconds, mib(s.rss).c_str(), mib(s.heap).c_str(), (unsigned long long)s.fds,
                     (unsigned long long)s.in_flight, (unsigned long long)s.files_done,
                     (unsigned long long)(s.files_done - previous.files_done), (unsigned long long)s.failures,
                     (unsigned long long)s.requests, (unsigned long long)s.faulted);
    }

    /// The soak's clock: faults every second, samples every few, then the end and the drain.
    asio::awaitable<void> control() {
        const auto duration = std::chrono::duration_cast<clock::duration>(options_.duration);
        const auto interval = std::clamp<clock::duration>(duration / 60, 1s, 5s);
        const auto warm_up_at = started_ + std::min<clock::duration>(std::max<clock::duration>(duration / 10, 30s), duration / 2);
        const auto end_at = started_ + duration;
        auto next_sample = started_ + interval;
        auto next_faults = started_;
        std::uint64_t expected_requests = options_.concurrency; // in the first second: one per transfer
        std::uint64_t requests_before = 0;
        asio::steady_timer timer(io_);
        take_sample(); // at 0 s
        while (!interrupted_) {
            auto now = clock::now();
            if (now >= next_faults) {
                if (options_.fault_percent > 0)
                    arm_faults(expected_requests);
                next_faults += 1s;
            }
            if (now >= end_at)
                break;
            if (now >= next_sample) {
                take_sample();
                auto per_second = (requests_ - requests_before) / std::chrono::duration_cast<std::chrono::seconds>(interval).count();
                expected_requests = std::max<std::uint64_t>(per_second, 100);
                requests_before = requests_;
                if (!results_.warm_up_sample && now >= warm_up_at)
                    results_.warm_up_sample = results_.samples.size() - 1;
                next_sample += interval;
            }
            timer.expires_at(std::min({next_sample, next_faults, end_at}));
            auto wait = timer.async_wait(asio::as_tuple(asio::use_awaitable));
            co_await std::move(wait);
        }
        // The end: a last sample in the steady state, then no new transfers and no new faults.
        take_sample();
        results_.end_sample = results_.samples.size() - 1;
        results_.ran_for = clock::now() - started_;
        server_.clear_faults();
        stopping_ = true;
        // Transfers in flight finish (a stall costs its timeout and a retry); any still running a
        // minute later are stopped, and count as failures.
        for (auto limit : {60s, 10s}) {
            if (in_flight_ == 0)
                break;
            drained_.expires_after(limit);
            auto wait = drained_.async_wait(asio::as_tuple(asio::use_awaitable));
            co_await std::move(wait);
            if (in_flight_ != 0) {
                std::fprintf(stderr, "ferry-soak: %llu transfers still running %llds after the end; stopping them\n",
                             (unsigned long long)in_flight_.load(), (long long)limit.count());
                downloads_.stop();
            }
        }
        take_sample();
        auto stats = downloads_.stats();
        results_.final_stats = co_await std::move(stats);
        downloads_.stop();
        signals_.cancel();
    }

    const options& options_;
    asio::io_context& io_;
    origin::origin_server& server_;
    engine& downloads_;
    const std::vector<served_file>& files_;
    const fs::path dir_;
    clock::time_point started_;

    // Shared by the io thread and the verifier.
    std::mutex mutex_; ///< random_, serial_, results_.failure_lines
    std::mt19937_64 random_;
    std::uint64_t serial_ = 0;
    std::atomic<std::uint64_t> in_flight_{0}, completed_{0}, failed_{0}, bytes_{0}, retries_{0};
    std::atomic<bool> stopping_{false}, interrupted_{false};

    // The io thread only (but results_.failure_lines, under mutex_).
    soak_results results_;
    std::mt19937_64 fault_random_;
    std::uint64_t requests_ = 0, faulted_ = 0;
    asio::steady_timer drained_; ///< cancelled when the last transfer is in after the end
    asio::signal_set signals_;

    asio::thread_pool verifier_{1}; // last: joined (by its destructor) before the rest goes
};

/// Prints the report; true when the run passes.
bool report(const options& o, const soak_results& r, std::uint64_t fds_at_start, std::uint64_t fds_at_exit) {
    auto& samples = r.samples;
    bool ok = r.failed == 0 && r.completed > 0;
    std::uint64_t rss_max = 0, fds_max = 0, heap_max = 0;
    for (auto& s : samples) {
        rss_max = std::max(rss_max, s.rss);
        heap_max = std::max(heap_max, s.heap);
        fds_max = std::max(fds_max, s.fds);
    }
    std::string memory_line = "run too short to judge", heap_line, fd_line = memory_line;
    if (r.warm_up_sample && r.end_sample && *r.warm_up_sample < *r.end_sample) {
        auto& warm = samples[*r.warm_up_sample];
        auto& end = samples[*r.end_sample];
        // Descriptors in flight jitter by a tenth of the transfers from one sample to the next:
        // compare the highest count right after the warm-up with the highest at the end, each
        // over a tenth of the samples in between, so only a rising trend counts.
        std::size_t span = std::max<std::size_t>(1, (*r.end_sample - *r.warm_up_sample) / 10);
        auto highest_fds = [&](std::size_t first, std::size_t last) {
            std::uint64_t most = 0;
            for (std::size_t i = first; i <= last; ++i)
                most = std::max(most, samples[i].fds);
            return most;
        };
        std::uint64_t fds_after_warm_up = highest_fds(*r.warm_up_sample, *r.warm_up_sample + span - 1);
        std::uint64_t fds_at_end = highest_fds(*r.end_sample - span + 1, *r.end_sample);
        std::uint64_t rss_bound = warm.rss + warm.rss / 5 + 16 * MiB;
        std::uint64_t fds_bound = fds_after_warm_up + 16 + o.concurrency / 20;
        bool rss_ok = end.rss <= rss_bound, fds_ok = fds_at_end <= fds_bound;
        ok = ok && rss_ok && fds_ok;
        char line[256];
        std::snprintf(line, sizeof line, "%s after the warm-up (%.0f s), %s at the end, %s at most (bound %s): %s",
                      mib(warm.rss).c_str(), warm.seconds, mib(end.rss).c_str(), mib(rss_max).c_str(),
                      mib(rss_bound).c_str(), rss_ok ? "flat" : "GREW");
        memory_line = line;
        auto files = end.files_done - warm.files_done;
        std::snprintf(line, sizeof line, "%s after the warm-up, %s at the end, %s at most (%+.0f bytes per file since the warm-up)",
                      mib(warm.heap).c_str(), mib(end.heap).c_str(), mib(heap_max).c_str(),
                      files ? (double(end.heap) - double(warm.heap)) / double(files) : 0.0);
        heap_line = line;
        std::snprintf(line, sizeof line,
                      "%llu at most just after the warm-up, %llu at most at the end, %llu at most in all (bound %llu): %s",
                      (unsigned long long)fds_after_warm_up, (unsigned long long)fds_at_end,
                      (unsigned long long)fds_max, (unsigned long long)fds_bound, fds_ok ? "flat" : "GREW");
        fd_line = line;
    } else {
        ok = false;
    }
    bool fds_closed = fds_at_exit <= fds_at_start;
    ok = ok && fds_closed;

    std::string kinds;
    for (auto& [kind, n] : r.faults_armed)
        kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
    auto& last = samples.back();
    double seconds = r.ran_for.count();
    auto& pool = r.final_stats.pool;
    std::fprintf(stderr, "\nferry-soak: %s\n", ok ? "ok" : "FAILED");
    std::fprintf(stderr, "  files        %llu verified and deleted, %llu failed or wrong; %s in %.0f s (%.1f MiB/s)\n",
                 (unsigned long long)r.completed, (unsigned long long)r.failed, mib(last.bytes).c_str(), seconds,
                 double(last.bytes) / double(MiB) / std::max(seconds, 1e-3));
    for (auto& line : r.failure_lines)
        std::fprintf(stderr, "    %s\n", line.c_str());
    std::fprintf(stderr, "  faults       %llu of %llu requests (%.1f%%); drawn: %s\n", (unsigned long long)last.faulted,
                 (unsigned long long)last.requests,
                 100.0 * double(last.faulted) / double(std::max<std::uint64_t>(last.requests, 1)), kinds.c_str());
    std::fprintf(stderr, "  retries      %llu; connections %llu opened, %llu requests on reused ones; the engine holds %zu models\n",
                 (unsigned long long)r.retries, (unsigned long long)pool.opened, (unsigned long long)pool.reused,
                 r.final_stats.models.size());
    std::fprintf(stderr, "  rss          %s\n", memory_line.c_str());
    if (!heap_line.empty())
        std::fprintf(stderr, "  heap         %s\n", heap_line.c_str());
    std::fprintf(stderr, "  descriptors  %s; %llu at exit, %llu at start: %s\n", fd_line.c_str(),
                 (unsigned long long)fds_at_exit, (unsigned long long)fds_at_start,
                 fds_closed ? "all closed" : "SOME LEFT OPEN");
    if (r.interrupted)
        std::fprintf(stderr, "  interrupted  by a signal after %.0f s\n", seconds);
    return ok;
}

void write_json(const fs::path& path, const options& o, const soak_results& r, bool ok) {
    json::array samples;
    for (auto& s : r.samples)
        samples.push_back(s.to_json());
    auto index = [](const std::optional<std::size_t>& i) { return i ? json::value(*i) : json::value(); };
    json::object doc{{"options",
                      {{"duration", o.duration.count()},
                       {"concurrency", o.concurrency},
                       {"connections", o.connections},
                       {"file_size", o.file_size},
                       {"fault_rate", o.fault_percent},
                       {"seed", o.seed}}},
                     {"samples", std::move(samples)},
                     {"summary",
                      {{"ok", ok},
                       {"files", r.completed},
                       {"failed", r.failed},
                       {"failures", json::value_from(r.failure_lines)},
                       {"retries", r.retries},
                       {"seconds", r.ran_for.count()},
                       {"warm_up_sample", index(r.warm_up_sample)},
                       {"end_sample", index(r.end_sample)},
                       {"engine_models", r.final_stats.models.size()}}}};
    std::ofstream out(path);
    out << json::serialize(doc) << "\n";
    if (!out)
        std::fprintf(stderr, "ferry-soak: cannot write %s\n", path.string().c_str());
}

int run(const options& o) {
    auto fd_limit = raise_fd_limit();
    const auto fds_at_start = open_fds();
    const auto dir = make_work_dir(o);

    origin::origin_config oc;
    oc.seed = o.seed;
    oc.chunk_size = 64 * KiB; // the origin holds one buffer per connection
    oc.threads = 2;
    std::optional<origin::origin_server> server(std::in_place, oc);
    auto prepare_start = clock::now();
    auto files = serve_files(*server, o);
    server->start();
    server->write_ca(dir / "ca.pem");
    std::fprintf(stderr,
                 "ferry-soak: %lld s, %zu transfers in flight on %zu connections, %zu files served (%.1f s to "
                 "prepare), %u%% of requests faulted, seed %llu\n  files in %s; open file limit %llu\n",
                 (long long)o.duration.count(), o.concurrency, o.connections, files.size(),
                 std::chrono::duration<double>(clock::now() - prepare_start).count(), o.fault_percent,
                 (unsigned long long)o.seed, dir.string().c_str(), (unsigned long long)fd_limit);

    // The defaults `ferry get` uses, except: as many files in flight as transfers, all of the
    // connections for the one host, short stall and first-byte timeouts and backoff (stalls are
    // among the faults), and no fsync (the soak is about leaks, not disks).
    engine_config c;
    c.max_files = o.concurrency;
    c.max_files_per_model = o.concurrency;
    c.max_connections = o.connections;
    c.max_connections_per_host = o.connections;
    c.memory_budget = default_buffer_budget();
    c.timeouts.stall = 3s;
    c.timeouts.first_byte = 5s;
    c.retry.max_delay = 5s;
    c.ca_file = dir / "ca.pem";
    c.fsync = false;

    soak_results results;
    {
        asio::io_context io;
        engine downloads(io.get_executor(), c);
        soak_run soak(o, io, *server, downloads, files, dir);
        soak.start();
        io.run();
        results = soak.finish();
    }
    server.reset(); // stops it
    std::error_code ignored;
    fs::remove_all(dir, ignored);

    bool ok = report(o, results, fds_at_start, open_fds());
    if (!o.json_file.empty())
        write_json(o.json_file, o, results, ok);
    return ok ? 0 : 1;
}

} // namespace ferry::soak

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    try {
        return ferry::soak::run(ferry::soak::parse_options(args));
    } catch (const ferry::cli::usage_error& e) {
        std::cerr << "ferry-soak: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "ferry-soak: " << e.what() << "\n";
        return 1;
    }
}
