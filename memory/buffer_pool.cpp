#include "memory/buffer_pool.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace ferry {

namespace asio = boost::asio;

buffer_pool::lease::lease(lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

buffer_pool::lease& buffer_pool::lease::operator=(lease&& other) noexcept {
    if (this != &other) {
        reset();
        pool_ = std::exchange(other.pool_, nullptr);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

buffer_pool::lease::~lease() { reset(); }

void buffer_pool::lease::reset() noexcept {
    if (pool_ && data_)
        pool_->give_back(data_);
    pool_ = nullptr;
    data_ = nullptr;
    size_ = 0;
}

buffer_pool::buffer_pool(asio::any_io_executor executor, std::size_t budget, std::size_t buffer_size)
    : executor_(std::move(executor)), buffer_size_(std::max<std::size_t>(buffer_size, 1)),
      capacity_(std::max<std::size_t>(budget / buffer_size_, 1)) {
    storage_.reserve(std::min<std::size_t>(capacity_, 4096));
}

buffer_pool::~buffer_pool() = default;

buffer_pool::lease buffer_pool::try_acquire() {
    // Waiters come first: a buffer free now would have been handed to them already.
    if (!waiters_.empty())
        return {};
    if (!free_.empty()) {
        auto* data = free_.back(); // the most recently used: likely still in cache
        free_.pop_back();
        ++in_use_;
        return lease(this, data, buffer_size_);
    }
    if (storage_.size() < capacity_) {
        storage_.push_back(std::make_unique_for_overwrite<std::byte[]>(buffer_size_));
        free_.reserve(storage_.size()); // so give_back() never allocates
        allocated_ = storage_.size();
        ++in_use_;
        return lease(this, storage_.back().get(), buffer_size_);
    }
    return {};
}

asio::awaitable<buffer_pool::lease> buffer_pool::acquire() {
    if (auto now = try_acquire())
        co_return now;

    // Wait in line on a timer that never expires; give_back() puts a buffer in the first entry and
    // cancels its timer. Each entry has its own timer, so the hand-off goes to exactly that waiter.
    auto entry = std::make_shared<waiter>(executor_);
    waiters_.push_back(entry);
    // However the wait ends (handed a buffer, cancelled, an exception before or after the wait, the
    // frame destroyed unresumed), leave no entry in the line and no buffer stranded in the entry.
    struct leave_line {
        buffer_pool* pool;
        std::shared_ptr<waiter>& entry;
        ~leave_line() {
            if (entry->data)
                pool->give_back(std::exchange(entry->data, nullptr));
            else
                std::erase(pool->waiters_, entry);
        }
    } guard{this, entry};

    co_await entry->signal.async_wait(asio::as_tuple(asio::use_awaitable));
    // A buffer handed over wins over a cancellation that arrived after it: the caller gets it and
    // the lease returns it if the result is thrown away (as the losing side of `||` does).
    if (!entry->data)
        throw boost::system::system_error(asio::error::operation_aborted, "buffer_pool::acquire");
    co_return lease(this, std::exchange(entry->data, nullptr), buffer_size_);
}

void buffer_pool::give_back(std::byte* data) noexcept {
    if (!waiters_.empty()) {
        auto next = std::move(waiters_.front());
        waiters_.pop_front();
        next->data = data; // stays in use: it changes hands
        next->signal.cancel();
        return;
    }
    --in_use_;
    free_.push_back(data);
}

} // namespace ferry
