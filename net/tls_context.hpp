#pragma once

#include <filesystem>

#include <boost/asio/ssl/context.hpp>

namespace ferry {

/// Where the system's trusted CAs come from: OpenSSL's default bundle file and directory, or
/// SSL_CERT_FILE and SSL_CERT_DIR when set (paths made canonical). Parsing the whole bundle costs
/// as much as a short download (~20 ms for Debian's 140 certificates), so when both are the
/// system's own and the directory is hashed (Debian's /etc/ssl/certs, which
/// update-ca-certificates fills from the same sources as the bundle), `directory_only` is set: the
/// directory alone is trusted and OpenSSL reads just the issuers a handshake asks for.
struct system_trust {
    std::filesystem::path file;
    std::filesystem::path dir;
    bool directory_only = false;
};
system_trust system_trust_paths();

/// A client TLS context: TLS 1.2 at least, peers always verified against the system store plus
/// `extra_ca_file` (a PEM bundle) when given, client-side session cache on so that new connections
/// to a host resume its TLS session. There is no way to turn verification off.
/// Throws system_error when the CA file cannot be loaded (a start-up error).
boost::asio::ssl::context make_client_tls_context(const std::filesystem::path& extra_ca_file = {});

} // namespace ferry
