// The engine embedded in a multi-threaded server: one io_context run by 4 threads, models added
// from several threads at once, stats(), pause() and resume() called concurrently from others.
// Everything must complete byte-identical. Run it under ThreadSanitizer (tools/sanitize.sh thread).
#include "engine/engine_fixture.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>

using namespace ferry;
using ferry::test::engine_fixture;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

} // namespace

TEST_CASE("one io_context run by 4 threads: concurrent add, stats, pause and resume") {
    origin::origin_config oc;
    oc.rate_per_connection = 4 * MiB; // about a second per file: control calls land mid-transfer
    oc.threads = 2;
    engine_fixture f(oc);
    auto c = f.config();
    c.max_files = 6;

    constexpr int models = 6;
    std::vector<model_spec> specs;
    std::vector<std::vector<std::pair<std::string, std::uint64_t>>> files(models);
    for (int m = 0; m < models; ++m) {
        for (int i = 0; i < 3; ++i)
            files[m].emplace_back("m" + std::to_string(m) + "-f" + std::to_string(i) + ".bin",
                                  (i + 1) * MiB + static_cast<std::uint64_t>(m) * 4099);
        auto spec = f.model(files[m]);
        spec.id = "model-" + std::to_string(m);
        specs.push_back(std::move(spec));
    }

    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::optional<engine> e;
    e.emplace(io.get_executor(), c);
    std::atomic<int> starts{0};
    e->subscribe([&starts](const event& ev) {
        if (ev.what == event::kind::started)
            ++starts;
    });

    std::mutex mutex;
    std::condition_variable finished;
    std::vector<model_result> results;
    std::vector<std::string> problems; // asserted on the main thread
    auto note = [&](std::string problem) {
        std::lock_guard lock(mutex);
        problems.push_back(std::move(problem));
    };

    std::vector<std::thread> runners;
    runners.reserve(4);
    for (int i = 0; i < 4; ++i)
        runners.emplace_back([&io] { io.run(); });
    // Whatever happens below, the runners are stopped and joined.
    struct joiner {
        std::vector<std::thread>& threads;
        boost::asio::io_context& io;
        ~joiner() {
            io.stop();
            for (auto& t : threads)
                if (t.joinable())
                    t.join();
        }
    } join_runners{runners, io};

    // Adders: two models each, from their own threads, at the same time.
    std::vector<std::thread> adders;
    adders.reserve(3);
    for (int a = 0; a < 3; ++a)
        adders.emplace_back([&, a] {
            for (int m = a; m < models; m += 3) {
                auto added = e->add(specs[m]);
                if (!added) {
                    note("add failed: " + added.error);
                    continue;
                }
                e->async_wait(added.id, [&](std::exception_ptr ex, model_result r) {
                    std::lock_guard lock(mutex);
                    if (ex)
                        problems.push_back("wait threw");
                    results.push_back(std::move(r));
                    finished.notify_all();
                });
            }
        });

    // Controllers: stats() snapshots and pause/resume (all, and per model) while transfers run.
    std::atomic<bool> done{false};
    std::atomic<int> stats_calls{0}, pauses{0};
    std::vector<std::thread> controllers;
    controllers.reserve(2);
    controllers.emplace_back([&] {
        for (int i = 0; i < 400 && !done; ++i) {
            auto snapshot = boost::asio::co_spawn(io, e->stats(), boost::asio::use_future);
            if (snapshot.wait_for(10s) != std::future_status::ready) {
                note("stats() did not answer within 10 s");
                return;
            }
            auto s = snapshot.get();
            ++stats_calls;
            for (auto& m : s.models)
                if (m.bytes_done > m.bytes_total && m.bytes_total > 0)
                    note("bytes_done beyond bytes_total for " + m.id);
        }
    });
    controllers.emplace_back([&] {
        // Pause and resume, paced by stats() round trips so the transfers make progress between.
        for (int i = 0; i < 30 && !done; ++i) {
            std::optional<std::string> which;
            if (i % 3 == 1)
                which = "model-" + std::to_string(i % models);
            e->pause(which);
            auto a = boost::asio::co_spawn(io, e->stats(), boost::asio::use_future);
            if (a.wait_for(10s) != std::future_status::ready)
                return note("stats() did not answer within 10 s");
            e->resume(which);
            ++pauses;
            for (int k = 0; k < 5; ++k) {
                auto b = boost::asio::co_spawn(io, e->stats(), boost::asio::use_future);
                if (b.wait_for(10s) != std::future_status::ready)
                    return note("stats() did not answer within 10 s");
            }
        }
        e->resume(); // whatever happened above, everything runs now
    });

    for (auto& t : adders)
        t.join();
    {
        std::unique_lock lock(mutex);
        finished.wait_for(lock, 90s, [&] { return results.size() == models; });
    }
    done = true;
    for (auto& t : controllers)
        t.join();
    // The controller's last resume() may have come after the results: all were resumed anyway.
    {
        std::unique_lock lock(mutex);
        finished.wait_for(lock, 30s, [&] { return results.size() == models; });
    }
    e->stop();
    work.reset();
    for (auto& t : runners)
        t.join();
    e.reset();

    MESSAGE(stats_calls.load() << " stats() calls, " << pauses.load() << " pause/resume pairs, " << starts.load()
                               << " file starts for " << models * 3 << " files");
    CHECK(starts.load() > models * 3); // pauses did stop running files, which started again
    for (auto& p : problems)
        FAIL_CHECK(p);
    REQUIRE(results.size() == models);
    for (auto& r : results) {
        CAPTURE(r.id);
        CHECK(r.ok());
        for (auto& file : r.files) {
            CAPTURE(file.path);
            CAPTURE(file.message);
            CHECK(file.outcome == file_outcome::done);
        }
    }
    for (int m = 0; m < models; ++m)
        for (auto& [name, size] : files[m]) {
            CAPTURE(name);
            CHECK(f.matches_synthetic(name, size));
            CHECK_FALSE(f.leftovers(name));
        }
}
