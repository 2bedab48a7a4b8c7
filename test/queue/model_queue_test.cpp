// The engine's scheduling, step by step: which file starts next under priorities, positions,
// limits, pauses and cancels, told what the engine did in between.
#include "queue/model_queue.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using ferry::file_state;
using ferry::model_queue;
using ferry::position_origin;
using ferry::priority;
using file_ref = model_queue::file_ref;

namespace {

using sizes = std::vector<std::optional<std::uint64_t>>;

/// Starts what the queue says, as the engine does, and returns what started.
std::vector<file_ref> start_all(model_queue& q) {
    std::vector<file_ref> out;
    while (auto f = q.next()) {
        q.started(*f);
        out.push_back(*f);
    }
    return out;
}

/// Runs every file to its end, one at a time, and returns the order they started in.
std::vector<file_ref> run_one_by_one(model_queue& q) {
    std::vector<file_ref> out;
    while (auto f = q.next()) {
        q.started(*f);
        q.finished(*f);
        out.push_back(*f);
    }
    return out;
}

} // namespace

TEST_CASE("files of a model start small first, unknown sizes last, ties in the order given") {
    model_queue q(1, 1);
    REQUIRE(q.add("m", priority::normal, sizes{3'000'000'000, 1523, std::nullopt, 10'240, 1523}));
    auto order = run_one_by_one(q);
    REQUIRE(order.size() == 5);
    CHECK(order[0] == file_ref{"m", 1});
    CHECK(order[1] == file_ref{"m", 4});
    CHECK(order[2] == file_ref{"m", 3});
    CHECK(order[3] == file_ref{"m", 0});
    CHECK(order[4] == file_ref{"m", 2});
    CHECK(q.status("m")->done());
    CHECK_FALSE(q.status("m")->position);
    CHECK_FALSE(q.next());
}

TEST_CASE("high before normal before low; within a priority, arrival") {
    model_queue q(1, 8);
    q.add("low", priority::low, sizes{1});
    q.add("normal-1", priority::normal, sizes{1});
    q.add("high", priority::high, sizes{1, 2});
    q.add("normal-2", priority::normal, sizes{1});
    std::vector<std::string> models;
    for (auto& f : run_one_by_one(q))
        models.push_back(f.model);
    CHECK(models == std::vector<std::string>{"high", "high", "normal-1", "normal-2", "low"});
}

TEST_CASE("files in flight: overall and per model; a model at its cap lets the next one in") {
    model_queue q(3, 2);
    q.add("a", priority::high, sizes{1, 2, 3});
    q.add("b", priority::low, sizes{1, 2});
    auto started = start_all(q);
    REQUIRE(started.size() == 3);
    CHECK(started[0] == file_ref{"a", 0});
    CHECK(started[1] == file_ref{"a", 1});
    CHECK(started[2] == file_ref{"b", 0}); // a is at its cap of 2: b takes the free slot
    CHECK(q.running() == 3);
    CHECK_FALSE(q.next());                 // 3 in all

    q.finished({"b", 0});
    // A slot is free in all, and a has a free slot of its own only after one of its files ends:
    // b goes on (a is at its cap).
    CHECK(q.next() == file_ref{"b", 1});
    q.finished({"a", 0});
    CHECK(q.next() == file_ref{"a", 2});   // higher priority first
}

TEST_CASE("with max_files reached nothing starts, not even for a model below its own cap") {
    model_queue q(2, 1);
    q.add("a", priority::normal, sizes{1, 2});
    q.add("b", priority::normal, sizes{1});
    q.add("c", priority::normal, sizes{1});
    auto started = start_all(q);
    REQUIRE(started.size() == 2);
    CHECK(started[0].model == "a");
    CHECK(started[1].model == "b");
    CHECK_FALSE(q.next());
}

