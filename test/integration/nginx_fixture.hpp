#pragma once

// A real nginx (Debian's nginx-light) serving a directory over HTTPS on 127.0.0.1, started by a
// test and killed when the fixture goes away. Integration tests download from it and read its
// access log to assert what it served (statuses, ranges, connections, body bytes).

#include "cli/child_process.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::test {

/// One `server` block: its own port, serving the same root.
struct nginx_block {
    std::string limit_rate; ///< nginx `limit_rate` (per response, e.g. "20m"); empty = none
};

/// One line of the access log.
struct access_record {
    std::uint16_t port = 0;               ///< $server_port: which block answered
    std::uint64_t connection = 0;         ///< $connection: serial number of the connection
    std::uint64_t connection_requests = 0;///< $connection_requests: requests so far on it
    unsigned status = 0;
    std::uint64_t body_bytes = 0;         ///< $body_bytes_sent
    double end_time = 0;                  ///< $msec: when the log line was written (Unix seconds)
    double request_time = 0;              ///< $request_time: seconds since the request's first byte
    std::string method;
    std::string uri;                      ///< $uri (decoded, no query)
    std::string range;                    ///< the Range header, "" when absent
    /// When the request began (Unix seconds, millisecond resolution).
    double start_time() const noexcept { return end_time - request_time; }
};

/// nginx in the foreground as one process (`daemon off; master_process off;`), everything it writes
/// (config, certificate, key, pid, logs, temp paths) in a scratch directory of its own.
///
/// The constructor throws std::runtime_error with a clear message when nginx is not installed or
/// does not start within a few seconds (the error log is quoted); a port taken between choosing it
/// and nginx binding it is retried with new ports. The destructor stops nginx (SIGTERM, then
/// SIGKILL) and reaps it.
class nginx_server {
public:
    /// Serves `root` on one port per block (at least one block).
    explicit nginx_server(std::filesystem::path root, std::vector<nginx_block> blocks = {nginx_block{}});
    ~nginx_server();
    nginx_server(const nginx_server&) = delete;
    nginx_server& operator=(const nginx_server&) = delete;

    std::uint16_t port(std::size_t block = 0) const { return ports_.at(block); }
    /// `https://127.0.0.1:PORT/PATH` (the certificate names 127.0.0.1 and localhost).
    std::string url(std::string_view path, std::size_t block = 0) const;
    /// The CA certificate clients must trust.
    const std::filesystem::path& ca_file() const noexcept { return ca_file_; }

    /// The access log so far, in the order nginx wrote it (requests logged when they end).
    std::vector<access_record> access_log() const;
    std::string error_log() const;

    /// Where nginx is: /usr/sbin/nginx, or `nginx` on PATH; empty when not installed.
    static std::filesystem::path find_binary();

private:
    bool try_start(const std::filesystem::path& binary, std::string& why);

    std::filesystem::path root_;
    std::vector<nginx_block> blocks_;
    scratch_dir dir_{"ferry-nginx"};
    std::filesystem::path ca_file_;
    std::vector<std::uint16_t> ports_;
    std::unique_ptr<child_process> process_;
};

} // namespace ferry::test
