#pragma once

#include "perf/hdr_histogram.hpp"

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// HdrHistogram's V2 encoding of `histogram`: a 40-byte big-endian header (cookie, payload length,
/// normalizing offset 0, significant digits, lowest discernible, highest trackable, conversion ratio
/// 1.0) and the counts up to the largest value's index as ZigZag LEB128 varints, a run of zeros as
/// one negative count.
std::vector<std::uint8_t> hdr_encode(const hdr_histogram& histogram);
/// The compressed V2 encoding: cookie, length, then hdr_encode() deflated with a zlib wrapper (what
/// HdrHistogram's Java, C and JavaScript decoders read: base64 of it starts "HISTFA").
std::vector<std::uint8_t> hdr_encode_compressed(const hdr_histogram& histogram);
std::string base64(const std::vector<std::uint8_t>& bytes);

/// Writes an HdrHistogram interval log (format version 1.3, what HistogramLogReader reads):
///
///     #[Histogram log format version 1.3]
///     #[StartTime: 1700000000.000 (seconds since epoch), 2023-11-14T22:13:20Z]
///     "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
///     Tag=NAME,0.000,1.000,12.345,HISTFAAA...
///
/// Interval start times are seconds since StartTime; the interval's max is divided by
/// `max_unit_ratio` (1000 for histograms of microseconds whose log speaks milliseconds). The writer
/// does not own the stream; lines are written as they come (memory does not grow with the log).
class hdr_log_writer {
public:
    explicit hdr_log_writer(std::ostream& out, double max_unit_ratio = 1000.0)
        : out_(out), ratio_(max_unit_ratio) {}

    void write_header(double start_seconds_since_epoch);
    /// One interval; a tag must not hold ',', ' ' or a line break (they are replaced by '_').
    void write_interval(std::string_view tag, double start_seconds, double length_seconds,
                        const hdr_histogram& histogram);

private:
    std::ostream& out_;
    double ratio_;
};

} // namespace ferry
