#include "net/tls_context.hpp"
#include "memory/temp_dir.hpp"
#include "scoped_env.hpp"

#include <doctest/doctest.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

fs::path canonical(const char* p) {
    std::error_code ec;
    auto c = fs::weakly_canonical(p, ec);
    return ec ? fs::path(p) : c;
}

} // namespace

TEST_CASE("the system store: the hashed directory alone when both paths are the system's own") {
    const auto default_file = canonical(X509_get_default_cert_file());
    const auto default_dir = canonical(X509_get_default_cert_dir());
    ferry::test::scoped_env file_env(X509_get_default_cert_file_env(), default_file.string());
    ferry::test::scoped_env dir_env(X509_get_default_cert_dir_env(), default_dir.string());
    auto t = ferry::system_trust_paths();
    CHECK(t.file == default_file);
    CHECK(t.dir == default_dir);
    bool hashed = false;
    std::error_code ec;
    for (fs::directory_iterator it(default_dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        hashed = hashed || (name.size() >= 10 && name[8] == '.' && name.find_first_not_of("0123456789abcdef") == 8);
    }
    INFO("default dir " << default_dir << " hashed: " << hashed);
    CHECK(t.directory_only == hashed);
}

TEST_CASE("the system store: a bundle or directory of the user's own is read as OpenSSL reads it") {
    ferry::test::temp_dir tmp;
    ferry::test::write_text(tmp / "bundle.pem", "");
    fs::create_directories(tmp / "hashed");
    ferry::test::write_text(tmp / "hashed" / "0123abcd.0", "");
    SUBCASE("SSL_CERT_FILE elsewhere") {
        ferry::test::scoped_env file_env(X509_get_default_cert_file_env(), (tmp / "bundle.pem").string());
        auto t = ferry::system_trust_paths();
        CHECK(t.file == fs::weakly_canonical(tmp / "bundle.pem"));
        CHECK_FALSE(t.directory_only);
    }
    SUBCASE("SSL_CERT_DIR elsewhere, even hashed") {
        ferry::test::scoped_env dir_env(X509_get_default_cert_dir_env(), (tmp / "hashed").string());
        auto t = ferry::system_trust_paths();
        CHECK(t.dir == fs::weakly_canonical(tmp / "hashed"));
        CHECK_FALSE(t.directory_only);
    }
}

TEST_CASE("TLS 1.3 offers AES-128-GCM first, as browsers do; TLS 1.2 is the oldest version allowed") {
    auto ctx = ferry::make_client_tls_context();
    auto* ciphers = SSL_CTX_get_ciphers(ctx.native_handle());
    REQUIRE(ciphers);
    REQUIRE(sk_SSL_CIPHER_num(ciphers) > 3);
    CHECK(std::string(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, 0))) == "TLS_AES_128_GCM_SHA256");
    CHECK(std::string(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, 1))) == "TLS_CHACHA20_POLY1305_SHA256");
    CHECK(std::string(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, 2))) == "TLS_AES_256_GCM_SHA384");
    CHECK(SSL_CTX_get_min_proto_version(ctx.native_handle()) == TLS1_2_VERSION);
}
