#include "perf/cgroup_limits.hpp"
#include "perf/resource_monitor.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace ferry;

TEST_CASE("cgroup files: memory limits and usage, v2 and v1") {
    CHECK(parse_cgroup_bytes("536870912\n") == 536870912u);
    CHECK(parse_cgroup_bytes("max\n") == std::nullopt);
    CHECK(parse_cgroup_bytes("9223372036854771712\n") == std::nullopt); // v1's "no limit"
    CHECK(parse_cgroup_bytes("") == std::nullopt);
    CHECK(parse_cgroup_bytes("12k") == std::nullopt);
}

TEST_CASE("cgroup files: CPU quotas in cores") {
    CHECK(parse_cpu_max("150000 100000\n") == doctest::Approx(1.5));
    CHECK(parse_cpu_max("max 100000\n") == std::nullopt);
    CHECK(parse_cpu_max("100000") == std::nullopt);
    CHECK(parse_cpu_max("100000 0") == std::nullopt);
    CHECK(parse_cfs_quota("200000\n", "100000\n") == doctest::Approx(2.0));
    CHECK(parse_cfs_quota("-1\n", "100000\n") == std::nullopt);
}

TEST_CASE("/proc/self/cgroup: the path of v2's unified group or of a v1 controller") {
    constexpr std::string_view v2 = "0::/system.slice/ferry.service\n";
    CHECK(cgroup_path(v2, "") == "/system.slice/ferry.service");
    CHECK(cgroup_path(v2, "memory") == std::nullopt);
    constexpr std::string_view v1 = "9:name=systemd:/\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n";
    CHECK(cgroup_path(v1, "memory") == "/docker/abc");
    CHECK(cgroup_path(v1, "cpu") == "/docker/abc");
    CHECK(cgroup_path(v1, "cpuacct") == "/docker/abc");
    CHECK(cgroup_path(v1, "") == std::nullopt);
    CHECK(cgroup_path(v1, "blkio") == std::nullopt);
}

TEST_CASE("resource_monitor: reads at most once per interval, CPU load between readings, disks asked about") {
    CHECK(resource_monitor::load_between(1.0, 1.5, 0.5) == doctest::Approx(1.0));
    CHECK(resource_monitor::load_between(1.0, 0.5, 1.0) == std::nullopt);
    CHECK(resource_monitor::load_between(1.0, 1.0, 0.0) == std::nullopt);

    resource_monitor monitor(std::chrono::seconds(1));
    auto t0 = resource_monitor::clock::now();
    auto tmp = std::filesystem::temp_directory_path();
    auto first = monitor.sample(t0, {tmp});
    CHECK(first.resident_bytes > 0);
    CHECK(first.max_fds > 0);
    CHECK_FALSE(first.cpu_load.has_value());
    REQUIRE(first.disks.size() == 1);
    CHECK(first.disks[0].total_bytes > 0);
    // Burn some CPU; within the interval the figures stay as read.
    volatile double x = 0;
    for (int i = 0; i < 20'000'000; ++i)
        x = x + i;
    CHECK(monitor.sample(t0 + std::chrono::milliseconds(500), {tmp}).cpu_seconds == first.cpu_seconds);
    auto later = monitor.sample(t0 + std::chrono::seconds(2), {tmp});
    CHECK(later.cpu_seconds >= first.cpu_seconds);
    REQUIRE(later.cpu_load.has_value());
    CHECK(*later.cpu_load >= 0);
    // Other directories are read at once; a directory not made yet counts its parent's disk.
    auto other = monitor.sample(t0 + std::chrono::seconds(2), {tmp / "not-made-yet" / "deeper"});
    REQUIRE(other.disks.size() == 1);
    CHECK(other.disks[0].dir == (tmp / "not-made-yet" / "deeper").string());
    CHECK(other.disks[0].total_bytes == first.disks[0].total_bytes);
}
