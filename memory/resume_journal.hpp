#pragma once

#include "queue/byte_range.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace ferry {

/// The validator one mirror gave (mirrors of one file may carry different ETags).
struct mirror_validator {
    std::string url;            ///< without userinfo and query, as `url`
    std::string etag;
    std::string last_modified;
    friend bool operator==(const mirror_validator&, const mirror_validator&) = default;
};

/// What a resume needs to know about a partial download, stored beside DEST.part as
/// DEST.part.journal. Never holds credentials: the URL is stored without userinfo and query.
struct journal_record {
    std::string url;            ///< for messages only; resume matches on size and validator
    std::uint64_t size = 0;     ///< total file size
    std::string etag;           ///< strong ETag, may be empty
    std::string last_modified;  ///< may be empty
    std::vector<byte_range> done; ///< merged ranges already written
    std::vector<mirror_validator> mirrors; ///< per-mirror validators (at most 64), besides etag above
};

/// Text encoding with a trailing CRC-32 line, so a torn or edited journal is detected:
///
///     ferry-journal 1
///     url https://host/path        (userinfo, query and fragment removed)
///     size N
///     etag VALUE
///     last-modified VALUE
///     mirror URL<TAB>ETAG<TAB>LAST-MODIFIED   (zero or more; tabs in values are escaped)
///     done BEGIN-END               (one per range, sorted, disjoint, within size)
///     crc32 xxxxxxxx               (CRC-32 of every byte before this line)
///
/// Control bytes and backslashes in values are escaped (\xHH, \\), so every field is one line.
/// `done` is normalised: clipped to `size`, merged, empty ranges dropped. A field longer than 16 KiB
/// once escaped makes the journal undecodable (the URL is cut to fit; it is for messages only).
std::string encode_journal(const journal_record& record);
/// nullopt for anything malformed, inconsistent (ranges beyond size, unsorted, overlapping or
/// touching), out of order, with trailing bytes or a bad checksum, over 64 MiB or over 1,000,000
/// ranges. Never throws, bounded work in the input size.
std::optional<journal_record> decode_journal(std::string_view text);

/// CRC-32 of `data` (the IEEE 802.3 polynomial, as zlib's crc32 and Python's zlib.crc32): the
/// journal's `crc32` line holds it, as 8 lower-case hex digits, for every byte before that line.
std::uint32_t crc32(std::string_view data) noexcept;

/// Path of the journal for a .part file: PART + ".journal".
std::filesystem::path journal_path(const std::filesystem::path& part_path);

/// Writes the journal atomically: to a temporary file, then rename over the old one. A kill at any
/// instant leaves either the old or the new journal. No fsync (crash safety for process kills; the
/// data it describes is in the page cache too).
boost::system::error_code write_journal(const std::filesystem::path& path, const journal_record& record);
/// nullopt when missing, not a regular file (symlinks are not followed), unreadable or corrupt
/// (the download then starts from zero). `missing`, when given, says whether there was no file.
std::optional<journal_record> read_journal(const std::filesystem::path& path, bool* missing = nullptr);
void remove_journal(const std::filesystem::path& path);

} // namespace ferry
