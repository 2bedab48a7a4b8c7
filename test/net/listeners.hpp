#pragma once

// Listening sockets that misbehave on purpose, on loopback, for connect and handshake tests:
// one whose accept queue is full (connects to it hang: the kernel drops their SYNs), and one
// that completes TCP connections but never says anything (TLS handshakes hang).

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>

namespace ferry::test {

/// A socket of `address`'s family bound to `address`:`port` (0: any free port).
inline int bound_socket(const std::string& address, std::uint16_t port) {
    auto ip = boost::asio::ip::make_address(address);
    int fd = ::socket(ip.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    int on = 1;
    if (ip.is_v6())
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    boost::asio::ip::tcp::endpoint where(ip, port);
    if (::bind(fd, where.data(), static_cast<socklen_t>(where.size())) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

inline std::uint16_t port_of(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

/// Completes TCP connections (the kernel does, up to its backlog) and never accepts or answers.
class silent_listener {
public:
    explicit silent_listener(const std::string& address = "127.0.0.1", std::uint16_t port = 0)
        : address_(address), fd_(bound_socket(address, port)) {
        if (fd_ >= 0)
            REQUIRE(::listen(fd_, 64) == 0);
    }
    ~silent_listener() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;

    bool ok() const noexcept { return fd_ >= 0; }
    std::uint16_t port() const { return port_of(fd_); }
    boost::asio::ip::tcp::endpoint endpoint() const { return {boost::asio::ip::make_address(address_), port()}; }

protected:
    std::string address_;
    int fd_;
};

/// A listener whose accept queue is full: further connects hang until the caller gives up.
/// Filled by connections it never accepts (listen backlog 0), added until one no longer
/// completes within a bounded wait.
class full_listener : public silent_listener {
public:
    explicit full_listener(const std::string& address = "127.0.0.1", std::uint16_t port = 0)
        : silent_listener(address, port) {
        if (fd_ < 0)
            return;
        REQUIRE(::listen(fd_, 0) == 0);
        auto target = endpoint();
        for (int i = 0; i < 8; ++i) {
            int c = ::socket(target.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            REQUIRE(c >= 0);
            fillers_.push_back(c);
            if (::connect(c, target.data(), static_cast<socklen_t>(target.size())) == 0)
                continue;
            REQUIRE(errno == EINPROGRESS);
            pollfd p{c, POLLOUT, 0};
            if (::poll(&p, 1, 200) == 0)
                return; // this one hangs: the queue is full
        }
        FAIL("connects to a listener with backlog 0 keep completing: cannot make a hanging address here");
    }
    ~full_listener() {
        for (int c : fillers_)
            ::close(c);
    }

private:
    std::vector<int> fillers_;
};

/// A port on `address` where nothing listens (connects are refused).
inline std::uint16_t closed_port(const std::string& address) {
    int fd = bound_socket(address, 0);
    REQUIRE(fd >= 0);
    auto port = port_of(fd);
    ::close(fd);
    return port;
}

/// Whether this machine has `address` (e.g. ::1) to bind to.
inline bool has_address(const std::string& address) {
    int fd = bound_socket(address, 0);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

} // namespace ferry::test
