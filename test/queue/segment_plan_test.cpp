#include "queue/segment_plan.hpp"

#include <doctest/doctest.h>

#include <memory>

#include <algorithm>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

using ferry::byte_range;
using ferry::segment_plan;
using ranges = std::vector<byte_range>;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

segment_plan::claim must(std::optional<segment_plan::claim> c) {
    REQUIRE(c.has_value());
    return *c;
}

} // namespace

TEST_CASE("a fresh plan is split in equal pieces among the idle workers") {
    segment_plan plan(100 * MiB, 1 * MiB);
    CHECK(plan.file_size() == 100 * MiB);
    CHECK(plan.bytes_done() == 0);
    CHECK_FALSE(plan.complete());

    auto a = must(plan.acquire(4));
    auto b = must(plan.acquire(3));
    auto c = must(plan.acquire(2));
    auto d = must(plan.acquire(1));
    CHECK(a.begin == 0);
    CHECK(a.end == 25 * MiB);
    CHECK(b.begin == 25 * MiB);
    CHECK(b.end == 50 * MiB);
    CHECK(c.begin == 50 * MiB);
    CHECK(c.end == 75 * MiB);
    CHECK(d.begin == 75 * MiB);
    CHECK(d.end == 100 * MiB);
    CHECK(plan.active_claims() == 4);
    for (auto& claim : {a, b, c, d}) {
        CHECK(plan.cursor(claim.id) == claim.begin);
        CHECK(plan.end(claim.id) == claim.end);
    }
}

TEST_CASE("shares round up so that the last worker is not left a sliver") {
    segment_plan plan(10, 1);
    auto a = must(plan.acquire(3));
    auto b = must(plan.acquire(2));
    auto c = must(plan.acquire(1));
    CHECK(a.end - a.begin == 4); // ceil(10 / 3)
    CHECK(b.end - b.begin == 3); // ceil(6 / 2)
    CHECK(c.end - c.begin == 3);
    CHECK(c.end == 10);
}

TEST_CASE("idle_workers of 0 counts as 1 and a huge count gives min_piece pieces") {
    segment_plan one(1000, 10);
    auto all = must(one.acquire(0));
    CHECK(all.begin == 0);
    CHECK(all.end == 1000);

    segment_plan many(1000, 10);
    auto small = must(many.acquire(~std::size_t(0)));
    CHECK(small.end - small.begin == 10);
}

TEST_CASE("min_piece is respected when splitting free space") {
    segment_plan plan(10 * MiB, 4 * MiB);
    // Eight workers would get 1.25 MiB each; min_piece wins.
    auto a = must(plan.acquire(8));
    CHECK(a.begin == 0);
    CHECK(a.end == 4 * MiB);
    // 6 MiB left: a 4 MiB piece would leave a 2 MiB sliver, so the claim takes all of it.
    auto b = must(plan.acquire(7));
    CHECK(b.begin == 4 * MiB);
    CHECK(b.end == 10 * MiB);
    // Nothing free; the largest remainder is 6 MiB, whose half (3 MiB) is below min_piece.
    CHECK_FALSE(plan.acquire(1).has_value());
    CHECK(plan.active_claims() == 2);
}

TEST_CASE("a gap smaller than min_piece is claimed whole") {
    // Resumed with a 3-byte hole.
    segment_plan plan(100, 10, {{0, 40}, {43, 100}});
    auto c = must(plan.acquire(4));
    CHECK(c.begin == 40);
    CHECK(c.end == 43);
    CHECK_FALSE(plan.acquire(1).has_value());
}

TEST_CASE("min_piece of 0 counts as 1") {
    segment_plan plan(3, 0);
    auto a = must(plan.acquire(3));
    CHECK(a.end - a.begin == 1);
}

