#pragma once

#include <filesystem>

#include <boost/asio/ssl/context.hpp>

namespace ferry {

/// A client TLS context: TLS 1.2 at least, peers always verified against the system store plus
/// `extra_ca_file` (a PEM bundle) when given, client-side session cache on so that new connections
/// to a host resume its TLS session. There is no way to turn verification off.
/// Throws system_error when the CA file cannot be loaded (a start-up error).
boost::asio::ssl::context make_client_tls_context(const std::filesystem::path& extra_ca_file = {});

} // namespace ferry
