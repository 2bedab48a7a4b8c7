#include "queue/segment_plan.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace ferry {

segment_plan::segment_plan(std::uint64_t file_size, std::uint64_t min_piece, std::vector<byte_range> done,
                           std::uint64_t min_uncut_piece)
    : size_(file_size),
      min_piece_(std::max<std::uint64_t>(min_piece, 1)),
      min_uncut_piece_(min_uncut_piece == 0 ? min_piece_ : std::min(min_uncut_piece, min_piece_)) {
    for (auto& r : done)
        r.end = std::min(r.end, size_); // a range starting past the end becomes empty and is dropped
    done_ = merge_ranges(std::move(done));
    for (const auto& r : done_)
        bytes_done_ += r.size();
    free_ = missing_ranges(done_, size_);
}

std::vector<byte_range> segment_plan::take_free(byte_range r) {
    std::vector<byte_range> taken, rest;
    for (const auto& gap : free_) {
        byte_range overlap{std::max(gap.begin, r.begin), std::min(gap.end, r.end)};
        if (overlap.empty()) {
            rest.push_back(gap);
            continue;
        }
        taken.push_back(overlap);
        if (gap.begin < overlap.begin)
            rest.push_back({gap.begin, overlap.begin});
        if (overlap.end < gap.end)
            rest.push_back({overlap.end, gap.end});
    }
    free_ = std::move(rest);
    for (const auto& t : taken) {
        bytes_done_ += t.size();
        done_.push_back(t);
    }
    done_ = merge_ranges(std::move(done_));
    return taken;
}

segment_plan::claim segment_plan::add_claim(std::uint64_t begin, std::uint64_t end) {
    slot s;
    s.id = next_id_;
    s.begin = s.cursor = s.high = begin;
    s.end = end;
    claims_.push_back(s);
    return {next_id_++, begin, end};
}

std::optional<segment_plan::claim> segment_plan::acquire(std::size_t idle_workers) {
    if (!free_.empty()) {
        std::uint64_t total_free = 0;
        for (const auto& r : free_)
            total_free += r.size();
        const std::uint64_t workers = std::max<std::size_t>(idle_workers, 1);
        const std::uint64_t share = total_free / workers + (total_free % workers != 0);
        auto& gap = free_.front();
        std::uint64_t take = std::min(std::max(min_piece_, share), gap.size());
        // A sliver would later become a claim too small to be worth a request.
        if (gap.size() - take < min_piece_)
            take = gap.size();
        const std::uint64_t begin = gap.begin;
        gap.begin += take;
        if (gap.empty())
            free_.erase(free_.begin());
        return add_claim(begin, begin + take);
    }

    auto cut = next_steal();
    if (!cut)
        return std::nullopt;
    auto& victim = claims_[cut->victim];
    const std::uint64_t end = victim.end;
    victim.end = cut->split; // before add_claim: push_back may move the slots
    return add_claim(cut->split, end);
}

bool segment_plan::has_work() const {
    return !free_.empty() || next_steal().has_value();
}

std::optional<segment_plan::steal> segment_plan::next_steal() const {
    const slot* victim = nullptr;
    std::uint64_t largest = 0;
    for (const auto& c : claims_) {
        if (!c.twin && c.end - c.cursor > largest) {
            largest = c.end - c.cursor;
            victim = &c;
        }
    }
    const std::uint64_t far_half = largest / 2;
    if (!victim)
        return std::nullopt;
    if (far_half < min_piece_)
        return steal_uncut();
    std::uint64_t split = victim->end - far_half;
    // Rather split where the victim's request in flight ends, when that still leaves a piece:
    // then its response is read to the end and its connection stays usable. Cutting a response
    // short costs the bytes in flight (sent twice) and its connection (a new one costs round
    // trips): only worth it when much of the response is still to come.
    if (victim->requested > split) {
        if (victim->requested + min_piece_ > victim->end && victim->requested - victim->cursor < uncut_below_)
            return steal_uncut();
        if (victim->requested + min_piece_ <= victim->end)
            split = victim->requested;
    }
    // Just past the request in flight: take the sliver too, so the victim stops where it asked
    // to (a request of a few bytes would cost it a round trip).
    if (victim->requested > victim->cursor && split > victim->requested && split - victim->requested < min_piece_)
        split = victim->requested;
    return steal{static_cast<std::size_t>(victim - claims_.data()), split};
}