TEST_CASE("stealing takes the far half of the largest remaining claim") {
    segment_plan plan(100, 10);
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    REQUIRE(a.end == 50);
    REQUIRE(b.end == 100);
    plan.advance(a.id, 10); // a: 40 left
    plan.advance(b.id, 30); // b: 20 left

    // Step 1: a has the largest remainder (40); the thief gets [30, 50).
    auto t1 = must(plan.acquire(1));
    CHECK(t1.begin == 30);
    CHECK(t1.end == 50);
    CHECK(plan.end(a.id) == 30);
    CHECK(plan.cursor(a.id) == 10);
    CHECK(plan.end(b.id) == 100); // untouched

    // Step 2: remainders a 20, b 20, t1 20: the first largest (a) is split again.
    auto t2 = must(plan.acquire(1));
    CHECK(t2.begin == 20);
    CHECK(t2.end == 30);
    CHECK(plan.end(a.id) == 20);

    // Step 3: remainders a 10, b 20, t1 20, t2 10: b is split.
    auto t3 = must(plan.acquire(1));
    CHECK(t3.begin == 90);
    CHECK(t3.end == 100);
    CHECK(plan.end(b.id) == 90);

    // Step 4: t1 (20 left) is split.
    auto t4 = must(plan.acquire(1));
    CHECK(t4.begin == 40);
    CHECK(t4.end == 50);
    CHECK(plan.end(t1.id) == 40);

    // Every remainder is now 10: a half of 5 is below min_piece.
    CHECK_FALSE(plan.acquire(1).has_value());
    CHECK(plan.active_claims() == 6);
}

TEST_CASE("the victim keeps the larger half of an odd remainder") {
    segment_plan plan(21, 5);
    auto a = must(plan.acquire(1));
    REQUIRE(a.end == 21);
    auto t = must(plan.acquire(1));
    CHECK(t.begin == 11); // far half: floor(21 / 2) = 10 bytes
    CHECK(t.end == 21);
    CHECK(plan.end(a.id) == 11);
}

TEST_CASE("a steal needs a far half of at least min_piece") {
    SUBCASE("remainder of 2 * min_piece - 1: no steal") {
        segment_plan plan(19, 10);
        must(plan.acquire(1));
        CHECK_FALSE(plan.acquire(1).has_value());
    }
    SUBCASE("remainder of exactly 2 * min_piece: a steal") {
        segment_plan plan(20, 10);
        auto a = must(plan.acquire(1));
        auto t = must(plan.acquire(1));
        CHECK(t.begin == 10);
        CHECK(t.end == 20);
        CHECK(plan.end(a.id) == 10);
    }
    SUBCASE("progress of the victim counts: only end - cursor is shared") {
        segment_plan plan(100, 10);
        auto a = must(plan.acquire(1));
        plan.advance(a.id, 81); // 19 left
        CHECK_FALSE(plan.acquire(1).has_value());
    }
    SUBCASE("one byte left with min_piece 1 is not stolen (the far half would be empty)") {
        segment_plan plan(10, 1);
        auto a = must(plan.acquire(1));
        plan.advance(a.id, 9);
        CHECK_FALSE(plan.acquire(1).has_value());
    }
}

TEST_CASE("finished claims are never victims, and stay active until released") {
    segment_plan plan(40, 10);
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    plan.advance(a.id, 20);
    CHECK(plan.cursor(a.id) == plan.end(a.id));
    CHECK(plan.active_claims() == 2);
    auto t = must(plan.acquire(1));
    CHECK(t.begin == 30); // from b, not from the finished a
    CHECK(plan.end(b.id) == 30);
    plan.release(a.id);
    CHECK(plan.active_claims() == 2);
    CHECK(plan.bytes_done() == 20);
}

TEST_CASE("advance never goes past end: the cursor is clamped") {
    segment_plan plan(100, 10);
    auto a = must(plan.acquire(1));
    plan.advance(a.id, 30);
    // The victim read a chunk sized by its old end; meanwhile a thief took [65, 100).
    auto t = must(plan.acquire(1));
    REQUIRE(t.begin == 65);
    plan.advance(a.id, 60); // only 35 bytes still belong to a
    CHECK(plan.cursor(a.id) == 65);
    CHECK(plan.bytes_done() == 65);
    plan.advance(a.id, 1);
    CHECK(plan.cursor(a.id) == 65);
    CHECK(plan.bytes_done() == 65);
    // Huge counts do not overflow the cursor.
    plan.advance(t.id, ~std::uint64_t(0));
    CHECK(plan.cursor(t.id) == 100);
    CHECK(plan.bytes_done() == 100);
    CHECK(plan.complete());
}

