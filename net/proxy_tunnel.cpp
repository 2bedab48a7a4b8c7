#include "net/proxy_tunnel.hpp"

#include "net/error.hpp"
#include "net/happy_eyeballs.hpp"
#include "net/socket_stream.hpp"

#include <openssl/evp.h>

namespace ferry {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t connect_head_limit = 16 * 1024;

error_code proxy_error(net_error e, const proxy_endpoint& proxy, unsigned status = 0) {
    return make_proxy_error(e, proxy.display(), status);
}

asio::awaitable<error_code> read_exact(socket_stream& stream, std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        auto n = co_await stream.read_some(data, size);
        if (!n)
            co_return n.error();
        data += *n;
        size -= *n;
    }
    co_return error_code{};
}

asio::awaitable<error_code> http_connect(socket_stream& stream, const proxy_endpoint& proxy, const url& target) {
    auto request = connect_request(target, proxy);
    if (auto ec = co_await stream.write_all(request.data(), request.size()))
        co_return ec;
    std::string head;
    std::size_t end = std::string::npos;
    while (end == std::string::npos) {
        if (head.size() >= connect_head_limit)
            co_return proxy_error(net_error::proxy_bad_response, proxy);
        char chunk[1024];
        auto n = co_await stream.read_some(chunk, sizeof chunk);
        if (!n)
            co_return n.error();
        head.append(chunk, *n);
        end = head.find("\r\n\r\n");
    }
    auto status = connect_status(head);
    if (!status)
        co_return proxy_error(net_error::proxy_bad_response, proxy);
    // 407 asks for credentials; tinyproxy, for one, answers wrong ones with 401.
    if (*status == 407 || *status == 401)
        co_return proxy_error(net_error::proxy_auth_required, proxy, *status);
    if (*status < 200 || *status > 299)
        co_return proxy_error(net_error::proxy_refused, proxy, *status);
    // The origin speaks only after our TLS hello: anything more is not a tunnel.
    if (end + 4 != head.size())
        co_return proxy_error(net_error::proxy_bad_response, proxy);
    co_return error_code{};
}

asio::awaitable<error_code> socks5_connect(asio::any_io_executor executor, socket_stream& stream,
                                           const proxy_endpoint& proxy, const url& target,
                                           std::chrono::steady_clock::time_point deadline) {
    auto greeting = socks5::greeting(proxy.has_credentials);
    if (auto ec = co_await stream.write_all(greeting.data(), greeting.size()))
        co_return ec;
    std::uint8_t choice[2];
    if (auto ec = co_await read_exact(stream, choice, sizeof choice))
        co_return ec;
    if (choice[0] != 5)
        co_return proxy_error(net_error::proxy_bad_response, proxy);
    if (choice[1] == 2 && proxy.has_credentials) {
        auto login = socks5::password_request(proxy.username, proxy.password);
        if (!login)
            co_return proxy_error(net_error::bad_proxy_url, proxy);
        if (auto ec = co_await stream.write_all(login->data(), login->size()))
            co_return ec;
        std::uint8_t verdict[2];
        if (auto ec = co_await read_exact(stream, verdict, sizeof verdict))
            co_return ec;
        if (verdict[1] != 0)
            co_return proxy_error(net_error::socks_auth_failed, proxy);
    } else if (choice[1] != 0) {
        co_return proxy_error(net_error::socks_no_acceptable_method, proxy);
    }

    boost::system::result<std::vector<std::uint8_t>> request = std::vector<std::uint8_t>{};
    if (proxy.kind == proxy_kind::socks5h) {
        request = socks5::connect_request(target.host, target.port);
    } else {
        auto addresses = co_await resolve_addresses(executor, target.host, target.port, deadline);
        if (!addresses)
            co_return addresses.error();
        if (addresses->empty())
            co_return asio::error::host_not_found;
        request = socks5::connect_request(addresses->front().address(), target.port);
    }
    if (!request)
        co_return request.error();
    if (auto ec = co_await stream.write_all(request->data(), request->size()))
        co_return ec;
    std::uint8_t reply[5];
    if (auto ec = co_await read_exact(stream, reply, sizeof reply))
        co_return ec;
    if (reply[0] != 5)
        co_return proxy_error(net_error::proxy_bad_response, proxy);
    if (reply[1] != 0)
        co_return proxy_error(socks5::reply_error(reply[1]), proxy);
    auto remaining = socks5::reply_remaining(reply);
    if (!remaining)
        co_return proxy_error(net_error::proxy_bad_response, proxy);
    std::uint8_t bound[260];
    co_return co_await read_exact(stream, bound, *remaining);
}

} // namespace

std::string authority_of(const url& target) {
    std::string host = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
    return host + ":" + std::to_string(target.port);
}

std::string basic_credentials(std::string_view user, std::string_view password) {
    std::string plain = std::string(user) + ":" + std::string(password);
    std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                            reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
    encoded.resize(static_cast<std::size_t>(n));
    return "Basic " + encoded;
}

