#include "net/tls_context.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace ferry {
namespace {

/// True for the names c_rehash and update-ca-certificates give: 8 hex digits, a dot, a number.
bool is_hash_link_name(const std::string& name) {
    auto dot = name.find('.');
    if (dot != 8 || dot + 1 == name.size())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        auto c = static_cast<unsigned char>(name[i]);
        if (i < 8 ? !std::isxdigit(c) : i > 8 && !std::isdigit(c))
            return false;
    }
    return true;
}

bool has_hash_links(const std::filesystem::path& dir) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (is_hash_link_name(it->path().filename().string()))
            return true;
    return false;
}

std::filesystem::path canonical_or_as_is(const std::filesystem::path& path) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    return ec ? path : canonical;
}

/// What OpenSSL's defaults use: the variable when it is set, else the built-in path.
std::filesystem::path from_env_or(const char* env_name, const char* built_in) {
    const char* value = std::getenv(env_name);
    return canonical_or_as_is(value ? value : built_in);
}

} // namespace

system_trust system_trust_paths() {
    system_trust t;
    t.file = from_env_or(X509_get_default_cert_file_env(), X509_get_default_cert_file());
    t.dir = from_env_or(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
    t.directory_only = t.file == canonical_or_as_is(X509_get_default_cert_file()) &&
                       t.dir == canonical_or_as_is(X509_get_default_cert_dir()) && has_hash_links(t.dir);
    return t;
}

boost::asio::ssl::context make_client_tls_context(const std::filesystem::path& extra_ca_file) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    // TLS 1.3 suites in the order browsers offer them: AES-128-GCM first is as safe and decrypts
    // faster than OpenSSL's default first choice, AES-256-GCM (servers follow the client's order
    // unless told otherwise).
    SSL_CTX_set_ciphersuites(ctx.native_handle(),
                             "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
    if (auto system = system_trust_paths(); system.directory_only)
        SSL_CTX_load_verify_dir(ctx.native_handle(), system.dir.c_str());
    else
        ctx.set_default_verify_paths();
    if (!extra_ca_file.empty()) {
        boost::system::error_code ec;
        ctx.load_verify_file(extra_ca_file.string(), ec);
        if (ec)
            throw boost::system::system_error(ec, "cannot load CA file " + extra_ca_file.string());
    }
    ctx.set_verify_mode(ssl::verify_peer);
    // Sessions are kept by the connection pool (per origin) and offered on new connections.
    // Idle connections (thousands of slow transfers) give their TLS record buffers back.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    return ctx;
}

} // namespace ferry
