#pragma once

// Slow file work (hashing what is on disk, fsync, the final rename) runs on a pool of threads of
// its own, never on the engine's strand, so that the event loop that drives thousands of sockets
// (and an embedding server's requests) does not stall behind a disk.

#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace detail {
template <class Work>
boost::asio::awaitable<std::invoke_result_t<Work&>> invoke_work(Work& work) {
    co_return work();
}
} // namespace detail

/// Runs `work()` on `pool` and resumes the caller on its own executor with the result. `work`
/// must not touch state the caller's strand guards while it runs (give it copies or state
/// nothing else uses meanwhile). With a null `pool` it runs in place.
template <class Work>
boost::asio::awaitable<std::invoke_result_t<Work&>> run_blocking(boost::asio::any_io_executor pool, Work work) {
    if (!pool)
        co_return work();
    // `work` stays in this frame; the pool's coroutine only refers to it (no lambda coroutine:
    // GCC 12 mishandles their captures).
    // No cancellation crosses over: the work cannot be interrupted anyway, and forwarding the
    // caller's cancellation to another executor races with the slot's release when the work ends.
    co_return co_await boost::asio::co_spawn(
        pool, detail::invoke_work(work),
        boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), boost::asio::use_awaitable));
}

} // namespace ferry
