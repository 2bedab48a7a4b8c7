#include "perf/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ferry {

namespace {

std::optional<std::uint64_t> to_number(std::string_view text) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return n;
}

std::string read_all(const char* path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::uint64_t count_open_fds() {
    std::error_code ec;
    std::uint64_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
        ++n;
    return n > 0 ? n - 1 : 0; // the one listing the directory is not the process's own
}

} // namespace

std::optional<process_stats> parse_proc_self_stat(std::string_view stat, long ticks_per_second, long page_size,
                                                  std::uint64_t boot_time) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
    // from the last ')'. Field 3 (state) is the first after it.
    auto close = stat.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0)
        return std::nullopt;
    std::vector<std::string_view> fields; // fields[0] is field 3
    for (auto rest = stat.substr(close + 1); !rest.empty();) {
        auto start = rest.find_first_not_of(" \n");
        if (start == std::string_view::npos)
            break;
        rest.remove_prefix(start);
        auto end = rest.find_first_of(" \n");
        fields.push_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    auto field = [&](std::size_t number) { return number - 3 < fields.size() ? to_number(fields[number - 3]) : std::nullopt; };
    auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
    if (!utime || !stime || !start || !vsize || !rss)
        return std::nullopt;
    process_stats out;
    auto ticks = double(ticks_per_second);
    out.cpu_seconds = double(*utime + *stime) / ticks;
    out.virtual_bytes = *vsize;
    out.resident_bytes = *rss * std::uint64_t(page_size);
    out.start_time_seconds = double(boot_time) + double(*start) / ticks;
    return out;
}

std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat) {
    for (std::size_t at = 0; at < proc_stat.size();) {
        auto end = proc_stat.find('\n', at);
        auto line = proc_stat.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
        if (line.starts_with("btime "))
            return to_number(line.substr(6));
        at = end == std::string_view::npos ? proc_stat.size() : end + 1;
    }
    return std::nullopt;
}

process_stats read_process_stats() {
    auto boot = parse_boot_time(read_all("/proc/stat"));
    auto parsed = parse_proc_self_stat(read_all("/proc/self/stat"), ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE),
                                       boot.value_or(0));
    process_stats out = parsed.value_or(process_stats{});
    out.open_fds = count_open_fds();
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        out.max_fds = limit.rlim_cur;
    return out;
}

} // namespace ferry
