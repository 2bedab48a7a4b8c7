#include "queue/model_queue.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace ferry {

namespace {

std::size_t at_least_one(std::size_t n) {
    return std::max<std::size_t>(n, 1);
}

} // namespace

model_queue::model_queue(std::size_t max_files, std::size_t max_files_per_model)
    : max_files_(at_least_one(max_files)), max_files_per_model_(at_least_one(max_files_per_model)) {}

std::optional<std::size_t> model_queue::model::first_waiting() const {
    if (!requeued.empty())
        return start_order[*requeued.begin()];
    if (cursor < start_order.size())
        return start_order[cursor];
    return std::nullopt;
}

model_queue::model& model_queue::at(const std::string& id) {
    auto it = models_.find(id);
    if (it == models_.end())
        throw std::out_of_range("model_queue: no model '" + id + "'");
    return it->second;
}

const model_queue::model& model_queue::at(const std::string& id) const {
    return const_cast<model_queue*>(this)->at(id);
}

bool model_queue::add(const std::string& id, priority prio, const std::vector<std::optional<std::uint64_t>>& file_sizes) {
    auto [it, inserted] = models_.try_emplace(id);
    if (!inserted)
        return false;
    auto& m = it->second;
    m.id = id;
    m.prio = prio;
    m.paused = paused_all_;
    m.files.assign(file_sizes.size(), file_state::waiting);
    m.start_order.resize(file_sizes.size());
    std::iota(m.start_order.begin(), m.start_order.end(), std::size_t{0});
    std::stable_sort(m.start_order.begin(), m.start_order.end(), [&](std::size_t a, std::size_t b) {
        return file_sizes[a].value_or(UINT64_MAX) < file_sizes[b].value_or(UINT64_MAX);
    });
    m.rank.resize(file_sizes.size());
    for (std::size_t r = 0; r < m.start_order.size(); ++r)
        m.rank[m.start_order[r]] = r;
    if (!m.done())
        queue_.push_back(&m);
    return true;
}

bool model_queue::remove(const std::string& id) {
    auto it = models_.find(id);
    if (it == models_.end())
        return false;
    if (it->second.running > 0)
        throw std::logic_error("model_queue: model '" + id + "' removed while a file runs");
    leave_queue(it->second);
    models_.erase(it);
    return true;
}

void model_queue::leave_queue(const model& m) {
    std::erase(queue_, &m);
}

std::optional<model_queue::file_ref> model_queue::next(std::size_t beyond) const {
    if (memory_pressure_ || running_ >= max_files_ + beyond)
        return std::nullopt;
    for (auto prio : {priority::high, priority::normal, priority::low}) {
        for (auto* m : queue_) {
            if (m->prio != prio || m->paused || m->running >= max_files_per_model_ + beyond)
                continue;
            if (auto file = m->first_waiting())
                return file_ref{m->id, *file};
        }
    }
    return std::nullopt;
}

void model_queue::started(const file_ref& f) {
    auto& m = at(f.model);
    if (state_of(f) != file_state::waiting)
        throw std::logic_error("model_queue: started a file that is not waiting");
    m.files[f.file] = file_state::running;
    auto r = m.rank[f.file];
    m.requeued.erase(r);
    while (m.cursor < m.files.size() && m.files[m.start_order[m.cursor]] != file_state::waiting)
        ++m.cursor;
    ++m.running;
    ++running_;
}

void model_queue::finished(const file_ref& f) {
    auto& m = at(f.model);
    if (state_of(f) != file_state::running)
        throw std::logic_error("model_queue: finished a file that is not running");
    m.files[f.file] = file_state::finished;
    m.stopping.erase(f.file);
    --m.running;
    --running_;
    ++m.finished;
    if (m.done())
        leave_queue(m);
}

void model_queue::requeued(const file_ref& f) {
    auto& m = at(f.model);
    if (!stop_requested(f))
        throw std::logic_error("model_queue: requeued a file no pause asked to stop");
    m.stopping.erase(f.file);
    m.files[f.file] = file_state::waiting;
    // Behind the cursor it waits in the requeued set; ahead of it, the cursor will reach it.
    if (auto r = m.rank[f.file]; r < m.cursor)
        m.requeued.insert(r);
    --m.running;
    --running_;
}

bool model_queue::stop_requested(const file_ref& f) const {
    return state_of(f) == file_state::running && at(f.model).stopping.count(f.file) > 0;
}

