#pragma once

// Real proxies from Debian, started by a test on 127.0.0.1 and killed when the fixture goes away:
// tinyproxy (HTTP, CONNECT, optional BasicAuth) and microsocks (SOCKS5, optional user/password).
// Tests read tinyproxy's log to assert what it was asked for.

#include "cli/child_process.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::test {

/// A proxy child process on a port of 127.0.0.1 chosen for it. The constructor throws
/// std::runtime_error when the program is missing or does not listen within a few seconds;
/// the destructor kills and reaps it.
class proxy_process {
public:
    ~proxy_process();
    proxy_process(const proxy_process&) = delete;
    proxy_process& operator=(const proxy_process&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    /// `SCHEME://[USER:PASSWORD@]127.0.0.1:PORT`.
    std::string url(std::string_view scheme, std::string_view user = {}, std::string_view password = {}) const;
    /// Stops it now (connections to its port are then refused).
    void stop();

protected:
    proxy_process() = default;
    /// Starts `argv_for(port)` until one listens (a port taken meanwhile: another try). `ready`
    /// says whether it listens, without connecting to it when it keeps a log of connections.
    template <class Argv, class Ready>
    void start(const char* program, Argv argv_for, Ready ready);

    scratch_dir dir_{"ferry-proxy"};
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> process_;
};

/// tinyproxy in the foreground (`-d -c CONF`) with its log at level Info.
class tinyproxy_server : public proxy_process {
public:
    /// With BasicAuth when `user` is not empty.
    explicit tinyproxy_server(std::string user = {}, std::string password = {});

    /// The requests it logged, in order: `CONNECT localhost:PORT HTTP/1.1`, `GET http://... HTTP/1.1`.
    std::vector<std::string> requests() const;
    /// Client connections it logged.
    std::size_t connections() const;
    std::string log() const;
};

/// microsocks (`-i 127.0.0.1 -p PORT`, with `-u USER -P PASSWORD` when `user` is not empty).
class microsocks_server : public proxy_process {
public:
    explicit microsocks_server(std::string user = {}, std::string password = {});
};

} // namespace ferry::test
