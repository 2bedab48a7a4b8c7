#pragma once

#include "queue/byte_range.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ferry {

/// Decides which bytes of one file each connection fetches. No I/O, not thread-safe: the file's
/// coroutine owns it.
///
/// The file is a set of done ranges, claims in flight and free space. A worker (one connection)
/// asks for a claim, writes bytes at the claim's cursor and reports them with advance(). When the
/// free space is gone, an idle worker steals the far half of the largest remaining claim, so one
/// slow connection never leaves a long tail; the victim sees its end() shrink and stops there.
/// Claims are never smaller than `min_piece` (except the last bytes of a gap).
class segment_plan {
public:
    struct claim {
        std::size_t id = 0;
        std::uint64_t begin = 0;
        std::uint64_t end = 0;
    };

    /// `done`: ranges already on disk (from a resume journal), in any order.
    segment_plan(std::uint64_t file_size, std::uint64_t min_piece, std::vector<byte_range> done = {});

    /// Work for an idle worker. `idle_workers` is how many workers are about to ask (this one
    /// included): free space is shared so that they get equal pieces. Takes from the first free gap;
    /// when none is left, steals the far half of the largest remaining claim if that half is at
    /// least `min_piece`. nullopt when nothing is worth taking.
    std::optional<claim> acquire(std::size_t idle_workers = 1);

    /// Bytes written at the claim's cursor. Never past end(id).
    void advance(std::size_t id, std::uint64_t bytes);

    /// The worker stops (finished, failed or cancelled): the unfinished part becomes free again.
    void release(std::size_t id);

    std::uint64_t cursor(std::size_t id) const;
    /// Current end of a claim: it shrinks when another worker steals from it.
    std::uint64_t end(std::size_t id) const;

    std::uint64_t file_size() const noexcept { return size_; }
    std::uint64_t bytes_done() const noexcept;
    bool complete() const noexcept { return bytes_done() == size_; }
    /// Done ranges, merged and sorted (what a resume journal records).
    std::vector<byte_range> done() const;
    /// Number of claims that have not been released.
    std::size_t active_claims() const noexcept;

private:
    struct slot {
        std::uint64_t begin = 0;
        std::uint64_t cursor = 0;
        std::uint64_t end = 0;
        bool active = false;
    };

    std::uint64_t size_;
    std::uint64_t min_piece_;
    std::vector<byte_range> done_; // merged; excludes bytes of active claims
    std::vector<byte_range> free_; // merged, sorted
    std::vector<slot> slots_;      // indexed by claim id
};

} // namespace ferry