TEST_CASE("release returns the unwritten part to free space and keeps the written part") {
    segment_plan plan(100, 10);
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    REQUIRE(a.end == 50);
    plan.advance(a.id, 20);
    plan.release(a.id);
    CHECK(plan.active_claims() == 1);
    CHECK(plan.bytes_done() == 20);
    CHECK(plan.done() == ranges{{0, 20}});
    CHECK_THROWS_AS(plan.cursor(a.id), std::out_of_range);
    CHECK_THROWS_AS(plan.end(a.id), std::out_of_range);
    CHECK_THROWS_AS(plan.advance(a.id, 1), std::out_of_range);
    plan.release(a.id); // again: nothing happens
    CHECK(plan.bytes_done() == 20);

    // The freed [20, 50) is claimed again, before any stealing.
    auto c = must(plan.acquire(1));
    CHECK(c.begin == 20);
    CHECK(c.end == 50);
    CHECK(c.id != a.id);
    CHECK(plan.end(b.id) == 100);
}

TEST_CASE("released parts merge with neighbouring free space") {
    segment_plan plan(100, 10);
    auto a = must(plan.acquire(4)); // [0, 25)
    auto b = must(plan.acquire(3)); // [25, 50)
    REQUIRE(a.end == 25);
    REQUIRE(b.end == 50);
    // [50, 100) is still free. b fails without writing, a after 5 bytes.
    plan.release(b.id);
    plan.advance(a.id, 5);
    plan.release(a.id);
    // [5, 100) is one gap now: one worker takes it all.
    auto c = must(plan.acquire(1));
    CHECK(c.begin == 5);
    CHECK(c.end == 100);
}

TEST_CASE("released stolen tails become free space again") {
    segment_plan plan(100, 10);
    auto a = must(plan.acquire(1));
    auto t = must(plan.acquire(1)); // [50, 100)
    REQUIRE(t.begin == 50);
    plan.advance(t.id, 10);
    plan.release(t.id); // the thief's connection failed
    CHECK(plan.end(a.id) == 50); // the victim's end does not grow back
    auto u = must(plan.acquire(1));
    CHECK(u.begin == 60);
    CHECK(u.end == 100);
}

TEST_CASE("claim ids are unique and never reused") {
    segment_plan plan(1000, 1);
    std::vector<std::size_t> ids;
    for (int i = 0; i < 20; ++i) {
        auto c = must(plan.acquire(50));
        ids.push_back(c.id);
        plan.advance(c.id, 1);
        plan.release(c.id);
    }
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    CHECK(plan.active_claims() == 0);
    CHECK(plan.bytes_done() == 20);
}

TEST_CASE("unknown ids are programming errors, except for release") {
    segment_plan plan(100, 10);
    CHECK_THROWS_AS(plan.cursor(0), std::out_of_range);
    CHECK_THROWS_AS(plan.end(7), std::out_of_range);
    CHECK_THROWS_AS(plan.advance(3, 1), std::out_of_range);
    CHECK_NOTHROW(plan.release(3));
}

TEST_CASE("done() includes the written parts of active claims, merged") {
    segment_plan plan(100, 10, {{0, 10}});
    auto a = must(plan.acquire(2)); // [10, 55)
    auto b = must(plan.acquire(1)); // [55, 100)
    REQUIRE(a.begin == 10);
    REQUIRE(b.begin == 55);
    plan.advance(a.id, 45);
    plan.advance(b.id, 5);
    CHECK(plan.done() == ranges{{0, 60}});
    CHECK(plan.bytes_done() == 60);
    plan.release(a.id);
    CHECK(plan.done() == ranges{{0, 60}});
    CHECK(plan.bytes_done() == 60);
}