std::vector<model_queue::file_ref> model_queue::ask_to_stop(model& m) {
    std::vector<file_ref> out;
    if (m.cancelled)
        return out;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        if (m.files[i] == file_state::running) {
            m.stopping.insert(i);
            out.push_back({m.id, i});
        }
    }
    return out;
}

std::vector<model_queue::file_ref> model_queue::pause(const std::string& id) {
    auto it = models_.find(id);
    if (it == models_.end())
        return {};
    it->second.paused = true;
    return ask_to_stop(it->second);
}

std::vector<model_queue::file_ref> model_queue::pause_all() {
    paused_all_ = true;
    std::vector<file_ref> out;
    for (auto& [id, m] : models_) {
        m.paused = true;
        auto stopping = ask_to_stop(m);
        out.insert(out.end(), stopping.begin(), stopping.end());
    }
    return out;
}

bool model_queue::resume(const std::string& id) {
    auto it = models_.find(id);
    if (it == models_.end())
        return false;
    it->second.paused = false;
    return true;
}

void model_queue::resume_all() {
    paused_all_ = false;
    for (auto& [id, m] : models_)
        m.paused = false;
}

std::optional<std::vector<std::size_t>> model_queue::cancel(const std::string& id) {
    auto it = models_.find(id);
    if (it == models_.end())
        return std::nullopt;
    auto& m = it->second;
    if (m.done())
        return std::vector<std::size_t>{}; // it completed (or failed) before: not removed now
    m.cancelled = true;
    m.stopping.clear();
    std::vector<std::size_t> dropped;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        if (m.files[i] == file_state::waiting) {
            m.files[i] = file_state::finished;
            ++m.finished;
            dropped.push_back(i);
        }
    }
    m.requeued.clear();
    m.cursor = m.files.size();
    leave_queue(m);
    return dropped;
}

bool model_queue::set_priority(const std::string& id, priority prio) {
    auto it = models_.find(id);
    if (it == models_.end())
        return false;
    it->second.prio = prio;
    return true;
}

std::optional<std::size_t> model_queue::change_position(const std::string& id, int offset, position_origin how) {
    auto it = models_.find(id);
    if (it == models_.end())
        return std::nullopt;
    auto place = std::find(queue_.begin(), queue_.end(), &it->second);
    if (place == queue_.end())
        return std::nullopt;
    const auto last = static_cast<long long>(queue_.size()) - 1;
    const auto current = static_cast<long long>(place - queue_.begin());
    long long base = 0;
    switch (how) {
    case position_origin::begin: base = 0; break;
    case position_origin::current: base = current; break;
    case position_origin::end: base = last; break;
    }
    auto target = std::clamp(base + offset, 0LL, last);
    auto* m = *place;
    queue_.erase(place);
    queue_.insert(queue_.begin() + target, m);
    return static_cast<std::size_t>(target);
}

void model_queue::set_max_files(std::size_t n) {
    max_files_ = at_least_one(n);
}

std::vector<std::string> model_queue::in_queue_order() const {
    std::vector<std::string> out;
    out.reserve(queue_.size());
    for (auto* m : queue_)
        out.push_back(m->id);
    return out;
}

std::optional<model_queue::model_status> model_queue::status(const std::string& id) const {
    auto it = models_.find(id);
    if (it == models_.end())
        return std::nullopt;
    auto& m = it->second;
    model_status s;
    s.prio = m.prio;
    if (auto place = std::find(queue_.begin(), queue_.end(), &m); place != queue_.end())
        s.position = static_cast<std::size_t>(place - queue_.begin());
    s.paused = m.paused;
    s.cancelled = m.cancelled;
    s.running = m.running;
    s.finished = m.finished;
    s.waiting = m.files.size() - m.running - m.finished;
    return s;
}

file_state model_queue::state_of(const file_ref& f) const {
    auto& m = at(f.model);
    if (f.file >= m.files.size())
        throw std::out_of_range("model_queue: model '" + f.model + "' has no file " + std::to_string(f.file));
    return m.files[f.file];
}

std::span<const file_state> model_queue::file_states(const std::string& id) const {
    auto it = models_.find(id);
    if (it == models_.end())
        return {};
    return it->second.files;
}

bool model_queue::done(const std::string& id) const {
    auto it = models_.find(id);
    return it != models_.end() && it->second.done();
}

} // namespace ferry
