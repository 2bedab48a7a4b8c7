// `ferry get --connect-timeout` against an address whose connects hang (a full accept queue on
// 127.0.0.1): the run ends with the connect timeout's message, long before the default 15 s.
#include "cli/child_process.hpp"
#include "net/listeners.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace std::chrono_literals;

TEST_CASE("ferry get --connect-timeout: decimal seconds bound each connect; a bad value is a usage error") {
    ferry::test::scratch_dir dir;
    ferry::test::full_listener hanging("127.0.0.1");
    auto url = "https://127.0.0.1:" + std::to_string(hanging.port()) + "/model.bin";

    auto run = ferry::test::run_program({FERRY_BINARY, "get", "-q", "--proxy", "", "--retries", "0",
                                         "--connect-timeout", "0.3", "-d", dir.path().string(), url},
                                        dir.path(), 30s);
    CHECK(run.status == 1);
    CHECK(run.err.find("connect timed out") != std::string::npos);
    CHECK(run.seconds < 10); // one attempt of 0.3 s, not 15 s

    auto bad = ferry::test::run_program({FERRY_BINARY, "get", "--connect-timeout", "soon", url}, dir.path(), 30s);
    CHECK(bad.status == 2);
    CHECK(bad.err == "ferry: option --connect-timeout needs a number of seconds (e.g. 10 or 2.5), not 'soon'\n");
}
