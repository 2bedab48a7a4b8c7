#pragma once

// Driving an aria2-style JSON-RPC daemon from a test: `ferry serve` as a child process, a
// JSON-RPC client over HTTP POST, a WebSocket client that collects notifications. Used by
// test/cli (ferry serve alone) and test/integration (ferry serve against aria2c).

#include "cli/child_process.hpp"
#include "origin/test_client.hpp"

#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::test {

namespace serve_detail {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;
} // namespace serve_detail
using namespace serve_detail;

/// `ferry serve` as a child on a free port. Its stderr is a FIFO read here, so the line naming the
/// port is waited for (poll, bounded), not guessed at.
class serve_process {
public:
    serve_process(const fs::path& tmp, std::vector<std::string> extra) {
        auto fifo = tmp / "serve.stderr";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        fd_ = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(fd_ >= 0);
        std::vector<std::string> argv{FERRY_BINARY, "serve", "--rpc-listen-port", "0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process_ = std::make_unique<child_process>(argv, tmp / "serve.stdout", fifo);
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (said_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            ::poll(&p, 1, 1000);
            char chunk[512];
            auto n = ::read(fd_, chunk, sizeof chunk);
            if (n > 0)
                said_.append(chunk, std::size_t(n));
            else if (n == 0 && !process_->running())
                break;
        }
        constexpr std::string_view listening = "ferry serve: listening on http://127.0.0.1:";
        auto at = said_.find(listening);
        INFO("ferry serve said: " << said_);
        REQUIRE(at != std::string::npos);
        port_ = static_cast<std::uint16_t>(std::stoul(said_.substr(at + listening.size())));
        REQUIRE(said_.find("/jsonrpc", at) != std::string::npos);
    }
    ~serve_process() {
        process_.reset();
        ::close(fd_);
    }

    std::uint16_t port() const { return port_; }
    child_process& process() { return *process_; }

private:
    int fd_ = -1;
    std::unique_ptr<child_process> process_;
    std::string said_;
    std::uint16_t port_ = 0;
};

/// A WebSocket on /jsonrpc that collects what the daemon sends, each read bounded by a timeout.
class ws_client {
public:
    explicit ws_client(std::uint16_t port) : ws_(io_) {
        asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"), port);
        ws_.next_layer().connect(to);
        ws_.handshake("127.0.0.1:" + std::to_string(port), "/jsonrpc");
    }

    /// The next text message, or nullopt after `timeout`.
    std::optional<std::string> read(std::chrono::milliseconds timeout) {
        boost::beast::flat_buffer buffer;
        bool done = false;
        boost::system::error_code result;
        ws_.async_read(buffer, [&](boost::system::error_code ec, std::size_t) {
            done = true;
            result = ec;
        });
        io_.restart();
        io_.run_for(timeout);
        if (!done) {
            ws_.next_layer().cancel();
            io_.restart();
            io_.run();
            return std::nullopt;
        }
        if (result)
            return std::nullopt;
        return boost::beast::buffers_to_string(buffer.data());
    }

    void send(const std::string& text) { ws_.write(asio::buffer(text)); }

    /// Whether the notification `method` about `gid` was read (by wait_for) so far.
    bool saw(const std::string& method, const std::string& gid) const {
        for (auto& n : seen_)
            if (n.first == method && n.second == gid)
                return true;
        return false;
    }

    /// Waits for the notification `method` about `gid`, keeping every other message it reads.
    bool wait_for(const std::string& method, const std::string& gid, std::chrono::milliseconds timeout = 60s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            for (auto& n : seen_)
                if (n.first == method && n.second == gid)
                    return true;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return false;
            auto text = read(left);
            if (!text)
                return false;
            auto v = json::parse(*text).as_object();
            if (auto* m = v.if_contains("method"); m && v.contains("params"))
                seen_.emplace_back(std::string(m->as_string()),
                                   std::string(v.at("params").as_array().at(0).as_object().at("gid").as_string()));
        }
    }

private:
    asio::io_context io_;
    websocket::stream<asio::ip::tcp::socket> ws_;
    std::deque<std::pair<std::string, std::string>> seen_;
};

/// JSON-RPC over HTTP POST to /jsonrpc on 127.0.0.1 (ferry serve or aria2c), with a secret.
class rpc_client {
public:
    void connect(std::uint16_t port, std::string secret) {
        origin::testing::client_options o;
        o.host = "127.0.0.1";
        o.port = port;
        o.tls = false;
        client_ = std::make_unique<origin::testing::test_client>(o);
        secret_ = std::move(secret);
    }
    void close() { client_.reset(); }
    origin::testing::test_client& http() { return *client_; }
    /// The HTTP status of the last post (aria2: 200, 400 for an error answer, 500 for a parse error).
    unsigned last_status() const { return last_status_; }

    /// POSTs `text` to /jsonrpc: the parsed answer.
    json::value post(const std::string& text) {
        auto r = client_->request("POST", "/jsonrpc", {{"Content-Type", "application/json"}}, text);
        REQUIRE_MESSAGE(!r.error, r.error.message());
        last_status_ = r.status;
        return json::parse(r.body);
    }
    /// Calls `method` with the secret and `params`: the whole answer object.
    json::object call(const std::string& method, json::array params = {}) {
        params.insert(params.begin(), json::string("token:" + secret_));
        json::object request{{"jsonrpc", "2.0"}, {"id", "t"}, {"method", method}, {"params", std::move(params)}};
        auto answer = post(json::serialize(request));
        INFO(method << " → " << json::serialize(answer));
        REQUIRE(answer.is_object());
        CHECK(answer.at("id") == "t");
        CHECK(answer.at("jsonrpc") == "2.0");
        return answer.as_object();
    }
    /// The result of a call that must succeed.
    json::value result(const std::string& method, json::array params = {}) {
        auto answer = call(method, std::move(params));
        INFO(method << " → " << json::serialize(answer));
        REQUIRE(answer.contains("result"));
        return answer.at("result");
    }
    /// The error message of a call that must fail (code 1).
    std::string error(const std::string& method, json::array params = {}) {
        auto answer = call(method, std::move(params));
        INFO(method << " → " << json::serialize(answer));
        REQUIRE(answer.contains("error"));
        CHECK(answer.at("error").at("code") == 1);
        return std::string(answer.at("error").at("message").as_string());
    }
    std::string status_of(const std::string& gid) {
        return std::string(result("aria2.tellStatus", {json::string(gid), json::array{"status"}}).at("status").as_string());
    }

private:
    std::unique_ptr<origin::testing::test_client> client_;
    std::string secret_;
    unsigned last_status_ = 0;
};

} // namespace ferry::test