TEST_CASE("resume: only the missing parts are claimed") {
    // Journal ranges in any order, overlapping, partly beyond the end.
    segment_plan plan(100, 5, {{50, 60}, {0, 20}, {10, 30}, {95, 200}, {300, 400}});
    CHECK(plan.bytes_done() == 45);
    CHECK(plan.done() == ranges{{0, 30}, {50, 60}, {95, 100}});
    CHECK_FALSE(plan.complete());

    // The missing parts are [30, 50) and [60, 95): 55 bytes. Two workers: 28-byte shares, but
    // never more than the first gap.
    auto a = must(plan.acquire(2));
    CHECK(a.begin == 30);
    CHECK(a.end == 50);
    auto b = must(plan.acquire(1));
    CHECK(b.begin == 60);
    CHECK(b.end == 95);
    plan.advance(a.id, 20);
    plan.advance(b.id, 35);
    CHECK(plan.complete());
    CHECK(plan.done() == ranges{{0, 100}});
    CHECK_FALSE(plan.acquire(1).has_value());
}

TEST_CASE("resume of a finished file") {
    segment_plan plan(100, 10, {{0, 60}, {60, 100}});
    CHECK(plan.complete());
    CHECK(plan.bytes_done() == 100);
    CHECK_FALSE(plan.acquire(4).has_value());
    CHECK(plan.active_claims() == 0);
}

TEST_CASE("a zero-size file is complete at once") {
    segment_plan plan(0, 1 * MiB, {{0, 10}});
    CHECK(plan.complete());
    CHECK(plan.bytes_done() == 0);
    CHECK(plan.done().empty());
    CHECK_FALSE(plan.acquire(1).has_value());
    CHECK_FALSE(plan.acquire(8).has_value());
    CHECK(plan.active_claims() == 0);
}

TEST_CASE("min_piece equal to the file size gives one claim (servers without ranges)") {
    segment_plan plan(12345, 12345);
    auto a = must(plan.acquire(1));
    CHECK(a.begin == 0);
    CHECK(a.end == 12345);
    CHECK_FALSE(plan.acquire(1).has_value());
}

TEST_CASE("very large files and pieces do not overflow") {
    const std::uint64_t top = ~std::uint64_t(0);
    segment_plan plan(top, top - 1);
    auto a = must(plan.acquire(3));
    CHECK(a.begin == 0);
    CHECK(a.end == top); // a piece of top - 1 would leave a 1-byte sliver
    CHECK_FALSE(plan.acquire(1).has_value());
    plan.advance(a.id, top);
    CHECK(plan.complete());
}

namespace {

/// A worker of the simulation: a connection with a fixed speed, or random speeds.
struct sim_worker {
    std::optional<std::size_t> claim;
    std::uint64_t min_speed = 0, max_speed = 0; ///< bytes per step
    std::uint64_t written = 0;
};

/// Writes at each active claim's cursor and checks that no byte is written twice.
struct coverage {
    std::vector<std::uint8_t> times;
    explicit coverage(std::uint64_t size) : times(size, 0) {}
    void write(std::uint64_t at, std::uint64_t n) {
        REQUIRE(at + n <= times.size());
        bool fresh = true;
        for (std::uint64_t i = at; i < at + n; ++i)
            fresh &= times[i]++ == 0;
        REQUIRE_MESSAGE(fresh, "bytes in [" << at << ", " << at + n << ") written twice");
    }
    bool every_byte_once() const {
        return std::all_of(times.begin(), times.end(), [](std::uint8_t t) { return t == 1; });
    }
};

/// Active claims must not overlap one another nor done ranges.
void check_disjoint(const segment_plan& plan, const std::vector<sim_worker>& workers) {
    ranges owned = plan.done();
    std::uint64_t in_flight = 0;
    for (auto& w : workers)
        if (w.claim) {
            owned.push_back({plan.cursor(*w.claim), plan.end(*w.claim)});
            in_flight += plan.end(*w.claim) - plan.cursor(*w.claim);
        }
    std::sort(owned.begin(), owned.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < owned.size(); ++i)
        REQUIRE(owned[i - 1].end <= owned[i].begin);
    REQUIRE(plan.bytes_done() + in_flight <= plan.file_size());
}

} // namespace