TEST_CASE("set_max_files: lowering it stops nothing and starts nothing until under the new limit") {
    model_queue q(3, 8);
    q.add("m", priority::normal, sizes{1, 2, 3, 4, 5});
    CHECK(start_all(q).size() == 3);
    q.set_max_files(1);
    CHECK(q.max_files() == 1);
    CHECK(q.running() == 3); // nothing stopped
    q.finished({"m", 0});
    CHECK_FALSE(q.next());   // 2 run, the limit is 1
    q.finished({"m", 1});
    CHECK_FALSE(q.next());   // 1 runs
    q.finished({"m", 2});
    CHECK(q.next() == file_ref{"m", 3});
    q.set_max_files(4);
    CHECK(start_all(q).size() == 2);
    q.set_max_files(0); // counts as 1
    CHECK(q.max_files() == 1);
}

TEST_CASE("memory pressure: nothing starts while it lasts") {
    model_queue q(8, 8);
    q.add("m", priority::normal, sizes{1, 2});
    q.set_memory_pressure(true);
    CHECK_FALSE(q.next());
    q.set_memory_pressure(false);
    CHECK(q.next() == file_ref{"m", 0});
}

TEST_CASE("pause of one model: its running files are asked to stop and go back in their old place") {
    model_queue q(8, 2);
    q.add("m", priority::normal, sizes{1, 2, 3, 4});
    q.add("n", priority::low, sizes{1});
    REQUIRE(start_all(q).size() == 3); // m: 0 and 1; n: 0
    auto stopping = q.pause("m");
    REQUIRE(stopping.size() == 2);
    CHECK(stopping[0] == file_ref{"m", 0});
    CHECK(stopping[1] == file_ref{"m", 1});
    CHECK(q.stop_requested({"m", 0}));
    CHECK_FALSE(q.stop_requested({"n", 0}));
    CHECK(q.status("m")->paused);
    CHECK_FALSE(q.next()); // m paused; n has nothing more

    q.requeued({"m", 1});
    CHECK(q.state_of({"m", 1}) == file_state::waiting);
    CHECK_FALSE(q.next());
    q.finished({"m", 0}); // it completed before the pause reached it: it stays finished
    CHECK(q.state_of({"m", 0}) == file_state::finished);

    CHECK(q.resume("m"));
    // The requeued file comes first again, then the rest in order.
    CHECK(q.next() == file_ref{"m", 1});
    auto order = run_one_by_one(q);
    REQUIRE(order.size() == 3);
    CHECK(order[0] == file_ref{"m", 1});
    CHECK(order[1] == file_ref{"m", 2});
    CHECK(order[2] == file_ref{"m", 3});
}

TEST_CASE("a file stopped by a pause goes back to the queue even when resumed meanwhile") {
    model_queue q(8, 8);
    q.add("m", priority::normal, sizes{1, 2});
    start_all(q);
    q.pause("m");
    q.resume("m");
    CHECK(q.stop_requested({"m", 0}));
    CHECK_FALSE(q.next()); // both still run (stopping)
    q.requeued({"m", 0});
    CHECK(q.next() == file_ref{"m", 0});
}

TEST_CASE("pause_all holds every model, and models added meanwhile; resume_all frees them") {
    model_queue q(8, 8);
    q.add("a", priority::normal, sizes{1, 2});
    REQUIRE(start_all(q).size() == 2);
    auto stopping = q.pause_all();
    CHECK(stopping.size() == 2);
    CHECK(q.paused_all());
    q.add("late", priority::high, sizes{1});
    CHECK(q.status("late")->paused);
    CHECK_FALSE(q.next());
    q.requeued({"a", 0});
    q.requeued({"a", 1});
    CHECK_FALSE(q.next());
    q.resume_all();
    CHECK_FALSE(q.paused_all());
    CHECK(q.next() == file_ref{"late", 0});
    CHECK(start_all(q).size() == 3);
}

TEST_CASE("resume of one model while all are paused frees that one only") {
    model_queue q(8, 8);
    q.pause_all();
    q.add("a", priority::normal, sizes{1});
    q.add("b", priority::normal, sizes{1});
    CHECK(q.resume("b"));
    CHECK(q.next() == file_ref{"b", 0});
    q.add("c", priority::normal, sizes{1});
    CHECK(q.status("c")->paused); // still under pause_all
}

