#pragma once

#include "engine/model.hpp"
#include "engine/retry_policy.hpp"
#include "engine/transfer_context.hpp"
#include "memory/part_file.hpp"
#include "memory/resume_journal.hpp"
#include "memory/sha256.hpp"
#include "net/connection_pool.hpp"
#include "net/url.hpp"
#include "queue/connection_growth.hpp"
#include "queue/segment_plan.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ferry {

/// One file's download: a coroutine that learns the file from a first ranged request, splits it
/// into claims of a segment_plan, runs one coroutine per connection (segment worker), writes at
/// offsets into DEST.part with a resume journal beside it, verifies, and renames into place.
///
/// Lives on the engine's strand; run() is started once. cancel() stops it, leaving the .part and
/// journal for a later resume.
///
/// Bandwidth: every read takes tokens from the overall limiter (context), the model's (`model_rate`,
/// may be null; must outlive the transfer) and the file's own (spec.limit_rate); unlimited ones
/// cost nothing.
class file_transfer {
public:
    file_transfer(transfer_context& context, std::string model, std::filesystem::path dir, file_spec spec,
                  rate_limiter* model_rate = nullptr);
    ~file_transfer();

    boost::asio::awaitable<file_result> run();
    /// Stops every request of this file (from the strand). run() then finishes with `cancelled`.
    void cancel();
    /// This file's own limit in bytes/s (0 = none), effective within a tick (from the strand).
    void set_limit_rate(std::uint64_t rate) { file_rate_.set_rate(rate); }
    /// The model's priority: its requests for a connection wait in this order (from the strand).
    void set_priority(priority p) noexcept { priority_ = p; }

    const file_spec& spec() const noexcept { return spec_; }
    std::uint64_t bytes_done() const noexcept;
    std::uint64_t size() const noexcept { return size_.value_or(0); }
    std::uint64_t bytes_fetched() const noexcept { return result_.bytes_fetched; }
    std::size_t connections() const noexcept { return active_workers_; }

    /// Where the engine binds run()'s cancellation (cancel() emits on it).
    boost::asio::cancellation_slot slot() noexcept { return self_signal_.slot(); }

private:
    struct open_response;
    enum class attempt_end { complete, failed, cancelled, restart };

    boost::asio::awaitable<attempt_end> attempt();
    boost::asio::awaitable<boost::system::result<open_response>> open_first_response();
    /// Sends a request for [begin, end) (end open when nullopt) on `conn`, following redirects,
    /// and checks the answer: a 206 whose Content-Range is exactly what was asked, the same
    /// validator, the same size. `probing`: the first request, where a 200 (no ranges) is fine.
    boost::asio::awaitable<boost::system::result<response_head>>
    request(connection_pool::handle& conn, std::size_t mirror, std::uint64_t begin,
            std::optional<std::uint64_t> end, bool probing);
    void start_worker(std::shared_ptr<open_response> first);
    void stop_workers();
    boost::asio::awaitable<void> worker(std::size_t index, std::shared_ptr<open_response> first);
    boost::asio::awaitable<boost::system::error_code> fetch_claim(open_response& io, bool request_open);
    boost::asio::awaitable<boost::system::error_code> fetch_stream(open_response& io);
    /// Tokens for up to `want` bytes from every limiter; operation_aborted when cancelled.
    boost::asio::awaitable<boost::system::result<std::size_t>> grant(std::size_t want);
    boost::system::error_code store(std::uint64_t offset, const std::byte* data, std::size_t size);
    void maybe_grow();
    boost::asio::awaitable<bool> back_off(const boost::system::error_code& ec, bool made_progress);
    boost::asio::awaitable<boost::system::error_code> verify_and_commit();
    void save_journal(bool force);
    void fail(boost::system::error_code ec, std::string message = {});
    std::string describe_write_error(const boost::system::error_code& ec) const;
    void emit(event::kind what, std::string message = {});

    transfer_context& ctx_;
    std::string model_;
    std::filesystem::path dir_;
    file_spec spec_;
    file_result result_;
    rate_limiter file_rate_;
    std::array<rate_limiter*, 3> limiters_; ///< overall, model, file
    priority priority_ = priority::normal;

    std::vector<url> mirrors_;       ///< where requests go (after redirects)
    std::vector<url> original_;      ///< as given, for credentials and signed-URL renewal
    part_file part_;
    std::filesystem::path journal_;
    std::optional<retry_policy> retry_;

    // What the server told us about the file.
    std::optional<std::uint64_t> size_;
    std::string etag_;
    std::string last_modified_;
    bool ranges_supported_ = true;

    std::optional<segment_plan> plan_;
    std::uint64_t streamed_ = 0;     ///< single-stream mode: bytes written from offset 0
    /// The most bytes an attempt had before it restarted from zero: a later attempt makes
    /// progress only past it (refetching what was lost is not progress).
    std::uint64_t before_restart_ = 0;
    std::uint64_t resumed_bytes_ = 0;
    sha256 hash_;
    std::uint64_t hashed_ = 0;       ///< bytes [0, hashed_) are in hash_

    // Workers of the current attempt.
    std::size_t active_workers_ = 0;
    std::size_t next_worker_ = 0;
    std::vector<std::unique_ptr<boost::asio::cancellation_signal>> worker_signals_;
    boost::asio::steady_timer workers_done_;
    boost::asio::cancellation_signal self_signal_;
    bool stopping_ = false;
    bool cancelled_ = false;
    bool restart_ = false;
    bool restart_changed_file_ = false; ///< the restart is because the server's file changed
    boost::system::error_code failure_;
    std::string failure_message_;
    std::optional<std::chrono::milliseconds> last_retry_after_;

    std::chrono::steady_clock::time_point last_journal_{};
    std::uint64_t journaled_bytes_ = 0; ///< bytes_done() when the journal was last written
    std::chrono::steady_clock::time_point last_progress_{};
    std::optional<connection_growth> growth_; ///< adaptive connections (no -x), per attempt
};

} // namespace ferry