std::string connect_request(const url& target, const proxy_endpoint& proxy) {
    auto authority = authority_of(target);
    std::string text = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\nUser-Agent: ferry/0.1\r\n";
    if (proxy.has_credentials)
        text += "Proxy-Authorization: " + basic_credentials(proxy.username, proxy.password) + "\r\n";
    text += "\r\n";
    return text;
}

boost::system::result<unsigned> connect_status(std::string_view head) {
    // HTTP/1.x SP 3DIGIT (SP reason)?
    if (head.size() < 12 || !head.starts_with("HTTP/1.") || head[8] != ' ')
        return make_error_code(net_error::proxy_bad_response);
    unsigned status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (head[i] < '0' || head[i] > '9')
            return make_error_code(net_error::proxy_bad_response);
        status = status * 10 + static_cast<unsigned>(head[i] - '0');
    }
    if (status < 100 || (head.size() > 12 && head[12] != ' ' && head[12] != '\r'))
        return make_error_code(net_error::proxy_bad_response);
    return status;
}

namespace socks5 {

constexpr std::uint8_t version = 5;
constexpr std::uint8_t no_authentication = 0;
constexpr std::uint8_t user_password = 2;
constexpr std::uint8_t command_connect = 1;
constexpr std::uint8_t address_ipv4 = 1;
constexpr std::uint8_t address_name = 3;
constexpr std::uint8_t address_ipv6 = 4;

std::vector<std::uint8_t> greeting(bool credentials) {
    if (credentials)
        return {version, 2, no_authentication, user_password};
    return {version, 1, no_authentication};
}

boost::system::result<std::vector<std::uint8_t>> password_request(std::string_view user, std::string_view password) {
    if (user.size() > 255 || password.size() > 255)
        return make_error_code(net_error::bad_proxy_url);
    std::vector<std::uint8_t> out{1, static_cast<std::uint8_t>(user.size())}; // RFC 1929 version 1
    out.insert(out.end(), user.begin(), user.end());
    out.push_back(static_cast<std::uint8_t>(password.size()));
    out.insert(out.end(), password.begin(), password.end());
    return out;
}

namespace {

std::vector<std::uint8_t> request_head(std::uint8_t address_type) {
    return {version, command_connect, 0, address_type};
}

void append_port(std::vector<std::uint8_t>& out, std::uint16_t port) {
    out.push_back(static_cast<std::uint8_t>(port >> 8));
    out.push_back(static_cast<std::uint8_t>(port & 0xff));
}

} // namespace

std::vector<std::uint8_t> connect_request(const asio::ip::address& address, std::uint16_t port) {
    std::vector<std::uint8_t> out;
    if (address.is_v4()) {
        out = request_head(address_ipv4);
        auto bytes = address.to_v4().to_bytes();
        out.insert(out.end(), bytes.begin(), bytes.end());
    } else {
        out = request_head(address_ipv6);
        auto bytes = address.to_v6().to_bytes();
        out.insert(out.end(), bytes.begin(), bytes.end());
    }
    append_port(out, port);
    return out;
}

boost::system::result<std::vector<std::uint8_t>> connect_request(std::string_view name, std::uint16_t port) {
    if (name.empty() || name.size() > 255)
        return make_error_code(net_error::bad_url);
    auto out = request_head(address_name);
    out.push_back(static_cast<std::uint8_t>(name.size()));
    out.insert(out.end(), name.begin(), name.end());
    append_port(out, port);
    return out;
}

net_error reply_error(std::uint8_t code) {
    switch (code) {
    case 2: return net_error::socks_not_allowed;
    case 3: return net_error::socks_network_unreachable;
    case 4: return net_error::socks_host_unreachable;
    case 5: return net_error::socks_connection_refused;
    case 6: return net_error::socks_ttl_expired;
    case 7: return net_error::socks_command_not_supported;
    case 8: return net_error::socks_address_type_not_supported;
    default: return net_error::socks_general_failure; // 1, and codes RFC 1928 does not assign
    }
}

boost::system::result<std::size_t> reply_remaining(const std::uint8_t (&first)[5]) {
    switch (first[3]) {
    case address_ipv4: return std::size_t{4 - 1 + 2};
    case address_ipv6: return std::size_t{16 - 1 + 2};
    case address_name: return std::size_t{first[4]} + 2u; // first[4] is the name's length
    default: return make_error_code(net_error::proxy_bad_response);
    }
}

} // namespace socks5

asio::awaitable<error_code> open_tunnel(asio::any_io_executor executor, socket_stream& stream,
                                        const proxy_endpoint& proxy, const url& target,
                                        std::chrono::steady_clock::time_point deadline) {
    // (No co_await inside a conditional expression: GCC 12 evaluates both arms.)
    if (proxy.kind != proxy_kind::http)
        co_return co_await socks5_connect(executor, stream, proxy, target, deadline);
    if (target.tls())
        co_return co_await http_connect(stream, proxy, target);
    co_return error_code{}; // an http target: requests go to the proxy in absolute form
}

} // namespace ferry
