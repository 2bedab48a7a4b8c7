// part_sink against a real directory: what lands on disk, what the journal says, what a rerun finds.
#include "engine/part_sink.hpp"
#include "engine/file_error.hpp"
#include "engine_fixture.hpp"

#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

using namespace ferry;

namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;

std::vector<std::byte> bytes_of(const std::string& text) {
    std::vector<std::byte> out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

/// Runs part_sink::verify to the end on a fresh io_context, its slow work on a thread of its own.
boost::system::error_code verify(part_sink& sink, std::uint64_t size, std::optional<sha256_digest> digest,
                                 std::string& message, std::optional<std::string> git_blob = std::nullopt) {
    boost::asio::io_context io;
    boost::asio::thread_pool blocking(1);
    buffer_pool buffers(io.get_executor(), 1024 * 1024, 64 * 1024);
    std::optional<boost::system::error_code> result;
    boost::asio::co_spawn(io, sink.verify(size, digest, git_blob, buffers, blocking.get_executor(), message),
                          [&](std::exception_ptr, boost::system::error_code ec) { result = ec; });
    io.run();
    REQUIRE(result.has_value());
    return *result;
}

/// part_sink::prepare, the same way.
boost::system::error_code prepare(part_sink& sink, std::uint64_t size) {
    boost::asio::io_context io;
    boost::asio::thread_pool blocking(1);
    std::optional<boost::system::error_code> result;
    boost::asio::co_spawn(io, sink.prepare(size, blocking.get_executor()),
                          [&](std::exception_ptr, boost::system::error_code ec) { result = ec; });
    io.run();
    REQUIRE(result.has_value());
    return *result;
}

/// A journal saying all `size` bytes are written, saved on this thread.
void checkpoint_whole(part_sink& sink, std::uint64_t size) {
    journal_record record;
    record.size = size;
    record.done = {{0, size}};
    sink.checkpoint(record, size, {});
}

/// part_sink::commit, the same way.
boost::system::error_code commit(part_sink& sink, const stored_validators& validators, std::string& message) {
    boost::asio::io_context io;
    boost::asio::thread_pool blocking(1);
    std::optional<boost::system::error_code> result;
    boost::asio::co_spawn(io, sink.commit(validators, blocking.get_executor(), message),
                          [&](std::exception_ptr, boost::system::error_code ec) { result = ec; });
    io.run();
    REQUIRE(result.has_value());
    return *result;
}

} // namespace

