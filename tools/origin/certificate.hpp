#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::origin {

/// What the test PKI's leaf certificate says. The defaults make a certificate that verifies for
/// `localhost`, `127.0.0.1` and `::1`.
struct pki_options {
    std::vector<std::string> dns_names{"localhost"};           ///< subjectAltName DNS entries
    std::vector<std::string> ip_addresses{"127.0.0.1", "::1"}; ///< subjectAltName IP entries
    /// notAfter in the past (notBefore 30 days ago, notAfter yesterday), so verification fails
    /// with "certificate has expired".
    bool expired = false;
    std::chrono::days validity{365}; ///< lifetime of both certificates when not expired
};

/// A test PKI generated in memory: a self-signed CA and a leaf certificate it signed. All PEM.
struct test_pki {
    std::string ca_pem;   ///< the CA certificate: what clients trust
    std::string cert_pem; ///< the leaf certificate (what a server presents)
    std::string key_pem;  ///< the leaf's private key (PKCS#8, unencrypted)
};

/// Generates a fresh CA and leaf (EC P-256 keys, SHA-256 signatures, random serials) with the
/// OpenSSL 3 API. Each call makes new keys. Throws std::runtime_error when OpenSSL fails or an
/// IP address does not parse.
test_pki make_test_pki(const pki_options& options = {});

/// Writes `pem` to `path` (replacing it). Throws std::system_error on failure.
void write_pem(const std::filesystem::path& path, std::string_view pem);

} // namespace ferry::origin
