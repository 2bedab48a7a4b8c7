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
/// Claims are never smaller than `min_piece`, except when a whole free gap is smaller, and near
/// the end, where a piece down to `min_uncut_piece` is taken when no response in flight is cut.
///
/// Claim ids are never reused: a stale id cannot alias a newer claim. Memory holds only the
/// claims that have not been released (plus the merged done and free ranges).
class segment_plan {
public:
    struct claim {
        std::size_t id = 0;
        std::uint64_t begin = 0;
        std::uint64_t end = 0;
    };

    /// `done`: ranges already on disk (from a resume journal), in any order; overlapping,
    /// empty and out-of-file parts are tolerated (clipped to [0, file_size)).
    /// `min_piece` 0 counts as 1; `min_uncut_piece` 0 (or above min_piece) means min_piece.
    segment_plan(std::uint64_t file_size, std::uint64_t min_piece, std::vector<byte_range> done = {},
                 std::uint64_t min_uncut_piece = 0);

    /// Work for an idle worker. `idle_workers` is how many workers are about to ask (this one
    /// included; 0 counts as 1): free space is shared so that they get equal pieces.
    ///
    /// With free space: a piece of max(min_piece, ceil(total_free / idle_workers)) bytes from the
    /// start of the first (lowest) free gap, never more than the gap. When what would be left of
    /// that gap is smaller than min_piece, the claim takes it too, so no sliver is left behind.
    /// Without free space: steals the far half (floor of (end - cursor) / 2) of the claim with the
    /// largest remaining (end - cursor), if that half is at least min_piece; the victim keeps the
    /// near half and its end() moves to the split point (moved to the end of the victim's request
    /// in flight when that is past the middle and leaves a piece, or when the middle is less than
    /// a piece beyond it). A response in flight with less than keep_responses_below() bytes to
    /// come is not cut short: the steal is then as at the tail. When no half is that large (the file's
    /// tail), the largest piece that cuts no response in flight: of each claim, what lies beyond
    /// both its middle and its requested end (set_requested), if at least min_uncut_piece.
    /// nullopt when nothing is worth taking (and always for a complete or empty file).
    std::optional<claim> acquire(std::size_t idle_workers = 1);

    /// Whether acquire() would return a claim now (free space, or a piece worth stealing).
    bool has_work() const;

    /// Bytes written at the claim's cursor. Bytes past end(id) are ignored (they belong to whoever
    /// stole them): the cursor is clamped to end(id). Throws std::out_of_range for an id that is
    /// not an active claim (a programming error).
    void advance(std::size_t id, std::uint64_t bytes);

    /// The worker stops (finished, failed or cancelled): the written part [begin, cursor) stays
    /// done, the unwritten part [cursor, end) becomes free again. A claim stays active until it is
    /// released, even when its cursor has reached its end. Releasing an unknown or already
    /// released id does nothing.
    void release(std::size_t id);

    /// Responses in flight with fewer than `bytes` still to come are never cut by a steal (0, the
    /// default: any may be). Cutting one costs the bytes in flight, sent twice, and its
    /// connection; a short rest ends sooner than a new request on a long path would take over.
    void keep_responses_below(std::uint64_t bytes);

    /// The worker has asked the server for the claim's bytes up to `end`. A steal then prefers to
    /// split there, so the response in flight is not cut short (its connection stays reusable).
    void set_requested(std::size_t id, std::uint64_t end);

    /// Tail hedging: a second claim over what is left of claim `victim` ([its cursor, its end)),
    /// fetched on another connection while the victim goes on. Whichever reaches the end first
    /// wins: the other's end() drops to its cursor, so it stops there. Bytes written by both are
    /// counted once; a pair is never stolen from, and when one of them is released the other
    /// goes on alone. nullopt when `victim` is not active, already paired, or has nothing left.
    std::optional<claim> hedge(std::size_t victim);
    /// The other claim of a hedged pair, if `id` is one.
    std::optional<std::size_t> twin(std::size_t id) const;

    /// A single stream carries bytes [r.begin, r.end): the parts of it that are free become done
    /// and are returned, in order, to be written; bytes already done or held by a claim are not.
    std::vector<byte_range> take_free(byte_range r);

    /// Throw std::out_of_range for an id that is not an active claim.
    std::uint64_t cursor(std::size_t id) const;
    /// Current end of a claim: it shrinks when another worker steals from it.
    std::uint64_t end(std::size_t id) const;

    std::uint64_t file_size() const noexcept { return size_; }
    /// Bytes written: done ranges plus the written parts of active claims.
    std::uint64_t bytes_done() const noexcept { return bytes_done_; }
    bool complete() const noexcept { return bytes_done_ == size_; }
    /// Done ranges (including written parts of active claims), merged and sorted: what a resume
    /// journal records.
    std::vector<byte_range> done() const;
    /// Number of claims that have not been released.
    std::size_t active_claims() const noexcept { return claims_.size(); }

private:
    struct slot {
        std::size_t id = 0;
        std::uint64_t begin = 0;
        std::uint64_t cursor = 0;
        std::uint64_t end = 0;
        std::uint64_t requested = 0; ///< end of the bytes asked for so far (set_requested)
        /// Bytes [begin, high) are counted done: the cursor, or past it where a hedged twin
        /// wrote further.
        std::uint64_t high = 0;
        std::optional<std::size_t> twin; ///< the other claim of a hedged pair
    };

    /// A steal acquire() would make: the claim at claims_[victim] ends at `split`, the thief
    /// takes the rest.
    struct steal {
        std::size_t victim = 0;
        std::uint64_t split = 0;
    };

    const slot& find(std::size_t id) const;
    slot& find(std::size_t id);
    claim add_claim(std::uint64_t begin, std::uint64_t end);
    /// Without free space: the far half of the claim with the most left (see acquire()).
    std::optional<steal> next_steal() const;
    /// At the tail: the largest piece that cuts no response in flight.
    std::optional<steal> steal_uncut() const;

    std::uint64_t size_;
    std::uint64_t min_piece_;
    std::uint64_t min_uncut_piece_;
    std::uint64_t bytes_done_ = 0;
    std::uint64_t uncut_below_ = 0;
    std::vector<byte_range> done_; // merged; excludes bytes of active claims
    std::vector<byte_range> free_; // merged, sorted
    std::vector<slot> claims_;     // active claims, in the order they were made
    std::size_t next_id_ = 0;
};

/// How many bytes a worker asks for in its next request, at `claim_left` bytes before its claim's
/// end, with `file_left` bytes of the file not yet written by its `workers` workers: a quarter of
/// the claim, and no more than a quarter of an equal share of the file, within [min_request,
/// max_request] and never past the claim. Requests thus shrink towards the end of the file, where
/// an idle worker can take the unrequested rest of a claim without cutting a response short.
///
/// `pipe_bytes` (round_trip_window::bytes(): several round trips of data at a connection's rate)
/// raises a smaller window up to it, though never beyond an equal share of what is left: on a
/// path with real latency a request shorter than that leaves its connection idle for much of its
/// time, and the file's last requests then end at most a few round trips apart. A rest of the
/// claim below a quarter of `pipe_bytes` (about one round trip of data) joins the request.
std::uint64_t request_window(std::uint64_t claim_left, std::uint64_t file_left, std::size_t workers,
                             std::uint64_t min_request, std::uint64_t max_request, std::uint64_t pipe_bytes = 0);

} // namespace ferry
