#include "perf/cgroup_limits.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ferry {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
        s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    return s;
}

template <class Number>
std::optional<Number> number(std::string_view s) {
    s = trim(s);
    Number n{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return n;
}

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The first of `dirs` (each + "/" + `file`) that can be read.
std::optional<std::string> read_first(const std::vector<std::string>& dirs, const char* file) {
    for (auto& dir : dirs)
        if (auto text = read_text(dir + "/" + file))
            return text;
    return std::nullopt;
}

/// Whether a comma-separated list ("cpu,cpuacct") holds `name`.
bool lists(std::string_view list, std::string_view name) {
    while (!list.empty()) {
        auto comma = list.find(',');
        if (list.substr(0, comma) == name)
            return true;
        list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
    return false;
}

} // namespace

std::optional<std::uint64_t> parse_cgroup_bytes(std::string_view text) {
    auto n = number<std::uint64_t>(text);
    // v1 writes "no limit" as the largest page-aligned signed 64-bit number.
    if (!n || *n >= (std::uint64_t(1) << 60))
        return std::nullopt;
    return n;
}

std::optional<double> parse_cpu_max(std::string_view text) {
    text = trim(text);
    auto space = text.find(' ');
    if (space == std::string_view::npos)
        return std::nullopt;
    auto quota = number<std::uint64_t>(text.substr(0, space));
    auto period = number<std::uint64_t>(text.substr(space + 1));
    if (!quota || !period || *period == 0)
        return std::nullopt;
    return double(*quota) / double(*period);
}

std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period) {
    auto q = number<std::int64_t>(quota);
    auto p = number<std::int64_t>(period);
    if (!q || !p || *q <= 0 || *p <= 0)
        return std::nullopt;
    return double(*q) / double(*p);
}

std::optional<std::string_view> cgroup_path(std::string_view text, std::string_view controller) {
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        auto first = line.find(':');
        auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos)
            continue;
        auto controllers = line.substr(first + 1, second - first - 1);
        auto path = line.substr(second + 1);
        if (controller.empty() ? (line.substr(0, first) == "0" && controllers.empty())
                               : lists(controllers, controller))
            return path;
    }
    return std::nullopt;
}

cgroup_limits read_cgroup_limits() {
    cgroup_limits out;
    auto self = read_text("/proc/self/cgroup").value_or("");
    const std::string root = "/sys/fs/cgroup";
    // A container usually sees its own cgroup at the root; a host process at its path below it.
    auto below = [&](std::string_view controller, const std::string& mount) {
        auto path = cgroup_path(self, controller);
        std::string dir = mount;
        if (path && *path != "/")
            dir += std::string(*path);
        return std::vector<std::string>{dir, mount};
    };
    if (auto v2 = read_first(below("", root), "memory.max")) {
        out.memory_max = parse_cgroup_bytes(*v2);
        if (auto used = read_first(below("", root), "memory.current"))
            out.memory_used = parse_cgroup_bytes(*used);
        if (auto cpu = read_first(below("", root), "cpu.max"))
            out.cpu_cores = parse_cpu_max(*cpu);
        return out;
    }
    if (auto limit = read_first(below("memory", root + "/memory"), "memory.limit_in_bytes"))
        out.memory_max = parse_cgroup_bytes(*limit);
    if (auto used = read_first(below("memory", root + "/memory"), "memory.usage_in_bytes"))
        out.memory_used = parse_cgroup_bytes(*used);
    auto quota = read_first(below("cpu", root + "/cpu"), "cpu.cfs_quota_us");
    auto period = read_first(below("cpu", root + "/cpu"), "cpu.cfs_period_us");
    if (quota && period)
        out.cpu_cores = parse_cfs_quota(*quota, *period);
    return out;
}

} // namespace ferry
