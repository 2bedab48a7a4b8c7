// libFuzzer target: the response header value parsers (net/http_fields.hpp): Content-Range of a
// 206, the unsatisfied-range form of a 416, Retry-After (seconds and the three HTTP-date forms)
// and strong ETags. Besides not crashing, results must keep the documented guarantees.
#include "net/http_fields.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view value(reinterpret_cast<const char*>(data), size);

    if (auto range = ferry::parse_content_range(value)) {
        if (range->last < range->first)
            __builtin_trap();
        if (range->total && range->last >= *range->total)
            __builtin_trap();
    }
    (void)ferry::parse_unsatisfied_range(value);

    // A fixed "now" keeps runs reproducible; a second one near the ends of the clock's range
    // exercises the overflow guards.
    using namespace std::chrono;
    const system_clock::time_point nows[] = {system_clock::time_point(seconds(1'700'000'000)),
                                             system_clock::time_point(seconds(0)),
                                             system_clock::time_point(seconds(253'402'300'799))};
    for (auto now : nows) {
        if (auto after = ferry::parse_retry_after(value, now)) {
            if (after->count() < 0 || after->count() > 999'999'999)
                __builtin_trap();
            (void)duration_cast<milliseconds>(*after); // documented not to overflow
        }
    }

    if (auto etag = ferry::strong_etag(value)) {
        if (etag->size() < 2 || etag->front() != '"' || etag->back() != '"')
            __builtin_trap();
        // A validator goes back out in If-Range: it must be one clean header value.
        for (char c : *etag)
            if (c == '\r' || c == '\n' || c == '\0')
                __builtin_trap();
    }
    return 0;
}