std::optional<segment_plan::steal> segment_plan::steal_uncut() const {
    const slot* victim = nullptr;
    std::uint64_t best_split = 0;
    std::uint64_t best = 0;
    for (const auto& c : claims_) {
        if (c.twin)
            continue;
        std::uint64_t split = std::max(c.end - (c.end - c.cursor) / 2, c.requested);
        if (split < c.end && c.end - split > best) {
            best = c.end - split;
            best_split = split;
            victim = &c;
        }
    }
    if (!victim || best < min_uncut_piece_)
        return std::nullopt;
    return steal{static_cast<std::size_t>(victim - claims_.data()), best_split};
}

void segment_plan::keep_responses_below(std::uint64_t bytes) { uncut_below_ = bytes; }

void segment_plan::set_requested(std::size_t id, std::uint64_t end) {
    auto& c = find(id);
    c.requested = std::min(end, c.end);
}

const segment_plan::slot& segment_plan::find(std::size_t id) const {
    for (const auto& c : claims_)
        if (c.id == id)
            return c;
    throw std::out_of_range("segment_plan: no active claim with this id");
}

segment_plan::slot& segment_plan::find(std::size_t id) {
    return const_cast<slot&>(std::as_const(*this).find(id));
}

void segment_plan::advance(std::size_t id, std::uint64_t bytes) {
    auto& c = find(id);
    const std::uint64_t accepted = std::min(bytes, c.end - c.cursor);
    c.cursor += accepted;
    if (c.cursor <= c.high)
        return; // the hedged twin wrote these already
    bytes_done_ += c.cursor - c.high;
    c.high = c.cursor;
    if (c.twin) {
        auto& twin = find(*c.twin);
        twin.high = std::max(twin.high, c.high);
        if (c.cursor == c.end)
            twin.end = std::max(twin.cursor, twin.begin); // this one won: the other stops
    }
}

std::optional<segment_plan::claim> segment_plan::hedge(std::size_t victim) {
    auto it = std::find_if(claims_.begin(), claims_.end(), [victim](const slot& c) { return c.id == victim; });
    if (it == claims_.end() || it->twin || it->cursor >= it->end)
        return std::nullopt;
    const std::uint64_t begin = it->cursor, end = it->end, high = it->high;
    it->twin = next_id_; // before add_claim: push_back may move the slots
    auto twin = add_claim(begin, end);
    claims_.back().twin = victim;
    // An earlier twin may have written past the victim's cursor: those bytes count already.
    claims_.back().high = high;
    return twin;
}

std::optional<std::size_t> segment_plan::twin(std::size_t id) const { return find(id).twin; }

void segment_plan::release(std::size_t id) {
    auto it = std::find_if(claims_.begin(), claims_.end(), [id](const slot& c) { return c.id == id; });
    if (it == claims_.end())
        return;
    if (it->high > it->begin) {
        done_.push_back({it->begin, it->high});
        done_ = merge_ranges(std::move(done_));
    }
    if (it->twin) {
        // The twin goes on alone and keeps the rest of the range.
        auto twin = std::find_if(claims_.begin(), claims_.end(), [&](const slot& c) { return c.id == *it->twin; });
        twin->twin.reset();
    } else if (it->high < it->end) {
        free_.push_back({it->high, it->end});
        free_ = merge_ranges(std::move(free_));
    }
    claims_.erase(it);
}

std::uint64_t segment_plan::cursor(std::size_t id) const { return find(id).cursor; }

std::uint64_t segment_plan::end(std::size_t id) const { return find(id).end; }

std::vector<byte_range> segment_plan::done() const {
    auto all = done_;
    for (const auto& c : claims_)
        if (c.high > c.begin)
            all.push_back({c.begin, c.high});
    return merge_ranges(std::move(all));
}

std::uint64_t request_window(std::uint64_t claim_left, std::uint64_t file_left, std::size_t workers,
                             std::uint64_t min_request, std::uint64_t max_request, std::uint64_t pipe_bytes) {
    const std::uint64_t equal_share = file_left / std::max<std::uint64_t>(workers, 1);
    std::uint64_t window = std::min(claim_left / 4, equal_share / 4);
    window = std::max(window, std::min(pipe_bytes, equal_share));
    window = std::max(window, min_request);
    window = std::min(window, max_request);
    // A rest of less than a round trip's data would cost a round trip of its own: take it now.
    if (claim_left > window && claim_left - window < pipe_bytes / 4 && claim_left <= max_request)
        window = claim_left;
    return std::min(window, claim_left);
}

} // namespace ferry
