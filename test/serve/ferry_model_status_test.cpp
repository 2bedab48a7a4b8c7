#include "tools/serve/ferry_model_status.hpp"

#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>

using namespace ferry;
using namespace ferry::serve;

namespace {

file_result ended(const char* path, file_outcome outcome, std::uint64_t size) {
    file_result r;
    r.path = path;
    r.outcome = outcome;
    r.size = size;
    if (outcome == file_outcome::failed)
        r.message = "sha256 mismatch";
    return r;
}

} // namespace

TEST_CASE("a running model: the engine's numbers, with its dir and limit, no results yet") {
    ferry_model m;
    m.id = "model";
    m.dir = "/data/m";
    m.limit_rate = 1000;
    model_stats s;
    s.id = "model";
    s.state = model_state::active;
    s.prio = priority::high;
    s.files_total = 3;
    s.files_running = 2;
    s.bytes_done = 10;
    s.bytes_total = 40;
    s.speed = 5;
    s.eta_seconds = 6;
    s.position = 0;
    auto o = model_status(m, s);
    INFO(boost::json::serialize(o));
    CHECK(o.at("id") == "model");
    CHECK(o.at("state") == "active");
    CHECK(o.at("priority") == "high");
    CHECK(o.at("files_running") == 2);
    CHECK(o.at("bytes_done") == 10);
    CHECK(o.at("completion") == 0.25);
    CHECK(o.at("eta_seconds") == 6.0);
    CHECK(o.at("dir") == "/data/m");
    CHECK(o.at("limit_rate") == 1000);
    CHECK(o.at("finished") == false);
    CHECK_FALSE(o.contains("files"));

    // Before the engine lists it: waiting, with nothing counted.
    auto early = model_status(m, std::nullopt);
    CHECK(early.at("state") == "waiting");
    CHECK(early.at("files_total") == 0);
}

TEST_CASE("an ended model: its numbers from its results, state by outcome") {
    ferry_model m;
    m.id = "model";
    m.prio = priority::low;
    m.finished = true;
    m.cached_files = 1;
    m.cached_bytes = 7;
    m.results = {ended("/d/a", file_outcome::done, 100), ended("/d/b", file_outcome::skipped, 20)};
    auto s = final_stats(m);
    CHECK(s.state == model_state::complete);
    CHECK(s.files_total == 3);
    CHECK(s.files_done == 3);
    CHECK(s.bytes_done == 127);
    CHECK(s.bytes_total == 127);
    CHECK(s.prio == priority::low);
    auto o = model_status(m, std::nullopt);
    CHECK(o.at("finished") == true);
    CHECK(o.at("files").as_array().size() == 2);
    CHECK(o.at("files").as_array()[0].at("outcome") == "done");
    CHECK(o.at("problems").as_array().empty());
    CHECK(o.at("eta_seconds") == 0.0);

    SUBCASE("a failed file: error, its message in the results") {
        m.results.push_back(ended("/d/c", file_outcome::failed, 50));
        CHECK(final_stats(m).state == model_state::error);
        CHECK(final_stats(m).files_failed == 1);
        CHECK(model_status(m, std::nullopt).at("files").as_array()[2].at("message") == "sha256 mismatch");
    }
    SUBCASE("cancelled files and no failure: removed") {
        m.results.push_back(ended("/d/c", file_outcome::cancelled, 50));
        CHECK(final_stats(m).state == model_state::removed);
    }
    SUBCASE("a problem completing the cache: error") {
        m.problems = {"cannot link blob x"};
        CHECK(final_stats(m).state == model_state::error);
        CHECK(model_status(m, std::nullopt).at("problems").as_array().size() == 1);
    }
}