TEST_CASE("simulation: fast workers keep stealing from one slow worker") {
    const std::uint64_t size = 4 * MiB, min_piece = 16 * 1024;
    segment_plan plan(size, min_piece);
    coverage cov(size);
    std::mt19937_64 random(42);

    std::vector<sim_worker> workers(4);
    workers[0].min_speed = workers[0].max_speed = 1024; // the slow tail
    for (std::size_t i = 1; i < workers.size(); ++i) {
        workers[i].min_speed = 16 * 1024;
        workers[i].max_speed = 64 * 1024;
    }
    // Start: the workers ask together, so the first gap is shared equally.
    for (std::size_t i = 0; i < workers.size(); ++i)
        workers[i].claim = must(plan.acquire(workers.size() - i)).id;
    const std::size_t slow_claim = *workers[0].claim;
    CHECK(plan.end(slow_claim) == size / 4);

    int steals = 0, steps = 0;
    while (!plan.complete()) {
        REQUIRE(++steps < 1000);
        for (auto& w : workers) {
            if (!w.claim) {
                auto c = plan.acquire(1);
                if (!c)
                    continue;
                ++steals; // no free space after the start: every later claim is a steal
                w.claim = c->id;
            }
            std::uniform_int_distribution<std::uint64_t> speed(w.min_speed, w.max_speed);
            const std::uint64_t pos = plan.cursor(*w.claim);
            const std::uint64_t n = std::min(speed(random), plan.end(*w.claim) - pos);
            cov.write(pos, n);
            plan.advance(*w.claim, n);
            w.written += n;
            if (plan.cursor(*w.claim) == plan.end(*w.claim)) {
                plan.release(*w.claim);
                w.claim.reset();
            }
        }
        check_disjoint(plan, workers);
    }

    CHECK(cov.every_byte_once());
    CHECK(plan.done() == ranges{{0, size}});
    CHECK(steals > 3);
    // The slow worker's 1 MiB share would have taken it 1024 steps alone. The fast workers need
    // about 35 steps for the file; then the slow one finishes a last piece smaller than
    // 2 * min_piece (at most 32 steps).
    MESSAGE("slow-worker run: " << steps << " steps, " << steals << " steals, slow worker wrote "
                                << workers[0].written << " bytes");
    CHECK(steps < 35 + 32 + 10);
    CHECK(workers[0].written < size / 16);
    // Its claim was cut down to what it had written.
    for (auto& w : workers)
        if (w.claim)
            plan.release(*w.claim);
    CHECK(plan.active_claims() == 0);
    CHECK(plan.done() == ranges{{0, size}});
}

TEST_CASE("simulation: failures, releases and a resume still cover every byte exactly once") {
    const std::uint64_t size = 3 * MiB + 12345, min_piece = 32 * 1024;
    coverage cov(size);
    std::mt19937_64 random(7);
    std::bernoulli_distribution fails(0.03), crashes(0.01);
    std::uniform_int_distribution<std::uint64_t> speed(1, 40 * 1024);

    std::optional<segment_plan> plan(std::in_place, size, min_piece);
    std::vector<sim_worker> workers(5);
    int steps = 0, resumes = 0, failures = 0;
    while (!plan->complete()) {
        REQUIRE(++steps < 10000);
        std::size_t idle = static_cast<std::size_t>(
            std::count_if(workers.begin(), workers.end(), [](auto& w) { return !w.claim; }));
        for (auto& w : workers) {
            if (!w.claim) {
                auto c = plan->acquire(idle);
                idle = idle > 1 ? idle - 1 : 1;
                if (!c)
                    continue;
                w.claim = c->id;
            }
            const std::uint64_t pos = plan->cursor(*w.claim);
            const std::uint64_t n = std::min(speed(random), plan->end(*w.claim) - pos);
            cov.write(pos, n);
            plan->advance(*w.claim, n);
            if (fails(random) || plan->cursor(*w.claim) == plan->end(*w.claim)) {
                failures += plan->cursor(*w.claim) != plan->end(*w.claim);
                plan->release(*w.claim);
                w.claim.reset();
            }
        }
        check_disjoint(*plan, workers);
        if (crashes(random)) {
            // A crash: only the journal survives (what done() said), claims are gone.
            auto journal = plan->done();
            plan.emplace(size, min_piece, journal);
            for (auto& w : workers)
                w.claim.reset();
            ++resumes;
        }
    }
    CHECK(cov.every_byte_once());
    CHECK(resumes > 0);
    CHECK(failures > 0);
    CHECK(plan->done() == ranges{{0, size}});
}

