// Downloads from a real nginx over HTTPS: big segmented files, many small files over reused
// connections, and a `ferry get` killed with SIGKILL and run again. Facts come from what landed on
// disk and from nginx's own access log.
#include "integration/nginx_fixture.hpp"

#include "engine/engine.hpp"
#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"
#include "tools/origin/synthetic.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

using namespace ferry;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * 1024;

/// Writes `size` synthetic bytes of `name` (seed 0) to `path`, creating its directory.
void write_synthetic(const fs::path& path, const std::string& name, std::uint64_t size) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::vector<std::byte> buffer(4 * MiB);
    for (std::uint64_t offset = 0; offset < size;) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - offset));
        origin::synthetic_fill(name, 0, offset, std::span(buffer.data(), n));
        out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(n));
        offset += n;
    }
    out.close();
    REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

bool matches_synthetic(const fs::path& file, const std::string& name, std::uint64_t size) {
    auto digest = sha256_of_file(file);
    return digest && *digest == origin::synthetic_sha256(name, size, 0);
}

bool leftovers(const fs::path& file) {
    return fs::exists(fs::path(file.string() + ".part")) || fs::exists(fs::path(file.string() + ".part.journal"));
}

engine_config nginx_config(const test::nginx_server& nginx) {
    engine_config c;
    c.ca_file = nginx.ca_file();
    c.fsync = false;
    return c;
}

/// Runs one model on a fresh io_context; fails the test if it does not finish within `limit`.
model_result run_model(const engine_config& c, model_spec m, std::chrono::seconds limit) {
    boost::asio::io_context io;
    std::optional<model_result> result;
    {
        engine e(io.get_executor(), c);
        auto added = e.add(std::move(m));
        REQUIRE_MESSAGE(added, added.error);
        boost::asio::co_spawn(
            io, [&]() -> boost::asio::awaitable<void> { result = co_await e.wait(added.id); }, boost::asio::detached);
        io.run_for(limit);
    }
    REQUIRE_MESSAGE(result.has_value(), "the download did not finish within " << limit.count() << " s");
    return *result;
}

void require_ok(const model_result& r) {
    for (auto& f : r.files)
        CHECK_MESSAGE((f.outcome == file_outcome::done), f.path << ": " << f.message);
    REQUIRE(r.ok());
}

std::uint64_t done_bytes(const journal_record& j) {
    std::uint64_t n = 0;
    for (auto& r : j.done)
        n += r.end - r.begin;
    return n;
}

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Bytes between nginx on `port` and its clients that no client has read: nginx's unacknowledged
/// send queues and the clients' receive queues (/proc/net/tcp and tcp6). nginx counts them sent.
std::uint64_t unread_from_port(std::uint16_t port) {
    auto port_of = [](const std::string& address) {
        return std::stoul(address.substr(address.rfind(':') + 1), nullptr, 16);
    };
    std::uint64_t total = 0;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line); // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues;
            if (!(fields >> slot >> local >> remote >> state >> queues))
                continue;
            auto colon = queues.find(':');
            if (colon == std::string::npos)
                continue;
            if (port_of(local) == port)
                total += std::stoull(queues.substr(0, colon), nullptr, 16); // nginx's send queue
            else if (port_of(remote) == port)
                total += std::stoull(queues.substr(colon + 1), nullptr, 16); // a client's receive queue
        }
    }
    return total;
}

} // namespace

