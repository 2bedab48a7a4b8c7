#pragma once

#include "engine/connection_handoff.hpp"
#include "engine/mirror_set.hpp"
#include "engine/model.hpp"
#include "engine/part_sink.hpp"
#include "engine/range_exchange.hpp"
#include "engine/retry_policy.hpp"
#include "engine/transfer_context.hpp"
#include "net/connection_pool.hpp"
#include "queue/connection_growth.hpp"
#include "queue/round_trip_window.hpp"
#include "queue/segment_plan.hpp"
#include "queue/tail_hedge.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
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
/// offsets through a part_sink (DEST.part and its journal), verifies, and renames into place.
/// Requests go through range_exchange, whose judged answers (response_verdict) drive every
/// decision here: accept, back off, re-resolve a signed URL, drop a mirror, strike an ignored
/// range, or restart a file that changed.
///
/// Lives on the engine's strand; run() is started once. cancel() stops it, leaving the .part and
/// journal for a later resume.
///
/// Bandwidth: every read takes tokens from the overall limiter (context), the model's (`model_rate`,
/// may be null; must outlive the transfer) and the file's own (spec.limit_rate); unlimited ones
/// cost nothing.
class file_transfer {
public:
    /// `model`, `dir` and `spec` must outlive the transfer (the engine's entries do: thousands of
    /// running files keep no copies).
    file_transfer(transfer_context& context, const std::string& model, const std::filesystem::path& dir,
                  const file_spec& spec, rate_limiter* model_rate = nullptr);
    ~file_transfer();

    /// Fetches the file; its result is then take_result()'s. (Not the coroutine's value: the
    /// frames that would carry it live as long as the transfer.)
    boost::asio::awaitable<void> run();
    /// What run() came to, once it has finished (moved out).
    file_result take_result() { return std::move(result_); }
    /// Stops every request of this file (from the strand). run() then finishes with `cancelled`.
    void cancel();
    /// This file's own limit in bytes/s (0 = none), effective within a tick (from the strand).
    void set_limit_rate(std::uint64_t rate);
    /// The model's priority: its requests for a connection wait in this order (from the strand).
    void set_priority(priority p) noexcept { priority_ = p; }
    /// The file's first request goes ahead on the connection of the file before it, when that one
    /// can send it (connection_handoff); set before run().
    void follow(std::shared_ptr<connection_handoff> predecessor) { predecessor_ = std::move(predecessor); }

    const file_spec& spec() const noexcept { return spec_; }
    std::uint64_t bytes_done() const noexcept;
    std::uint64_t size() const noexcept { return size_.value_or(0); }
    std::uint64_t bytes_fetched() const noexcept { return result_.bytes_fetched; }
    std::size_t connections() const noexcept { return active_workers_; }
    /// Of those, the ones whose connection has delivered body bytes.
    std::size_t flowing_connections() const noexcept { return flowing_; }
    /// The origin (after redirects) of the file's first mirror; "" before its first request.
    std::string origin() const;

    /// Where the engine binds run()'s cancellation (cancel() emits on it).
    boost::asio::cancellation_slot slot() noexcept { return self_signal_.slot(); }

private:
    struct open_response;
    /// What stopped a fetch: null when it ran to its end. A pointer, as a coroutine's frame keeps
    /// a slot for each verdict its body may return (200 bytes each) for as long as it runs:
    /// thousands of slow transfers hold their fetch's frame for minutes.
    using stop_reason = std::unique_ptr<response_verdict>;
    /// How an attempt ended. `again`: a new attempt right away (a stream broke off, or ranges
    /// were struck out and the file goes on as one stream), keeping what is written.
    enum class attempt_end { complete, failed, cancelled, restart, again };

