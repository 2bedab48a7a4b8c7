// libFuzzer target: the resume journal reader (memory/resume_journal.hpp). decode_journal must
// refuse or accept any bytes without crashing, in bounded work; an accepted record must be
// consistent (ranges sorted, disjoint, not touching, within the size) and survive a round trip
// through encode_journal unchanged.
#include "memory/resume_journal.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto record = ferry::decode_journal(text);
    if (!record)
        return 0;
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
    return 0;
}
