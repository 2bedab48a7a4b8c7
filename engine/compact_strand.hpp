#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

namespace ferry {

/// A strand on `executor`. When `executor` is an io_context's or a thread_pool's own, the strand
/// is made on that type: it then fits inside the any_io_executor returned. A strand of an
/// any_io_executor does not fit, and every executor derived from it (the work guard of each
/// asynchronous operation, each timer's) took a heap allocation: about a thousand per transfer.
inline boost::asio::any_io_executor compact_strand(const boost::asio::any_io_executor& executor) {
    if (auto* loop = executor.target<boost::asio::io_context::executor_type>())
        return boost::asio::make_strand(*loop);
    if (auto* pool = executor.target<boost::asio::thread_pool::executor_type>())
        return boost::asio::make_strand(*pool);
    return boost::asio::make_strand(executor);
}

} // namespace ferry