    /// dir / the file's path (made when needed: a running file does not keep it).
    std::filesystem::path destination() const { return dir_ / spec_.path; }
    /// Completes the result with the file's path, as run() ends.
    void settle_result() { result_.path = destination(); }
    /// The file's mirrors from its URLs (not a coroutine: the parsed URLs stay off run()'s
    /// frame); false, with the failure set, when a URL is invalid or there is none.
    bool set_up_mirrors();
    boost::asio::awaitable<bool> already_there();
    void open_sink();
    boost::asio::awaitable<attempt_end> attempt();
    boost::asio::awaitable<std::optional<open_response>> open_first_response();
    /// Takes a verdict that is not `accept`: true when the caller should try again (on `mirror`,
    /// which may have moved to another one), false when it should stop.
    boost::asio::awaitable<bool> recover(const response_verdict& v, std::size_t& mirror);
    boost::asio::awaitable<bool> back_off(const boost::system::error_code& ec,
                                          std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
    void end_attempt(attempt_end how);
    void start_over();

    void start_worker(std::shared_ptr<open_response> first);
    void stop_workers();
    /// One connection's loop; true when it retired (the host pushed back).
    boost::asio::awaitable<bool> worker(std::size_t index, std::shared_ptr<open_response> first,
                                        boost::asio::cancellation_signal* stop);
    /// Readies io.conn for a request to its mirror (a pooled connection when it has none that
    /// can take one): null when it is, else why not. Ends early when the file's last byte is
    /// written meanwhile (`stop` is the worker's).
    boost::asio::awaitable<stop_reason> connect(open_response& io, boost::asio::cancellation_signal* stop);
    /// Work for a worker that found no claim: a duplicate of a claim whose connection went slow
    /// (tail hedging), waiting for one to show while other connections hold the last pieces.
    boost::asio::awaitable<std::optional<segment_plan::claim>> hedge_or_wait();
    /// After a write to a hedged claim: the one that reached the end first stops the other.
    void settle_hedge(std::size_t claim);
    /// Sends the request for bytes [begin, end) on io.conn, or reads the answer to the one sent
    /// ahead: null when its body is there to read, else the verdict that refused it. (Its own
    /// frame: the exchange's result, 600 bytes, is not kept while the body is read.)
    boost::asio::awaitable<stop_reason> request_range(open_response& io, std::uint64_t begin, std::uint64_t end,
                                                      bool sent_ahead);
    /// What take_body did with one buffer's worth of a response.
    struct body_taken {
        std::size_t stored = 0; ///< bytes written at the claim's position (it moved on as much)
        boost::system::error_code read_error; ///< the read that ended it (bytes before it are kept)
        bool replace = false;   ///< the connection is too slow for the tail: go on over another
        bool stopped = false;   ///< cancelled waiting for a buffer, or the write failed (fail() said why)
    };
    /// Takes a buffer, fills it with up to `granted` bytes of the response on io.conn (what it
    /// holds now), writes them at `pos` of claim `id` and gives the buffer back. Its own frame: a
    /// worker waiting for its server (thousands at once) holds none of this state.
    boost::asio::awaitable<body_taken> take_body(open_response& io, std::size_t id, std::uint64_t pos,
                                                 std::size_t granted);
    /// Fetches a claim to its (moving) end: null when done, else what stopped it. `ahead_end`:
    /// the end of the claim's first request when it went ahead on io.conn.
    boost::asio::awaitable<stop_reason> fetch_claim(open_response& io, bool request_open,
                                                    std::optional<std::uint64_t> ahead_end);
    /// While the claim's last response arrives on io.conn (now at `pos` of `request_end`): takes
    /// the worker's next claim and sends its first request ahead on io.conn (io.next_claim).
    boost::asio::awaitable<void> send_next_claim_ahead(open_response& io, std::uint64_t request_end,
                                                       std::uint64_t pos);
    /// Gives io.next_claim back to the plan (its request was lost with the connection).
    void drop_next_claim(open_response& io);
    /// Whether a request sent now on io.conn, whose response is at `pos` of `request_end`, goes
    /// ahead in time: about two round trips of data are left.
    bool ahead_in_time(const open_response& io, std::uint64_t request_end, std::uint64_t pos) const;
    /// Workers about to ask for a claim, the asking one included: a claim is then an equal share
    /// of the free space, not all of it (the others would steal halves of it, cutting the
    /// response the first asked for).
    std::size_t claimants() const;
    /// The smallest request worth its round trip on this file's path.
    std::uint64_t least_request() const;
    /// The end of the claim's next request when it starts at `from`.
    std::uint64_t next_request_end(std::size_t claim, std::uint64_t from) const;
    /// A request for bytes [begin, end) of the file (nullopt: to its end) from `mirror`.
    exchange_request range_request(std::size_t mirror, std::uint64_t begin, std::optional<std::uint64_t> end) const;
    /// Sends the claim's next request ahead on io.conn (HTTP/1.1 pipelining) once the response
    /// up to `request_end`, now at `pos`, is near its end; the next request's end when it did.
    boost::asio::awaitable<std::optional<std::uint64_t>> send_ahead(open_response& io, std::size_t claim,
                                                                    std::uint64_t request_end, std::uint64_t pos);
    /// How long `bytes` take at this file's response rate (nullopt: not known yet).
    std::optional<std::chrono::steady_clock::duration> time_to_receive(std::uint64_t bytes) const;
    /// While a response arrives on io.conn: when it is the file's last, asks the engine for the
    /// next files to follow this one on it; sends the first requests they offer ahead.
    boost::asio::awaitable<void> pass_on(open_response& io, std::size_t claim, std::uint64_t request_end,
                                         std::uint64_t pos);
    /// Sends the requests the files in line have offered ahead on `conn`, in the line's order.
    boost::asio::awaitable<void> send_line(connection_pool::handle& conn,
                                           std::optional<std::chrono::steady_clock::duration> wait);
    /// A response on `conn` was read to its end: when the line's first request went ahead on it
    /// (or goes now: a file in line about to offer it is waited for a moment), `conn` and the
    /// line go to that file; otherwise the line ends (its files ask the pool). Nothing when the
    /// line rides on another of the file's connections.
    boost::asio::awaitable<void> hand_over(connection_pool::handle& conn);
    /// Ends the line of files after this one without a connection.
    void end_handoffs() noexcept { end_line(line_); }
    /// The connection the line's requests went ahead on (nullptr: none went yet). Of a file's
    /// workers, only the one on it sends more of the line or hands it on.
    const connection* line_connection() const noexcept;
    /// Whether the line's requests went ahead on a connection other than `conn`.
    bool line_rides_elsewhere(const connection_pool::handle& conn) const noexcept;
    /// The first request on the connection of the file before, when it sent it ahead: true when
    /// only its answer is left to read on io.conn (and the line behind it is now this file's).
    boost::asio::awaitable<bool> take_predecessor_connection(open_response& io, const exchange_request& request);
    /// Reads a 200's body: the whole file from byte 0, writing only the bytes still missing.
    boost::asio::awaitable<stop_reason> fetch_stream(open_response& io);
    /// A worker's part when one stream (a 200) carries the file, apart from the ranged loop so
    /// that every worker's frame does not hold its state (ten thousand of them wait at once).
    boost::asio::awaitable<void> stream_worker(open_response& io);
    /// The connections the file starts with when its first answer took `rtt` (nullopt: not
    /// known) and `left` bytes (nullopt: not known) are to come, with the growth settings when
    /// they adapt.
    struct start_plan {
        std::size_t workers = 1;
        std::optional<connection_growth::settings> growth;
    };
    start_plan plan_start(std::optional<std::chrono::steady_clock::duration> rtt,
                          std::optional<std::uint64_t> left) const;
    /// The most connections the file may start with (on the longest path), `left` as for plan_start.
    std::size_t most_workers(std::optional<std::uint64_t> left) const;
    /// Asks the pool to open, ahead of need, the connections the file would start with beyond
    /// the first one (connection_pool::warm), those asked before not counted again.
    void warm_connections(const url& where, std::size_t workers);
    /// While the first request waits for its answer: every 30 ms without one (warm_step), the
    /// file's connections are opened ahead as if the answer came now (the start grows with the
    /// round trip), so they are ready when it comes. Stopped by stop_warm_timer().
    void arm_warm_timer(std::size_t mirror, std::chrono::steady_clock::time_point sent);
    void stop_warm_timer() noexcept;
    /// Whether the file's requests wait 10 ms or more for their answers (long_round_trip).
    bool long_path() const;
    /// A response's head came `first_byte` after its request was sent.
    void first_byte_came(open_response& io, std::chrono::steady_clock::duration first_byte);
    /// While the engine yields to other traffic: gives it `conn`'s round-trip time when it wants
    /// one, and keeps `conn`'s receive buffer to its share of the pace.
    void sample_round_trip(connection& conn, std::chrono::steady_clock::time_point now);
    /// Tokens for up to `want` bytes from every limiter; operation_aborted when cancelled.
    boost::asio::awaitable<boost::system::result<std::size_t>> grant(std::size_t want);
    /// Writes bytes of the body (on the file's write lane) and then notes the progress.
    boost::asio::awaitable<boost::system::error_code> store(std::uint64_t offset, const std::byte* data,
                                                            std::size_t size);
    void maybe_grow();
    /// Whether this connection should stop: the host pushed back and the file has more
    /// connections than it may keep.
    bool retiring() const;
    exchange_request first_request(std::size_t mirror, std::uint64_t begin, std::optional<std::uint64_t> end) const;
    boost::asio::awaitable<bool> finish_file();
    /// The journal of what is on disk now, when the file has one (ranges and validators).
    std::optional<journal_record> journal_now() const;
    /// A checkpoint when one is due, in the background (part_sink::checkpoint).
    void save_journal();
    /// A checkpoint now, returning once it is written.
    boost::asio::awaitable<void> save_journal_now();
    void fail(boost::system::error_code ec, std::string message = {});
    std::string describe_write_error(const boost::system::error_code& ec) const;
    void emit(event::kind what, std::string message = {});

    transfer_context& ctx_;
    const std::string& model_;
    const std::filesystem::path& dir_;
    const file_spec& spec_;
    file_result result_;
    /// The file's own limit; made when one is set (a limiter and its timer are 240 bytes, and
    /// most files have none).
    std::unique_ptr<rate_limiter> file_rate_;
    std::array<rate_limiter*, 3> limiters_; ///< overall, model, file (null: none)
    priority priority_ = priority::normal;

    std::optional<mirror_set> mirrors_;
    part_sink sink_;
    /// A strand of the engine's write threads: this file's writes, in order (null: in place).
    boost::asio::any_io_executor write_lane_;
    std::unique_ptr<retry_policy> retry_; ///< made at the first failure (most files have none)

    // What is known of the file.
    std::optional<std::uint64_t> size_;
    std::optional<segment_plan> plan_; ///< absent only for a body of unknown length
    std::uint64_t streamed_ = 0;       ///< a body of unknown length: bytes written from offset 0
    std::uint64_t resumed_bytes_ = 0;
    /// The most bytes done when a failure was reported: more than that is progress (bytes
    /// fetched again after a stream restarted are not).
    std::uint64_t high_water_ = 0;
    int strikes_ = 0;                  ///< 200s in a row to ranged requests
    std::size_t first_requests_ = 0;   ///< spreads first requests over the mirrors

    // The current attempt.
    std::optional<attempt_end> ending_; ///< set by whoever decides the attempt's end first
    std::size_t active_workers_ = 0;
    std::size_t retiring_ = 0; ///< workers that retired and have not ended yet
    std::size_t unclaimed_workers_ = 0; ///< being started together, not yet at their first claim
    std::size_t next_worker_ = 0;
    std::vector<std::unique_ptr<boost::asio::cancellation_signal>> worker_signals_;
    boost::asio::steady_timer workers_done_;
    boost::asio::cancellation_signal self_signal_;
    bool stopping_ = false;
    bool cancelled_ = false;
    boost::system::error_code failure_;
    std::string failure_message_;

    // Tail hedging: how fast each claim's connection goes, and which worker fetches it.
    tail_hedge hedge_;
    std::map<std::size_t, boost::asio::cancellation_signal*> claim_workers_;
    /// The timer of the one idle worker that waits for a claim to hedge; cancelled when the last
    /// claim ends, so that the file is committed at once rather than after the wait.
    boost::asio::steady_timer* hedge_watcher_ = nullptr;
    /// Workers waiting for a connection before they claim (connect()): stopped when the last
    /// byte is written, so that one in line at a busy host does not hold the file open.
    std::vector<boost::asio::cancellation_signal*> connecting_;

    std::chrono::steady_clock::time_point last_progress_{};
    /// Adaptive connections (no -x), per attempt of a file with more than a piece to fetch.
    std::unique_ptr<connection_growth> growth_;
    std::size_t flowing_ = 0; ///< workers whose connection has delivered body bytes (for growth_)
    /// Round trip and response rate of this file's requests: how long a request must be to keep
    /// a connection busy across request boundaries.
    round_trip_window pipe_;
    /// False once a request sent ahead went unanswered: this file's server closes after a
    /// response, and its requests wait for the one before again.
    bool send_ahead_works_ = true;

    /// The file before this one, whose connection may carry this one's first request.
    std::shared_ptr<connection_handoff> predecessor_;
    /// The files after this one, in line on the connection of its last response (those whose
    /// requests went ahead on it first, in their order).
    connection_handoff::line line_;
    bool successors_asked_ = false;
    /// Connections asked of the pool ahead of need (warm_connections) in this attempt, and the
    /// timer that asks while the first answer is awaited (made when first needed).
    std::size_t warmed_ = 0;
    std::unique_ptr<boost::asio::steady_timer> warm_timer_;
    /// Whether the file still waits for its first answer: shared with the warm timer's handler,
    /// which may run after the transfer is gone.
    std::shared_ptr<bool> awaiting_answer_;
    /// The path's round trip as the file before measured it, when this file's first request went
    /// ahead on its connection.
    std::optional<std::chrono::steady_clock::duration> line_round_trip_;
};

} // namespace ferry
