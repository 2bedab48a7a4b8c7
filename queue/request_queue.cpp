#include "queue/request_queue.hpp"

#include <algorithm>

namespace ferry {

request_queue::request_queue() : request_queue(limits{}) {}

request_queue::request_queue(limits l) : limits_(l) { limits_.running = std::max<std::size_t>(limits_.running, 1); }

request_queue::admission request_queue::arrive(request_class what) {
    admission a;
    a.id = next_++;
    if (running_ < limits_.running && waiting() == 0) {
        ++running_;
        a.what = verdict::run;
        return a;
    }
    if (waiting() >= limits_.waiting) {
        if (what == request_class::status || status_.empty()) {
            ++refused_;
            a.what = verdict::refuse;
            return a;
        }
        a.evicted = status_.back();
        status_.pop_back();
        ++refused_;
    }
    (what == request_class::control ? control_ : status_).push_back(a.id);
    a.what = verdict::wait;
    return a;
}

std::optional<request_queue::ticket> request_queue::finished() {
    if (running_ > 0)
        --running_;
    auto& next = control_.empty() ? status_ : control_;
    if (next.empty() || running_ >= limits_.running)
        return std::nullopt;
    ticket id = next.front();
    next.pop_front();
    ++running_;
    return id;
}

bool request_queue::abandon(ticket id) {
    for (auto* line : {&control_, &status_}) {
        auto it = std::find(line->begin(), line->end(), id);
        if (it != line->end()) {
            line->erase(it);
            return true;
        }
    }
    return false;
}

} // namespace ferry