TEST_CASE("cancel: waiting files finish at once, running ones are not requeued, the model leaves") {
    model_queue q(8, 1);
    q.add("m", priority::normal, sizes{1, 2, 3});
    q.add("n", priority::normal, sizes{1});
    REQUIRE(start_all(q).size() == 2); // m:0 and n:0
    q.pause("m");
    auto dropped = q.cancel("m");
    REQUIRE(dropped);
    CHECK(*dropped == std::vector<std::size_t>{1, 2});
    CHECK_FALSE(q.stop_requested({"m", 0})); // cancelled: it finishes instead
    CHECK_THROWS_AS(q.requeued({"m", 0}), std::logic_error);
    auto s = q.status("m");
    CHECK(s->cancelled);
    CHECK_FALSE(s->position);
    CHECK(s->running == 1);
    CHECK(s->finished == 2);
    CHECK(q.in_queue_order() == std::vector<std::string>{"n"});
    CHECK_FALSE(q.next());
    q.finished({"m", 0});
    CHECK(q.status("m")->done());
    CHECK(q.cancel("m")->empty()); // again: nothing left to drop
    CHECK_FALSE(q.cancel("nobody"));
    CHECK(q.pause("m").empty());   // a cancelled model has nothing to stop
}

TEST_CASE("set_priority reorders what starts next; unknown ids say so") {
    model_queue q(1, 8);
    q.add("a", priority::normal, sizes{1});
    q.add("b", priority::low, sizes{1});
    q.add("c", priority::normal, sizes{1});
    CHECK(q.set_priority("b", priority::high));
    CHECK_FALSE(q.set_priority("x", priority::high));
    CHECK_FALSE(q.resume("x"));
    CHECK(q.pause("x").empty());
    CHECK_FALSE(q.status("x"));
    std::vector<std::string> models;
    for (auto& f : run_one_by_one(q))
        models.push_back(f.model);
    CHECK(models == std::vector<std::string>{"b", "a", "c"});
}

TEST_CASE("change_position as aria2's changePosition: set, current, end, clamped") {
    model_queue q(1, 8);
    for (auto id : {"a", "b", "c", "d"})
        q.add(id, priority::normal, sizes{1});
    using v = std::vector<std::string>;
    CHECK(q.in_queue_order() == v{"a", "b", "c", "d"});
    CHECK(q.status("c")->position == 2u);

    CHECK(q.change_position("d", 0, position_origin::begin) == 0u);
    CHECK(q.in_queue_order() == v{"d", "a", "b", "c"});
    CHECK(q.change_position("d", 1, position_origin::current) == 1u);
    CHECK(q.in_queue_order() == v{"a", "d", "b", "c"});
    CHECK(q.change_position("a", 0, position_origin::end) == 3u);
    CHECK(q.in_queue_order() == v{"d", "b", "c", "a"});
    CHECK(q.change_position("a", -2, position_origin::end) == 1u);
    CHECK(q.in_queue_order() == v{"d", "a", "b", "c"});

    // Clamped at both ends.
    CHECK(q.change_position("b", -10, position_origin::current) == 0u);
    CHECK(q.change_position("b", 10, position_origin::begin) == 3u);
    CHECK(q.change_position("b", 5, position_origin::end) == 3u);
    CHECK(q.change_position("b", -7, position_origin::begin) == 0u);
    CHECK(q.in_queue_order() == v{"b", "d", "a", "c"});
    CHECK_FALSE(q.change_position("nobody", 0, position_origin::begin));

    // Within a priority, position decides what starts.
    std::vector<std::string> models;
    for (auto& f : run_one_by_one(q))
        models.push_back(f.model);
    CHECK(models == v{"b", "d", "a", "c"});
    CHECK(q.in_queue_order().empty());
    CHECK_FALSE(q.change_position("a", 0, position_origin::begin)); // finished: not in the queue
}