TEST_CASE("nginx: a 256 MiB file fetched with -x 8 over ranged requests is byte-identical") {
    test::scratch_dir tmp{"ferry-nginx-test"};
    const std::string name = "models/big.safetensors";
    const std::uint64_t size = 256 * MiB;
    write_synthetic(tmp / "www" / name, name, size);
    test::nginx_server nginx(tmp / "www");
    fs::create_directories(tmp / "out");

    auto c = nginx_config(nginx);
    c.connections_per_file = 8;
    c.max_connections_per_file = 8;
    model_spec m;
    m.id = "big";
    m.dir = tmp / "out";
    file_spec f;
    f.urls = {nginx.url(name)};
    f.path = "big.safetensors";
    f.size = size;
    f.sha256 = origin::synthetic_sha256(name, size, 0);
    m.files.push_back(f);

    auto started = std::chrono::steady_clock::now();
    auto result = run_model(c, m, 120s);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    require_ok(result);
    MESSAGE("256 MiB from nginx with -x 8 in " << seconds << " s");
    CHECK(fs::file_size(tmp / "out" / "big.safetensors") == size);
    CHECK(matches_synthetic(tmp / "out" / "big.safetensors", name, size));
    CHECK_FALSE(leftovers(tmp / "out" / "big.safetensors"));

    // nginx's view: ranged requests answered 206 on several connections, the file sent about once.
    std::size_t partial = 0, other = 0;
    std::uint64_t sent = 0;
    std::set<std::uint64_t> connections;
    for (auto& r : nginx.access_log()) {
        if (r.uri != "/" + name)
            continue;
        (r.status == 206 && !r.range.empty() ? partial : other) += 1;
        sent += r.body_bytes;
        connections.insert(r.connection);
    }
    MESSAGE("nginx log for the 256 MiB file: " << partial << " ranged 206 answers, " << other << " others, "
                                                 << connections.size() << " connections, " << sent << " body bytes");
    CHECK(partial >= 8);
    CHECK(other == 0);
    CHECK(connections.size() >= 8);
    CHECK(sent >= size);
    CHECK(sent <= size + size / 20); // cut responses (steals) may waste a little
}

TEST_CASE("nginx: 200 small files with -j 16 are byte-identical over few reused connections") {
    test::scratch_dir tmp{"ferry-nginx-test"};
    const std::size_t count = 200;
    const std::uint64_t size = 64 * KiB;
    model_spec m;
    m.id = "small";
    m.dir = tmp / "out";
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) {
        char name[64];
        std::snprintf(name, sizeof name, "small/file-%03zu.bin", i);
        names.push_back(name);
        write_synthetic(tmp / "www" / name, name, size);
    }
    test::nginx_server nginx(tmp / "www");
    fs::create_directories(m.dir); // the engine wants the model's directory to exist
    for (auto& name : names) {
        file_spec f;
        f.urls = {nginx.url(name)};
        f.path = name;
        f.size = size;
        f.sha256 = origin::synthetic_sha256(name, size, 0);
        m.files.push_back(f);
    }
    auto c = nginx_config(nginx);
    c.max_files = 16;
    c.max_files_per_model = 16;

    auto started = std::chrono::steady_clock::now();
    auto result = run_model(c, m, 120s);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    require_ok(result);
    for (auto& name : names) {
        CAPTURE(name);
        CHECK(matches_synthetic(m.dir / name, name, size));
        CHECK_FALSE(leftovers(m.dir / name));
    }

    std::set<std::uint64_t> connections;
    std::map<std::string, int> requests;
    std::size_t log_lines = 0;
    for (auto& r : nginx.access_log()) {
        ++log_lines;
        connections.insert(r.connection);
        ++requests[r.uri];
        CHECK((r.status == 200 || r.status == 206));
    }
    MESSAGE(count << " files of 64 KiB from nginx with -j 16 in " << seconds << " s: " << log_lines
                  << " requests on " << connections.size() << " connections");
    CHECK(requests.size() == count);
    CHECK(log_lines <= count + count / 10); // about one request per file
    CHECK(connections.size() <= 48);        // far fewer than one per file: kept alive and reused
}

