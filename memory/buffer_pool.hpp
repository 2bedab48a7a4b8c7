#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry {

/// A fixed budget of I/O buffers shared by all transfers of an engine. Memory for body data never
/// grows with file size: a transfer holds one buffer while it reads, and waits (without polling)
/// when the budget is in use. Freed buffers are kept for reuse, so there is no allocation per
/// chunk in the steady state.
///
/// Buffers are allocated lazily, one at a time, up to capacity(), and never freed before the pool.
///
/// Not thread-safe: use it from one strand (the engine's). The pool must outlive its leases and
/// any coroutine waiting in acquire().
class buffer_pool {
public:
    class lease {
    public:
        lease() = default;
        lease(lease&& other) noexcept;
        lease& operator=(lease&& other) noexcept;
        ~lease();

        std::byte* data() const noexcept { return data_; }
        std::size_t size() const noexcept { return size_; }
        explicit operator bool() const noexcept { return data_ != nullptr; }

    private:
        friend class buffer_pool;
        lease(buffer_pool* pool, std::byte* data, std::size_t size) noexcept
            : pool_(pool), data_(data), size_(size) {}
        void reset() noexcept;

        buffer_pool* pool_ = nullptr;
        std::byte* data_ = nullptr;
        std::size_t size_ = 0;
    };

    /// `budget`: total bytes of buffers that may exist at once (at least one buffer).
    /// `buffer_size`: size of each buffer.
    buffer_pool(boost::asio::any_io_executor executor, std::size_t budget, std::size_t buffer_size);
    ~buffer_pool();
    buffer_pool(const buffer_pool&) = delete;
    buffer_pool& operator=(const buffer_pool&) = delete;

    /// A buffer, waiting for one to be returned when the budget is in use. Waiters are served in
    /// order: a returned buffer goes straight to the first of them (no polling, no barging by
    /// try_acquire). Cancellation (the coroutine's cancellation slot, e.g. the losing side of `||`)
    /// ends the wait with operation_aborted as a system_error and leaves the line; a buffer handed
    /// over before the cancellation arrived is returned in the lease instead.
    boost::asio::awaitable<lease> acquire();
    /// A buffer if one is free now; an empty lease otherwise.
    lease try_acquire();

    std::size_t buffer_size() const noexcept { return buffer_size_; }
    std::size_t capacity() const noexcept { return capacity_; }   ///< buffers the budget allows
    std::size_t in_use() const noexcept { return in_use_; }
    std::size_t allocated() const noexcept { return allocated_; } ///< high-water mark of buffers made
    std::size_t waiting() const noexcept { return waiters_.size(); }

private:
    void give_back(std::byte* data) noexcept;

    boost::asio::any_io_executor executor_;
    std::size_t buffer_size_;
    std::size_t capacity_;
    std::size_t in_use_ = 0;
    std::size_t allocated_ = 0;
    std::vector<std::unique_ptr<std::byte[]>> storage_;
    std::vector<std::byte*> free_;
    struct waiter {
        explicit waiter(const boost::asio::any_io_executor& ex)
            : signal(ex, boost::asio::steady_timer::time_point::max()) {}
        boost::asio::steady_timer signal; ///< cancelled when a buffer is handed over (or on cancel)
        std::byte* data = nullptr;        ///< the buffer handed over
    };
    std::deque<std::shared_ptr<waiter>> waiters_;
};

} // namespace ferry