TEST_CASE("priority outranks position; positions count across priorities") {
    model_queue q(1, 8);
    q.add("normal", priority::normal, sizes{1});
    q.add("high", priority::high, sizes{1});
    CHECK(q.change_position("high", 0, position_origin::end) == 1u);
    CHECK(q.next() == file_ref{"high", 0});
}

TEST_CASE("a model with running files keeps its place; finished and cancelled ones leave") {
    model_queue q(1, 8);
    q.add("a", priority::normal, sizes{1, 2});
    q.add("b", priority::normal, sizes{1});
    q.add("c", priority::normal, sizes{1});
    auto f = q.next();
    q.started(*f); // a:0 runs
    CHECK(q.status("a")->position == 0u);
    CHECK(q.change_position("c", 0, position_origin::begin) == 0u);
    q.finished(*f);
    CHECK(q.next() == file_ref{"c", 0}); // c moved ahead of a's second file
    q.cancel("b");
    CHECK(q.in_queue_order() == std::vector<std::string>{"c", "a"});
}

TEST_CASE("add refuses a held id; remove forgets a model, never one with a running file") {
    model_queue q(8, 8);
    CHECK(q.add("m", priority::normal, sizes{1}));
    CHECK_FALSE(q.add("m", priority::high, sizes{1, 2}));
    CHECK(q.status("m")->prio == priority::normal);
    auto f = q.next();
    q.started(*f);
    CHECK_THROWS_AS(q.remove("m"), std::logic_error);
    q.finished(*f);
    CHECK(q.remove("m"));
    CHECK_FALSE(q.contains("m"));
    CHECK_FALSE(q.remove("m"));
    CHECK(q.add("m", priority::low, sizes{1})); // the id is free again
    CHECK(q.add("empty", priority::normal, sizes{}));
    CHECK(q.status("empty")->done());
    CHECK_FALSE(q.status("empty")->position);
}

TEST_CASE("wrong reports are programming errors") {
    model_queue q(8, 8);
    q.add("m", priority::normal, sizes{1, 2});
    CHECK_THROWS_AS(q.finished({"m", 0}), std::logic_error);  // not running
    CHECK_THROWS_AS(q.requeued({"m", 0}), std::logic_error);  // no pause asked
    CHECK_THROWS_AS(q.started({"m", 7}), std::out_of_range);
    CHECK_THROWS_AS(q.started({"x", 0}), std::out_of_range);
    q.started({"m", 1}); // any waiting file may start, not only next()'s
    CHECK_THROWS_AS(q.started({"m", 1}), std::logic_error);
    CHECK(q.next() == file_ref{"m", 0});
    q.started({"m", 0});
    CHECK_FALSE(q.next());
}

TEST_CASE("a requeued file ahead of the cursor waits in its own place") {
    model_queue q(8, 8);
    q.add("m", priority::normal, sizes{1, 2, 3});
    q.started({"m", 2}); // out of order: the biggest first
    q.pause("m");
    q.requeued({"m", 2});
    q.resume("m");
    auto order = run_one_by_one(q);
    REQUIRE(order.size() == 3);
    CHECK(order[0] == file_ref{"m", 0});
    CHECK(order[1] == file_ref{"m", 1});
    CHECK(order[2] == file_ref{"m", 2});
}

TEST_CASE("cancelling a model whose files have all finished changes nothing") {
    model_queue q(8, 8);
    q.add("m", priority::normal, sizes{1, 2});
    run_one_by_one(q);
    CHECK(q.done("m"));
    CHECK(q.cancel("m")->empty());
    CHECK_FALSE(q.status("m")->cancelled);
    auto states = q.file_states("m");
    REQUIRE(states.size() == 2);
    CHECK(states[0] == file_state::finished);
    CHECK(q.file_states("nobody").empty());
    CHECK_FALSE(q.done("nobody"));
}
