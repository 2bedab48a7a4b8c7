// libFuzzer target: the resume journal reader (memory/resume_journal.hpp). decode_journal must
// refuse or accept any bytes without crashing, in bounded work; an accepted record must be
// consistent (ranges sorted, disjoint, not touching, within the size) and survive a round trip
// through encode_journal unchanged.
//
// Each input is decoded as it is, and once more with its last line replaced by a correct
// `crc32` line: random bytes almost never carry a valid checksum, and without this the fields
// behind it would hardly be reached.
#include "memory/resume_journal.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

void check(std::string_view text) {
    auto record = ferry::decode_journal(text);
    if (!record)
        return;
    std::uint64_t previous_end = 0;
    bool first = true;
    for (auto& r : record->done) {
        if (r.begin >= r.end || r.end > record->size)
            __builtin_trap();
        if (!first && r.begin <= previous_end)
            __builtin_trap();
        previous_end = r.end;
        first = false;
    }
    auto again = ferry::decode_journal(ferry::encode_journal(*record));
    if (!again)
        __builtin_trap();
    if (again->size != record->size || again->etag != record->etag ||
        again->last_modified != record->last_modified || again->done != record->done)
        __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check(text);
    // The same body with a checksum that matches it.
    auto end = text.size() >= 2 ? text.rfind('\n', text.size() - 2) : std::string_view::npos;
    std::string body(end == std::string_view::npos ? text : text.substr(0, end + 1));
    if (body.empty() || body.back() != '\n')
        body += '\n';
    char line[32];
    std::snprintf(line, sizeof line, "crc32 %08x\n", static_cast<unsigned>(ferry::crc32(body)));
    check(body + line);
    return 0;
}