TEST_CASE("nginx: ferry get killed with SIGKILL resumes and refetches little") {
    test::scratch_dir tmp{"ferry-nginx-test"};
    const std::string name = "huge.bin";
    const std::uint64_t size = 512 * MiB;
    write_synthetic(tmp / "www" / name, name, size);
    // Block 1 caps each response at 20 MB/s: with 4 connections the file takes about 6 s.
    test::nginx_server nginx(tmp / "www", {test::nginx_block{}, test::nginx_block{"20m"}});
    auto out = tmp / "out";
    auto logs = tmp / "logs";
    fs::create_directories(out);
    fs::create_directories(logs);
    auto target = out / name;
    auto journal = journal_path(fs::path(target.string() + ".part"));
    const std::vector<std::string> argv = {FERRY_BINARY, "get",          "-x", "4", "--ca-cert",
                                           nginx.ca_file().string(), "-d", out.string(), nginx.url(name, 1)};

    // First run: kill -9 once the journal says at least 20% is on disk.
    double killed_at = 0;
    std::uint64_t unread_at_kill = 0;
    {
        test::child_process first(argv, logs / "first.out", logs / "first.err");
        auto deadline = std::chrono::steady_clock::now() + 60s;
        std::uint64_t done = 0;
        while (std::chrono::steady_clock::now() < deadline && first.running()) {
            if (auto j = read_journal(journal))
                done = done_bytes(*j);
            if (done >= size / 5)
                break;
            std::this_thread::sleep_for(20ms);
        }
        INFO("first run's stderr: " << test::slurp(logs / "first.err"));
        REQUIRE_MESSAGE(first.running(), "ferry ended before it could be killed");
        REQUIRE_MESSAGE(done >= size / 5, "the journal did not reach 20% within 60 s (" << done << " bytes)");
        // Not right after a journal write: a moment chosen at random within the next 400 ms.
        std::mt19937 random(std::random_device{}());
        auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(random() % 400);
        while (std::chrono::steady_clock::now() < kill_at && first.running())
            std::this_thread::sleep_for(5ms);
        REQUIRE_MESSAGE(first.running(), "ferry ended before it could be killed");
        // Stopped first, so that what nginx sent and the process never read can be counted: it
        // is lost with the process whatever the client does (a loaded machine lets it grow).
        first.signal(SIGSTOP);
        std::this_thread::sleep_for(100ms);
        unread_at_kill = unread_from_port(nginx.port(1));
        killed_at = unix_now();
        first.kill_and_wait();
    }
    CHECK_FALSE(fs::exists(target)); // a final path never holds a partial file
    auto j = read_journal(journal);
    REQUIRE_MESSAGE(j.has_value(), "the journal is unreadable after kill -9");
    CHECK(j->size == size);
    const std::uint64_t missing = size - done_bytes(*j);
    CHECK(missing > 0);

    // Second run: the same command, to completion.
    auto started = std::chrono::steady_clock::now();
    auto r = test::run_program(argv, logs, 120s);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE_MESSAGE(r.status != -1, "the second run did not finish within 120 s");
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(fs::file_size(target) == size);
    CHECK(matches_synthetic(target, name, size));
    CHECK_FALSE(leftovers(target));

    // What nginx sent the second run: requests that began after the kill. (Requests of the first
    // run are logged when nginx notices the dead connection, but began before it.)
    std::uint64_t sent = 0, sent_in_all = 0;
    std::size_t requests = 0;
    for (auto& rec : nginx.access_log()) {
        if (rec.port != nginx.port(1))
            continue;
        sent_in_all += rec.body_bytes;
        if (rec.start_time() >= killed_at) {
            sent += rec.body_bytes;
            ++requests;
        }
    }
    const std::uint64_t bound = missing + size / 50 + 4 * 2 * MiB;
    MESSAGE("resume from nginx: killed at " << (size - missing) << " bytes journaled; second run sent " << sent
                                            << " for " << missing << " missing in " << requests << " requests (bound "
                                            << bound << ") in " << seconds << " s; both runs together sent "
                                            << sent_in_all << " for a file of " << size);
    CHECK(sent >= missing);
    CHECK(sent < bound);
    // Issue 3: what was fetched twice (lost with the killed process, or refetched) stays under 2% of
    // the file plus a piece per connection, besides what sat unread in the kernel when the process
    // died (nginx counts it sent; on a loaded machine a slow reader lets the socket buffers fill:
    // 31.9 MB over the file was seen once against 19.1 MB allowed without it).
    MESSAGE("unread in the kernel at the kill: " << unread_at_kill);
    CHECK(sent_in_all >= size);
    CHECK(sent_in_all - size < size / 50 + 4 * 2 * MiB + unread_at_kill);
}
