#include "test_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <optional>
#include <stdexcept>

namespace ferry::origin::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}

struct test_client::impl {
    explicit impl(client_options o) : options(std::move(o)), tls(asio::ssl::context::tls_client) {
        tls.set_verify_mode(asio::ssl::verify_peer);
        if (!options.ca_pem.empty())
            tls.add_certificate_authority(asio::buffer(options.ca_pem));
    }

    /// Runs `op` to completion on this thread's io_context and returns its result.
    template <class T>
    T run(asio::awaitable<T> op) {
        std::optional<T> result;
        io.restart();
        asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
            if (e)
                std::rethrow_exception(e);
            result = std::move(value);
        });
        io.run();
        return std::move(*result);
    }

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    asio::awaitable<error_code> open() {
        plain.reset();
        secure.reset();
        buffer.clear();
        verify = X509_V_OK;
        if (options.tls)
            secure.emplace(io, tls);
        else
            plain.emplace(io);
        tcp::resolver resolver(io);
        auto [resolve_error, endpoints] =
            co_await resolver.async_resolve(options.host, std::to_string(options.port), use_nothrow);
        if (resolve_error)
            co_return resolve_error;
        lowest().expires_after(options.timeout);
        auto [connect_error, endpoint] = co_await lowest().async_connect(endpoints, use_nothrow);
        if (connect_error)
            co_return connect_error;
        if (secure) {
            SSL* ssl = secure->native_handle();
            error_code not_ip;
            asio::ip::make_address(options.host, not_ip);
            if (!not_ip) {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), options.host.c_str());
            } else {
                SSL_set_tlsext_host_name(ssl, options.host.c_str());
                SSL_set1_host(ssl, options.host.c_str());
            }
            lowest().expires_after(options.timeout);
            auto [handshake_error] = co_await secure->async_handshake(asio::ssl::stream_base::client, use_nothrow);
            verify = SSL_get_verify_result(ssl);
            if (handshake_error) {
                secure.reset();
                co_return handshake_error;
            }
        }
        lowest().expires_never();
        co_return error_code{};
    }

    template <class Stream>
    asio::awaitable<test_response> exchange(Stream& stream, http::request<http::string_body>& req) {
        test_response out;
        lowest().expires_after(options.timeout);
        auto [write_error, written] = co_await http::async_write(stream, req, use_nothrow);
        if (write_error) {
            out.error = write_error;
            co_return out;
        }
        http::response_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
        parser.body_limit(boost::none);
        if (req.method() == http::verb::head)
            parser.skip(true);
        lowest().expires_after(options.timeout);
        auto [read_error, read] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
        if (!read_error && !parser.is_done()) {
            // The body, one read at a time, so a stall times out per read rather than overall.
            while (!parser.is_done()) {
                lowest().expires_after(options.timeout);
                auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_nothrow);
                if (ec) {
                    read_error = ec;
                    break;
                }
            }
        }
        out.error = read_error;
        if (parser.is_header_done()) {
            auto& res = parser.get();
            out.status = res.result_int();
            for (auto& f : res) {
                std::string name(f.name_string());
                for (auto& c : name)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                out.fields[name] = std::string(f.value());
            }
            out.keep_alive = res.keep_alive();
            out.body = std::move(res.body());
        }
        co_return out;
    }

    asio::awaitable<test_response> request(std::string method, std::string target, header_list headers,
                                           std::string body) {
        if (!secure && !plain) {
            error_code ec = co_await open();
            if (ec) {
                test_response failed;
                failed.error = ec;
                co_return failed;
            }
        }
        http::request<http::string_body> req{http::string_to_verb(method), target, 11};
        req.set(http::field::host, options.host + ":" + std::to_string(options.port));
        req.set(http::field::user_agent, "ferry-origin-test");
        for (auto& [name, value] : headers)
            req.set(name, value);
        if (!body.empty() || req.method() == http::verb::post) {
            req.body() = std::move(body);
            req.prepare_payload();
        }
        // (Not a conditional expression: GCC 12 miscompiles co_await inside one.)
        test_response out;
        if (secure)
            out = co_await exchange(*secure, req);
        else
            out = co_await exchange(*plain, req);
        if (out.error || !out.keep_alive) {
            plain.reset();
            secure.reset();
        }
        co_return out;
    }

    client_options options;
    asio::io_context io;
    asio::ssl::context tls;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    long verify = X509_V_OK;
};

test_client::test_client(const origin_server& server, std::string host) {
    client_options o;
    o.host = std::move(host);
    o.port = server.port();
    o.tls = server.config().tls;
    o.ca_pem = server.ca_pem();
    impl_ = std::make_unique<impl>(std::move(o));
}

test_client::test_client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

test_client::~test_client() = default;

error_code test_client::connect() { return impl_->run(impl_->open()); }

long test_client::verify_result() const { return impl_->verify; }

bool test_client::connected() const { return impl_->secure || impl_->plain; }

void test_client::close() {
    impl_->secure.reset();
    impl_->plain.reset();
}

test_response test_client::request(std::string_view method, std::string_view target, const header_list& headers,
                                   std::string_view body) {
    return impl_->run(impl_->request(std::string(method), std::string(target), headers, std::string(body)));
}

client_options& test_client::options() { return impl_->options; }

} // namespace ferry::origin::testing