TEST_CASE("part_sink: a journal is due at a fiftieth of the file (4 to 64 MiB), after a second with 256 KiB, after 30 s with any") {
    using std::chrono::milliseconds;
    const part_sink::options o;
    CHECK(part_sink::journal_step(100 * MiB, o) == 4 * MiB); // 2 MiB is under the least step
    CHECK(part_sink::journal_step(512 * MiB, o) == 512 * MiB / 50);
    CHECK(part_sink::journal_step(100 * 1024 * MiB, o) == 64 * MiB);
    const std::uint64_t size = 1024 * MiB, step = size / 50;
    CHECK(part_sink::journal_due(milliseconds(0), step, size, o));
    CHECK_FALSE(part_sink::journal_due(milliseconds(999), step - 1, size, o));
    CHECK(part_sink::journal_due(milliseconds(0), 64 * MiB, 100 * 1024 * MiB, o));
    CHECK_FALSE(part_sink::journal_due(milliseconds(999), 64 * MiB - 1, 100 * 1024 * MiB, o));
    CHECK(part_sink::journal_due(milliseconds(1000), 256 * KiB, size, o));
    CHECK_FALSE(part_sink::journal_due(milliseconds(1000), 256 * KiB - 1, size, o)); // a slow file waits
    CHECK_FALSE(part_sink::journal_due(milliseconds(29'999), 256 * KiB - 1, size, o));
    CHECK(part_sink::journal_due(milliseconds(30'000), 1, size, o));
    CHECK_FALSE(part_sink::journal_due(milliseconds(60'000), 0, size, o)); // nothing new to record
}

TEST_CASE("part_sink: written out of order, checkpointed, resumed, verified and committed with its validators") {
    auto dir = test::make_temp_dir();
    part_sink::options opts;
    opts.durable = false;
    auto sink = part_sink::open(dir, "m/file.bin", opts);
    REQUIRE(sink.has_value());
    const std::string text = "0123456789abcdef";
    auto data = bytes_of(text);
    REQUIRE_FALSE(prepare(*sink, text.size()));
    REQUIRE_FALSE(sink->write(8, data.data() + 8, 8)); // the second half first: not hashed yet
    CHECK_FALSE(sink->resume().has_value());           // no journal before a checkpoint

    journal_record record;
    record.url = "https://host/file.bin";
    record.size = text.size();
    record.etag = "\"v1\"";
    record.done = {{8, 16}};
    record.mirrors = {{"https://host/file.bin", "\"v1\"", ""}};
    sink->checkpoint(record, 8, {});
    auto again = part_sink::open(dir, "m/file.bin", opts);
    REQUIRE(again.has_value());
    auto resumed = again->resume();
    REQUIRE(resumed.has_value());
    CHECK(resumed->done == record.done);
    CHECK(resumed->mirrors == record.mirrors);

    REQUIRE_FALSE(sink->write(0, data.data(), 8));
    std::string message;
    sha256 h;
    h.update(text.data(), text.size());
    CHECK_FALSE(verify(*sink, text.size(), h.finish(), message));
    REQUIRE_FALSE(commit(*sink, {"\"v1\"", "Mon, 01 Jan 2024 00:00:00 GMT"}, message));
    CHECK(std::filesystem::exists(dir / "m/file.bin"));
    CHECK_FALSE(std::filesystem::exists(dir / "m/file.bin.part"));
    CHECK_FALSE(std::filesystem::exists(dir / "m/file.bin.part.journal"));
    auto stored = existing_file_validators(dir, "m/file.bin");
    CHECK(stored.etag == "\"v1\"");
    CHECK(stored.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT");
    std::filesystem::remove_all(dir);
}

TEST_CASE("part_sink: a digest mismatch removes the partial file and its journal") {
    auto dir = test::make_temp_dir();
    auto sink = part_sink::open(dir, "bad.bin", {});
    REQUIRE(sink.has_value());
    auto data = bytes_of("not what was promised");
    REQUIRE_FALSE(prepare(*sink, data.size()));
    REQUIRE_FALSE(sink->write(0, data.data(), data.size()));
    checkpoint_whole(*sink, data.size());
    REQUIRE(std::filesystem::exists(dir / "bad.bin.part.journal"));
    std::string message;
    auto ec = verify(*sink, data.size(), sha256_digest{}, message);
    CHECK(ec == file_error::digest_mismatch);
    CHECK(message.find("sha256 mismatch") == 0);
    CHECK_FALSE(std::filesystem::exists(dir / "bad.bin.part"));
    CHECK_FALSE(std::filesystem::exists(dir / "bad.bin.part.journal"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("part_sink: a journal seen missing is not removed; one seen corrupt, or written since, is") {
    auto dir = test::make_temp_dir();
    auto data = bytes_of("twelve bytes");
    std::string message;
    {
        // A corrupt journal left behind: resume() ignores it, the commit still removes it.
        std::ofstream(dir / "c.bin.part.journal") << "not a journal";
        auto sink = part_sink::open(dir, "c.bin", {});
        REQUIRE(sink.has_value());
        CHECK_FALSE(sink->resume().has_value());
        REQUIRE_FALSE(prepare(*sink, data.size()));
        REQUIRE_FALSE(sink->write(0, data.data(), data.size()));
        REQUIRE_FALSE(commit(*sink, {}, message));
        CHECK_FALSE(std::filesystem::exists(dir / "c.bin.part.journal"));
    }
    {
        // None at resume(), one written afterwards: removed at commit.
        auto sink = part_sink::open(dir, "w.bin", {});
        REQUIRE(sink.has_value());
        CHECK_FALSE(sink->resume().has_value());
        REQUIRE_FALSE(prepare(*sink, data.size()));
        REQUIRE_FALSE(sink->write(0, data.data(), data.size()));
        checkpoint_whole(*sink, data.size());
        REQUIRE(std::filesystem::exists(dir / "w.bin.part.journal"));
        REQUIRE_FALSE(commit(*sink, {}, message));
        CHECK_FALSE(std::filesystem::exists(dir / "w.bin.part.journal"));
        CHECK(std::filesystem::exists(dir / "w.bin"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("part_sink: without hashing in flight, a digest asked for is taken from disk") {
    // A file with no digest to check is not hashed as it arrives; verify() still checks one.
    auto dir = test::make_temp_dir();
    part_sink::options opts;
    opts.durable = false;
    opts.hash = false;
    const std::string text = "bytes that nobody hashed in flight";
    auto data = bytes_of(text);
    sha256 h;
    h.update(text.data(), text.size());
    for (bool right : {true, false}) {
        CAPTURE(right);
        auto sink = part_sink::open(dir, "quiet.bin", opts);
        REQUIRE(sink.has_value());
        REQUIRE_FALSE(prepare(*sink, data.size()));
        REQUIRE_FALSE(sink->write(0, data.data(), data.size()));
        std::string message;
        CHECK_FALSE(verify(*sink, data.size(), std::nullopt, message)); // nothing to check
        auto ec = verify(*sink, data.size(), right ? h.finish() : sha256_digest{}, message);
        CHECK(static_cast<bool>(ec) == !right);
        CHECK(std::filesystem::exists(dir / "quiet.bin.part") == right);
        part_sink::discard_partial(dir / "quiet.bin");
        h = sha256();
        h.update(text.data(), text.size());
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("part_sink: discard_partial removes what a cancelled download left") {
    auto dir = test::make_temp_dir();
    {
        auto sink = part_sink::open(dir, "gone.bin", {});
        REQUIRE(sink.has_value());
        journal_record record;
        record.size = 0;
        sink->checkpoint(record, 0, {});
    }
    REQUIRE(std::filesystem::exists(dir / "gone.bin.part"));
    part_sink::discard_partial(dir / "gone.bin");
    CHECK_FALSE(std::filesystem::exists(dir / "gone.bin.part"));
    CHECK_FALSE(std::filesystem::exists(dir / "gone.bin.part.journal"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("part_sink: a git blob id is checked from disk; a mismatch removes the partial file") {
    auto dir = test::make_temp_dir();
    part_sink::options opts;
    opts.durable = false;
    auto text = bytes_of("# tiny\n");
    for (bool right : {true, false}) {
        auto sink = part_sink::open(dir, right ? "README.md" : "other.md", opts);
        REQUIRE(sink.has_value());
        REQUIRE_FALSE(prepare(*sink, text.size()));
        REQUIRE_FALSE(sink->write(0, text.data(), text.size()));
        std::string message;
        auto id = right ? "8e2e871357bef652084a73f7173adc5eb8859a33" : "0000000000000000000000000000000000000000";
        auto ec = verify(*sink, text.size(), std::nullopt, message, std::string(id));
        if (right) {
            CHECK_FALSE(ec);
            CHECK(std::filesystem::exists(sink->part_path()));
        } else {
            CHECK(ec == make_error_code(file_error::digest_mismatch));
            CHECK(message.find("git blob id mismatch") != std::string::npos);
            CHECK_FALSE(std::filesystem::exists(dir / "other.md.part"));
        }
    }
}

TEST_CASE("part_sink: a .part prepared small (in place) or large (through the blocking pool) gets its size") {
    auto dir = test::make_temp_dir();
    part_sink::options opts;
    opts.durable = false;
    for (std::uint64_t size : {std::uint64_t(4096), std::uint64_t(64) * 1024 * 1024}) {
        auto name = "m/file-" + std::to_string(size) + ".bin";
        auto sink = part_sink::open(dir, name, opts);
        REQUIRE(sink.has_value());
        REQUIRE_FALSE(prepare(*sink, size));
        const std::string text = "tail";
        auto data = bytes_of(text);
        REQUIRE_FALSE(sink->write(size - text.size(), data.data(), data.size()));
        std::error_code ec;
        CHECK(std::filesystem::file_size(dir / (name + ".part"), ec) == size);
        CHECK_FALSE(ec);
    }
}
