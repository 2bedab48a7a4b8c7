#pragma once

// A small HTTP/1.1 client for the origin's tests: real TLS (verified against a given CA, with the
// host name checked), keep-alive, every step under a timeout, partial bodies kept on errors.
// It runs its own io_context on the calling thread, so each call returns when done or timed out.

#include "tools/origin/origin_server.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

namespace ferry::origin::testing {

struct client_options {
    std::string host = "localhost"; ///< connect to, SNI, verification and Host header
    std::uint16_t port = 0;
    bool tls = true;
    std::string ca_pem;             ///< trusted CA (only this one)
    std::size_t header_limit = 1024 * 1024;
    std::chrono::milliseconds timeout{20'000}; ///< for each step: connect, handshake, a read
};

struct test_response {
    boost::system::error_code error; ///< set when the exchange did not complete
    unsigned status = 0;             ///< 0 when no head arrived
    std::map<std::string, std::string> fields; ///< names in lower case
    std::string body;                ///< what arrived, complete or not
    bool keep_alive = false;

    std::string field(const std::string& lower_case_name) const {
        auto it = fields.find(lower_case_name);
        return it == fields.end() ? std::string() : it->second;
    }
    bool has(const std::string& lower_case_name) const { return fields.contains(lower_case_name); }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

class test_client {
public:
    /// Talks to `server` through `host` (localhost by default), trusting its CA.
    explicit test_client(const origin_server& server, std::string host = "localhost");
    explicit test_client(client_options options);
    ~test_client();
    test_client(const test_client&) = delete;
    test_client& operator=(const test_client&) = delete;

    /// Connects (and handshakes); requests connect by themselves when needed.
    boost::system::error_code connect();
    /// The X.509 verification result of the last handshake (X509_V_OK = 0).
    long verify_result() const;
    bool connected() const;
    void close();

    /// Sends `body` (with its Content-Length) when not empty, or when the method is POST.
    test_response request(std::string_view method, std::string_view target, const header_list& headers = {},
                          std::string_view body = {});
    test_response get(std::string_view target, const header_list& headers = {}) {
        return request("GET", target, headers);
    }
    test_response head(std::string_view target, const header_list& headers = {}) {
        return request("HEAD", target, headers);
    }

    client_options& options();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace ferry::origin::testing
