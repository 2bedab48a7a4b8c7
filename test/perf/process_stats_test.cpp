// process_* numbers: /proc/self/stat parsed from fixed text, then read from this very process.
#include "perf/process_stats.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <string>

using namespace ferry;

namespace {
// Fields 14/15 (utime, stime) 250 + 50 ticks, 22 (starttime) 1234500 ticks, 23 (vsize), 24 (rss) 409 pages.
constexpr std::string_view sample_stat =
    "20211 (a (weird) name) R 20208 20208 14171 0 -1 4194304 101 0 0 0 250 50 0 0 20 0 1 0 1234500 3133440 409 "
    "18446744073709551615 94132221120512 94132221140393 140733159086208 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
} // namespace

TEST_CASE("/proc/self/stat: CPU time, memory and start time, with a command name holding ') '") {
    auto s = parse_proc_self_stat(sample_stat, 100, 4096, 1'700'000'000);
    REQUIRE(s.has_value());
    CHECK(s->cpu_seconds == doctest::Approx(3.0));
    CHECK(s->virtual_bytes == 3133440);
    CHECK(s->resident_bytes == 409 * 4096);
    CHECK(s->start_time_seconds == doctest::Approx(1'700'000'000 + 12345.0));
}

TEST_CASE("/proc/self/stat that is not the kernel's is refused") {
    CHECK_FALSE(parse_proc_self_stat("", 100, 4096, 0).has_value());
    CHECK_FALSE(parse_proc_self_stat("1 (x) R 2 3", 100, 4096, 0).has_value());
    CHECK_FALSE(parse_proc_self_stat("1 x R", 100, 4096, 0).has_value());
    CHECK_FALSE(parse_proc_self_stat(sample_stat, 0, 4096, 0).has_value());
    std::string garbled(sample_stat);
    garbled.replace(garbled.find(" 250 "), 5, " 2x0 ");
    CHECK_FALSE(parse_proc_self_stat(garbled, 100, 4096, 0).has_value());
}

TEST_CASE("the boot time of /proc/stat") {
    CHECK(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1796114654\nprocesses 9\n") == 1796114654u);
    CHECK(parse_boot_time("btime 42") == 42u);
    CHECK_FALSE(parse_boot_time("cpu 1\n").has_value());
    CHECK_FALSE(parse_boot_time("btime x\n").has_value());
}

TEST_CASE("this process, read from /proc: plausible numbers, and a new descriptor counted") {
    auto before = read_process_stats();
    CHECK(before.resident_bytes > 1024 * 1024);
    CHECK(before.virtual_bytes >= before.resident_bytes);
    CHECK(before.cpu_seconds >= 0);
    CHECK(before.open_fds >= 3); // stdin, stdout, stderr at least
    CHECK(before.max_fds >= before.open_fds);
    auto now = double(std::time(nullptr));
    CHECK(before.start_time_seconds <= now + 1);
    CHECK(before.start_time_seconds > now - 24 * 3600.0 * 365);

    int fd = ::open("/dev/null", O_RDONLY);
    REQUIRE(fd >= 0);
    auto after = read_process_stats();
    ::close(fd);
    CHECK(after.open_fds == before.open_fds + 1);
}