TEST_CASE("near the end, a piece smaller than min_piece is taken when it cuts no response") {
    // Two claims of 1 MiB; halves of 512 KiB are below min_piece (1 MiB), but 256 KiB pieces
    // may be taken without cutting a response in flight.
    segment_plan plan(2 * MiB, 1 * MiB, {}, 256 * 1024);
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    CHECK(a.end - a.begin == 1 * MiB);
    CHECK(b.end - b.begin == 1 * MiB);
    // a asked for all of its claim: nothing of it can be taken without a cut.
    plan.set_requested(a.id, a.end);
    // b asked for its first 256 KiB: the far half of b (beyond its middle) is free to take.
    plan.set_requested(b.id, b.begin + 256 * 1024);
    auto c = must(plan.acquire());
    CHECK(c.begin == b.begin + 512 * 1024);
    CHECK(c.end == b.end);
    CHECK(plan.end(b.id) == c.begin);
    CHECK(plan.end(a.id) == a.end); // untouched
    // c asks for all of it; b's middle (1.25 MiB) is its requested end: its far 256 KiB may go.
    plan.set_requested(c.id, c.end);
    auto d = must(plan.acquire());
    CHECK(d.begin == b.begin + 256 * 1024);
    CHECK(d.end == b.begin + 512 * 1024);
    CHECK(plan.end(b.id) == d.begin);
    // Everything requested to its end: nothing is worth taking.
    plan.set_requested(d.id, d.end);
    CHECK_FALSE(plan.acquire().has_value());
}

TEST_CASE("has_work: whether acquire() would give a claim, without taking one") {
    segment_plan plan(2 * MiB, 1 * MiB, {}, 256 * 1024);
    CHECK(plan.has_work()); // free space
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    CHECK(plan.has_work()); // no free space, but a piece beyond b's request to take uncut
    plan.set_requested(a.id, a.end);
    plan.set_requested(b.id, b.begin + 256 * 1024);
    CHECK(plan.has_work());
    CHECK(plan.has_work());
    CHECK(plan.end(b.id) == b.end); // asking took nothing
    auto c = must(plan.acquire());
    CHECK(c.begin == b.begin + 512 * 1024);
    plan.set_requested(c.id, c.end);
    plan.set_requested(b.id, c.begin);
    CHECK_FALSE(plan.has_work()); // everything asked for: only a cut would give work
    CHECK_FALSE(plan.acquire().has_value());
    plan.release(c.id); // a connection lost: its piece is free again
    CHECK(plan.has_work());
    segment_plan done(1 * MiB, 1 * MiB, {{0, 1 * MiB}});
    CHECK_FALSE(done.has_work());
}

TEST_CASE("the split point of an uncut steal is never before the requested end") {
    segment_plan plan(4 * MiB, 4 * MiB, {}, 256 * 1024);
    auto a = must(plan.acquire());
    plan.set_requested(a.id, 3 * MiB); // beyond the middle (2 MiB)
    auto b = must(plan.acquire());
    CHECK(b.begin == 3 * MiB);
    CHECK(b.end == 4 * MiB);
    // Less than min_uncut_piece beyond the request: refused.
    segment_plan tight(4 * MiB, 4 * MiB, {}, 256 * 1024);
    auto t = must(tight.acquire());
    tight.set_requested(t.id, 4 * MiB - 100 * 1024);
    CHECK_FALSE(tight.acquire().has_value());
}

TEST_CASE("without min_uncut_piece, small steals stay off (the old rule)") {
    segment_plan plan(2 * MiB, 1 * MiB);
    auto a = must(plan.acquire(2));
    auto b = must(plan.acquire(1));
    (void)a;
    (void)b;
    CHECK_FALSE(plan.acquire().has_value());
}

