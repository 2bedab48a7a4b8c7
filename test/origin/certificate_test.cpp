#include "tools/origin/certificate.hpp"

#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

using namespace ferry::origin;

namespace {

struct x509_deleter {
    void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

x509_ptr parse(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    x509_ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    return cert;
}

/// Verifies `leaf` against `ca` as a TLS client would, for `host` (a name or an IP address).
int verify(const std::string& ca_pem, const std::string& leaf_pem, const char* host, bool is_ip) {
    auto ca = parse(ca_pem);
    auto leaf = parse(leaf_pem);
    REQUIRE(ca);
    REQUIRE(leaf);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca.get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    else
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    int ok = X509_verify_cert(ctx);
    int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return error;
}

} // namespace

TEST_CASE("the default test PKI verifies for localhost, 127.0.0.1 and ::1 and nothing else") {
    auto pki = make_test_pki();
    CHECK(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    CHECK(pki.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    CHECK(pki.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    CHECK(verify(pki.ca_pem, pki.cert_pem, "localhost", false) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "127.0.0.1", true) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "::1", true) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "example.com", false) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "10.0.0.1", true) == X509_V_ERR_IP_ADDRESS_MISMATCH);

    // Another PKI's CA does not vouch for this leaf.
    auto other = make_test_pki();
    CHECK(other.ca_pem != pki.ca_pem);
    CHECK(verify(other.ca_pem, pki.cert_pem, "localhost", false) != X509_V_OK);
}

TEST_CASE("test PKI options: other names, expired") {
    pki_options names;
    names.dns_names = {"wrong.example", "*.models.test"};
    names.ip_addresses = {"10.1.2.3"};
    auto pki = make_test_pki(names);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "wrong.example", false) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "a.models.test", false) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "10.1.2.3", true) == X509_V_OK);
    CHECK(verify(pki.ca_pem, pki.cert_pem, "localhost", false) == X509_V_ERR_HOSTNAME_MISMATCH);

    pki_options expired;
    expired.expired = true;
    auto old = make_test_pki(expired);
    CHECK(verify(old.ca_pem, old.cert_pem, "localhost", false) == X509_V_ERR_CERT_HAS_EXPIRED);

    pki_options bad;
    bad.ip_addresses = {"not-an-ip"};
    CHECK_THROWS_AS(make_test_pki(bad), std::runtime_error);
}

TEST_CASE("write_pem writes the PEM to a file") {
    auto pki = make_test_pki();
    auto path = std::filesystem::temp_directory_path() / "ferry-origin-test-ca.pem";
    write_pem(path, pki.ca_pem);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    CHECK(text.str() == pki.ca_pem);
    std::filesystem::remove(path);
    CHECK_THROWS(write_pem("/nonexistent-dir/ca.pem", pki.ca_pem));
}
