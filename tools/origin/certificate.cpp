#include "tools/origin/certificate.hpp"

#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace ferry::origin {

namespace {

template <auto Free>
struct openssl_free {
    template <class T>
    void operator()(T* p) const noexcept { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_free<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_free<BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_free<BN_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_free<X509_EXTENSION_free>>;
using name_ptr = std::unique_ptr<X509_NAME, openssl_free<X509_NAME_free>>;

[[noreturn]] void fail(const char* what) {
    char reason[256] = "unknown error";
    if (unsigned long code = ERR_get_error())
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("test certificate: ") + what + ": " + reason);
}

void check(int ok, const char* what) {
    if (ok != 1)
        fail(what);
}

pkey_ptr make_key() {
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key)
        fail("EC P-256 key generation");
    return key;
}

name_ptr make_name(const char* common_name) {
    name_ptr name(X509_NAME_new());
    if (!name)
        fail("X509_NAME_new");
    check(X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("ferry test origin"), -1, -1, 0),
          "subject O");
    check(X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
          "subject CN");
    return name;
}

void add_extension(X509* cert, X509V3_CTX& ctx, int nid, const std::string& value) {
    extension_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext)
        fail("certificate extension");
    check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

/// A certificate for `key` named `subject`, signed by `issuer_key` as `issuer` (itself when null).
x509_ptr make_certificate(EVP_PKEY* key, const X509_NAME* subject, EVP_PKEY* issuer_key, X509* issuer,
                          const pki_options& options, bool is_ca, const std::string& alt_names) {
    x509_ptr cert(X509_new());
    if (!cert)
        fail("X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

    bignum_ptr serial(BN_new());
    if (!serial || BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
        fail("serial number");

    constexpr long day = 24 * 60 * 60;
    if (options.expired) {
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -30 * day);
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), -1 * day);
    } else {
        // A little slack for clocks that disagree (containers, VMs).
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -1 * day);
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), options.validity.count() * day);
    }
    check(X509_set_subject_name(cert.get(), subject), "subject");
    check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject), "issuer");
    check(X509_set_pubkey(cert.get(), key), "public key");

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash");
    if (is_ca) {
        add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
        add_extension(cert.get(), ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always");
        add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), ctx, NID_key_usage, "critical,digitalSignature");
        add_extension(cert.get(), ctx, NID_ext_key_usage, "serverAuth");
        if (!alt_names.empty())
            add_extension(cert.get(), ctx, NID_subject_alt_name, alt_names);
    }
    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
        fail("signature");
    return cert;
}

std::string to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        fail("PEM certificate");
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("PEM private key");
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string subject_alt_names(const pki_options& options) {
    std::string out;
    auto add = [&](const char* kind, const std::string& value) {
        if (!out.empty())
            out += ',';
        out += kind;
        out += value;
    };
    for (auto& dns : options.dns_names)
        add("DNS:", dns);
    for (auto& ip : options.ip_addresses) {
        // OpenSSL reports a bad address only as a generic extension error: name it here.
        unsigned char buffer[16];
        if (inet_pton(AF_INET, ip.c_str(), buffer) != 1 && inet_pton(AF_INET6, ip.c_str(), buffer) != 1)
            throw std::runtime_error("test certificate: not an IP address: " + ip);
        add("IP:", ip);
    }
    return out;
}

} // namespace

test_pki make_test_pki(const pki_options& options) {
    std::string alt_names = subject_alt_names(options);
    std::string leaf_name = !options.dns_names.empty()      ? options.dns_names.front()
                            : !options.ip_addresses.empty() ? options.ip_addresses.front()
                                                            : std::string("ferry test origin");

    pkey_ptr ca_key = make_key();
    name_ptr ca_subject = make_name("ferry test CA");
    x509_ptr ca = make_certificate(ca_key.get(), ca_subject.get(), ca_key.get(), nullptr, options, true, {});

    pkey_ptr leaf_key = make_key();
    name_ptr leaf_subject = make_name(leaf_name.c_str());
    x509_ptr leaf = make_certificate(leaf_key.get(), leaf_subject.get(), ca_key.get(), ca.get(), options, false,
                                     alt_names);

    return test_pki{to_pem(ca.get()), to_pem(leaf.get()), to_pem(leaf_key.get())};
}

void write_pem(const std::filesystem::path& path, std::string_view pem) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (out)
        out.write(pem.data(), static_cast<std::streamsize>(pem.size()));
    out.close();
    if (!out)
        throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot write " + path.string());
}

} // namespace ferry::origin
