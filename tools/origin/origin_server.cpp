#include "tools/origin/origin_server.hpp"

#include "tools/origin/content_catalog.hpp"
#include "tools/origin/origin_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ferry::origin {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

asio::ip::address listen_address(const std::string& host) {
    if (host == "localhost")
        return asio::ip::address_v4::loopback();
    error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec)
        throw std::invalid_argument("origin: listen address must be an IP literal or localhost, not '" + host + "'");
    return address;
}

/// The generated certificate names the listen address too, when clients could not reach the
/// server through the default names.
pki_options certificate_names(const origin_config& config) {
    pki_options pki = config.pki;
    auto address = listen_address(config.host);
    if (!address.is_loopback() && !address.is_unspecified()) {
        auto text = address.to_string();
        if (std::find(pki.ip_addresses.begin(), pki.ip_addresses.end(), text) == pki.ip_addresses.end())
            pki.ip_addresses.push_back(text);
    }
    return pki;
}

asio::ssl::context make_server_tls_context(const std::string& cert_pem, const std::string& key_pem) {
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    // AES-128-GCM first, chosen by the server: the cheapest strong cipher with AES-NI, so the
    // origin (and every client measured against it) spends less CPU per byte.
    SSL_CTX* native = tls.native_handle();
    SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    tls.use_certificate_chain(asio::buffer(cert_pem));
    tls.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    return tls;
}

} // namespace

struct origin_server::impl {
    explicit impl(origin_config c)
        : config(std::move(c)), catalog(config.root, config.seed, config.etag_salt), faults(config.fault_seed) {
        if (config.threads == 0)
            config.threads = 1;
        if (config.signing_secret.empty()) {
            config.signing_secret.resize(32);
            if (RAND_bytes(reinterpret_cast<unsigned char*>(config.signing_secret.data()), 32) != 1)
                throw std::runtime_error("origin: no random bytes for the signing secret");
        }
        listen_address(config.host); // a bad address is a constructor error, not a start() one
        if (!config.tls)
            return;
        std::string cert_pem, key_pem;
        if (config.cert_file.empty() != config.key_file.empty())
            throw std::invalid_argument("origin: give both cert_file and key_file, or neither");
        if (!config.cert_file.empty()) {
            cert_pem = read_file(config.cert_file);
            key_pem = read_file(config.key_file);
            ca = cert_pem;
        } else {
            auto pki = make_test_pki(certificate_names(config));
            ca = std::move(pki.ca_pem);
            cert_pem = std::move(pki.cert_pem);
            key_pem = std::move(pki.key_pem);
        }
        tls.emplace(make_server_tls_context(cert_pem, key_pem));
    }

    asio::awaitable<void> accept_loop() {
        asio::steady_timer backoff(acceptor->get_executor());
        for (;;) {
            auto executor = config.threads > 1 ? asio::any_io_executor(asio::make_strand(*io))
                                               : asio::any_io_executor(io->get_executor());
            auto [ec, socket] = co_await acceptor->async_accept(executor, use_nothrow);
            if (ec == asio::error::operation_aborted || !acceptor->is_open())
                co_return;
            if (ec) {
                // Out of descriptors and the like: wait a little rather than spin.
                backoff.expires_after(std::chrono::milliseconds(20));
                co_await backoff.async_wait(use_nothrow);
                continue;
            }
            auto socket_executor = socket.get_executor();
            asio::co_spawn(socket_executor, serve_connection(std::move(socket), state), asio::detached);
        }
    }

    origin_config config;
    std::string ca;
    std::optional<asio::ssl::context> tls;
    content_catalog catalog;
    fault_table faults;
    stats_recorder stats;
    origin_state state{config, nullptr, catalog, faults, stats};

    std::mutex lifecycle;
    bool started = false;
    bool stopped = false;
    std::uint16_t bound_port = 0;
    std::string url_host, ip_host;
    // Declared last: destroyed first, while everything the connections use still exists.
    std::optional<asio::io_context> io;
    std::optional<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
};

origin_server::origin_server(origin_config config) : impl_(std::make_unique<impl>(std::move(config))) {
    impl_->state.tls = impl_->tls ? &*impl_->tls : nullptr;
}

origin_server::~origin_server() { stop(); }

void origin_server::start() {
    auto& s = *impl_;
    std::lock_guard lock(s.lifecycle);
    if (s.started)
        throw std::logic_error("origin_server::start called twice");
    s.started = true;

    auto address = listen_address(s.config.host);
    s.io.emplace(static_cast<int>(s.config.threads));
    s.acceptor.emplace(*s.io);
    tcp::endpoint endpoint(address, s.config.port);
    s.acceptor->open(endpoint.protocol());
    s.acceptor->set_option(asio::socket_base::reuse_address(true));
    s.acceptor->bind(endpoint);
    s.acceptor->listen(asio::socket_base::max_listen_connections);
    s.bound_port = s.acceptor->local_endpoint().port();

    bool any = address.is_unspecified();
    s.url_host = address.is_loopback() || any ? "localhost"
                 : address.is_v6()            ? "[" + address.to_string() + "]"
                                              : address.to_string();
    auto ip = any ? (address.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                     : asio::ip::address(asio::ip::address_v4::loopback()))
                  : address;
    s.ip_host = ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string();

    asio::co_spawn(*s.io, s.accept_loop(), asio::detached);
    for (unsigned i = 0; i < s.config.threads; ++i)
        s.threads.emplace_back([io = &*s.io] { io->run(); });
}

void origin_server::stop() {
    auto& s = *impl_;
    std::lock_guard lock(s.lifecycle);
    if (!s.started || s.stopped)
        return;
    s.stopped = true;
    s.io->stop();
    for (auto& t : s.threads)
        t.join();
    s.threads.clear();
    // Destroying the io_context destroys every connection's coroutine, closing its socket.
    s.acceptor.reset();
    s.io.reset();
}

std::uint16_t origin_server::port() const { return impl_->bound_port; }

std::string origin_server::url(std::string_view path) const {
    return std::string(impl_->config.tls ? "https://" : "http://") + impl_->url_host + ":" +
           std::to_string(impl_->bound_port) + normalize_path(path);
}

std::string origin_server::ip_url(std::string_view path) const {
    return std::string(impl_->config.tls ? "https://" : "http://") + impl_->ip_host + ":" +
           std::to_string(impl_->bound_port) + normalize_path(path);
}

const std::string& origin_server::ca_pem() const { return impl_->ca; }

void origin_server::write_ca(const std::filesystem::path& path) const { write_pem(path, impl_->ca); }

void origin_server::add_synthetic(std::string_view path, std::uint64_t size) { impl_->catalog.add_synthetic(path, size); }

std::string origin_server::etag(std::string_view path, std::uint64_t version) const {
    auto file = impl_->catalog.find(normalize_path(path));
    return file ? file->with_version(version).etag() : std::string();
}

void origin_server::add_fault(std::string pattern, fault what) { impl_->faults.add(std::move(pattern), std::move(what)); }

void origin_server::clear_faults() { impl_->faults.clear(); }

origin_stats origin_server::stats(bool with_log) const { return impl_->stats.snapshot(with_log); }

void origin_server::reset_stats() { impl_->stats.reset(); }

bool origin_server::wait_connections_closed(std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (impl_->stats.snapshot(false).connections_open > 0) {
        if (std::chrono::steady_clock::now() >= until)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

const origin_config& origin_server::config() const noexcept { return impl_->config; }

} // namespace ferry::origin