TEST_CASE("request windows: a quarter of the claim, smaller near the file's end, within bounds") {
    using ferry::request_window;
    const std::uint64_t min_request = 256 * 1024, max_request = 32 * MiB;
    // Mid-file: a quarter of the claim (16 MiB claim, 256 MiB left over 16 workers).
    CHECK(request_window(16 * MiB, 256 * MiB, 16, min_request, max_request) == 4 * MiB);
    // Near the end: a quarter of an equal share of what is left.
    CHECK(request_window(4 * MiB, 16 * MiB, 16, min_request, max_request) == min_request);
    CHECK(request_window(8 * MiB, 64 * MiB, 8, min_request, max_request) == 2 * MiB);
    // Never below min_request, never above max_request, never past the claim.
    CHECK(request_window(10 * MiB, 1 * MiB, 16, min_request, max_request) == min_request);
    CHECK(request_window(1024 * MiB, 8192 * MiB, 1, min_request, max_request) == max_request);
    CHECK(request_window(100 * 1024, 100 * MiB, 4, min_request, max_request) == 100 * 1024);
    CHECK(request_window(0, 0, 0, min_request, max_request) == 0);
}

TEST_CASE("take_free: a stream writes only what is missing, never what a claim holds") {
    ferry::segment_plan plan(1000, 100, {{100, 200}, {500, 600}});
    auto claim = plan.acquire(1); // [0, 100)
    REQUIRE(claim.has_value());
    REQUIRE(claim->begin == 0);
    auto taken = plan.take_free({0, 550});
    CHECK(taken == std::vector<byte_range>{{200, 500}});
    CHECK(plan.bytes_done() == 500);
    taken = plan.take_free({550, 1000});
    CHECK(taken == std::vector<byte_range>{{600, 1000}});
    CHECK(plan.take_free({0, 1000}).empty());
    plan.advance(claim->id, 100);
    plan.release(claim->id);
    CHECK(plan.complete());
}

TEST_CASE("hedge: a duplicate of a slow claim's rest; first to the end wins, bytes counted once") {
    ferry::segment_plan plan(1000, 100);
    auto slow = plan.acquire(2);
    auto fast = plan.acquire(1);
    REQUIRE(slow.has_value());
    REQUIRE(fast.has_value());
    CHECK(slow->begin == 0);
    CHECK(slow->end == 500);
    plan.advance(fast->id, 500);
    plan.release(fast->id);
    plan.advance(slow->id, 100);
    plan.set_requested(slow->id, 500); // all of it asked for: nothing to steal without a cut
    auto twin = plan.hedge(slow->id);
    REQUIRE(twin.has_value());
    CHECK(twin->begin == 100);
    CHECK(twin->end == 500);
    CHECK(plan.twin(slow->id) == twin->id);
    CHECK(plan.twin(twin->id) == slow->id);
    CHECK_FALSE(plan.hedge(slow->id).has_value()); // one duplicate at most
    // Both write; the bytes count once.
    plan.advance(slow->id, 50);   // slow at 150
    plan.advance(twin->id, 100);  // twin at 200
    CHECK(plan.bytes_done() == 700);
    plan.advance(slow->id, 50);   // 200: nothing new
    CHECK(plan.bytes_done() == 700);
    plan.advance(twin->id, 300);  // the twin reaches the end: it wins
    CHECK(plan.bytes_done() == 1000);
    CHECK(plan.end(slow->id) == plan.cursor(slow->id)); // the loser stops where it is
    plan.release(twin->id);
    plan.release(slow->id);
    CHECK(plan.complete());
    CHECK(plan.done() == std::vector<byte_range>{{0, 1000}});
}

