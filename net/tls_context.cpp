#include "net/tls_context.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <openssl/ssl.h>

namespace ferry {

boost::asio::ssl::context make_client_tls_context(const std::filesystem::path& extra_ca_file) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
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