TEST_CASE("hedge: when one of a pair fails, the other keeps the range; the pair is never stolen from") {
    ferry::segment_plan plan(1000, 100);
    auto a = plan.acquire(1); // the whole file
    REQUIRE(a.has_value());
    plan.advance(a->id, 100);
    auto b = plan.hedge(a->id);
    REQUIRE(b.has_value());
    CHECK_FALSE(plan.acquire(1).has_value()); // no stealing from a hedged pair
    plan.advance(b->id, 200); // b at 300
    plan.release(a->id);      // a fails at 100: nothing becomes free, b goes on alone
    CHECK_FALSE(plan.twin(b->id).has_value());
    CHECK(plan.bytes_done() == 300);
    auto stolen = plan.acquire(1); // b is a plain claim again
    REQUIRE(stolen.has_value());
    CHECK(stolen->begin == 650);
    plan.advance(stolen->id, 350);
    plan.release(stolen->id);
    plan.advance(b->id, 700);
    plan.release(b->id);
    CHECK(plan.complete());
    CHECK(plan.bytes_done() == 1000);
}

TEST_CASE("hedge: a second twin after a first one failed counts the bytes the first wrote once") {
    ferry::segment_plan plan(1000, 100);
    auto v = plan.acquire(1);
    REQUIRE(v.has_value());
    plan.advance(v->id, 100);
    auto h1 = plan.hedge(v->id);
    REQUIRE(h1.has_value());
    plan.advance(h1->id, 400); // the first twin got to 500
    CHECK(plan.bytes_done() == 500);
    plan.release(h1->id);      // then failed: v goes on alone, still at 100
    CHECK(plan.bytes_done() == 500);
    auto h2 = plan.hedge(v->id); // v went slow again
    REQUIRE(h2.has_value());
    CHECK(h2->begin == 100);
    plan.advance(h2->id, 600);   // [100, 700): only [500, 700) is new
    CHECK(plan.bytes_done() == 700);
    plan.advance(h2->id, 300);
    CHECK(plan.bytes_done() == 1000);
    CHECK(plan.complete());
    plan.release(h2->id);
    plan.release(v->id);
    CHECK(plan.done() == std::vector<byte_range>{{0, 1000}});
}

TEST_CASE("keep_responses_below: a response in flight with a short rest is not cut by a steal") {
    constexpr std::uint64_t MiB = 1024 * 1024;
    // One claim of 16 MiB, all of it asked for in one request.
    auto asked_to_the_end = [](std::uint64_t keep) {
        auto plan = std::make_unique<ferry::segment_plan>(16 * MiB, 1 * MiB);
        auto a = plan->acquire(1);
        REQUIRE(a);
        plan->set_requested(a->id, 16 * MiB);
        plan->advance(a->id, 4 * MiB); // 12 MiB of the response still to come
        plan->keep_responses_below(keep);
        return std::make_pair(std::move(plan), a->id);
    };
    {
        // By default (and below the rest) the far half is taken: the response is cut at 10 MiB.
        auto [plan, id] = asked_to_the_end(12 * MiB);
        auto b = plan->acquire(1);
        REQUIRE(b);
        CHECK(b->begin == 10 * MiB);
        CHECK(plan->end(id) == 10 * MiB);
    }
    {
        // A rest under the threshold ends sooner than a new request would take over: nothing
        // beyond the request to take, nothing taken.
        auto [plan, id] = asked_to_the_end(12 * MiB + 1);
        CHECK_FALSE(plan->acquire(1));
        CHECK(plan->end(id) == 16 * MiB);
    }
    {
        // A request that leaves a piece beyond it: split there, as always.
        ferry::segment_plan plan(16 * MiB, 1 * MiB);
        plan.keep_responses_below(64 * MiB);
        auto a = plan.acquire(1);
        REQUIRE(a);
        plan.set_requested(a->id, 12 * MiB);
        auto b = plan.acquire(1);
        REQUIRE(b);
        CHECK(b->begin == 12 * MiB);
        // Just past the request (less than a piece): the sliver goes with the thief too.
        ferry::segment_plan near(16 * MiB, 1 * MiB);
        auto c = near.acquire(1);
        REQUIRE(c);
        near.set_requested(c->id, 8 * MiB - 1000);
        auto d = near.acquire(1);
        REQUIRE(d);
        CHECK(d->begin == 8 * MiB - 1000);
    }
}
