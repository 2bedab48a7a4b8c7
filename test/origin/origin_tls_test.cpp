// The origin's certificates as clients see them: verified for localhost and IPs, refused when
// expired or for another host name, loaded from files.
#include "test_client.hpp"

#include "tools/origin/certificate.hpp"
#include "tools/origin/origin_server.hpp"

#include <doctest/doctest.h>

#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ferry::origin;
using namespace ferry::origin::testing;

TEST_CASE("tls: the generated certificate verifies for localhost and 127.0.0.1") {
    origin_server server;
    server.add_synthetic("/a", 10);
    server.start();
    test_client by_name(server, "localhost");
    REQUIRE_FALSE(by_name.connect());
    CHECK(by_name.verify_result() == X509_V_OK);
    CHECK(by_name.get("/a").status == 200);
    test_client by_ip(server, "127.0.0.1");
    REQUIRE_FALSE(by_ip.connect());
    CHECK(by_ip.get("/a").status == 200);
    CHECK(server.stats().tls_handshakes == 2);

    auto ca = std::filesystem::temp_directory_path() / ("ferry-origin-ca-" + std::to_string(getpid()) + ".pem");
    server.write_ca(ca);
    std::ifstream in(ca);
    std::stringstream text;
    text << in.rdbuf();
    CHECK(text.str() == server.ca_pem());
    std::filesystem::remove(ca);
}

TEST_CASE("tls: an IPv6 listener verifies for ::1") {
    origin_config config;
    config.host = "::1";
    origin_server server(config);
    try {
        server.start();
    } catch (const std::exception& e) {
        MESSAGE("no IPv6 loopback here: " << e.what());
        return;
    }
    CHECK(server.ip_url("x") == "https://[::1]:" + std::to_string(server.port()) + "/x");
    test_client client(server, "::1");
    CHECK_FALSE(client.connect());
    CHECK(client.verify_result() == X509_V_OK);
}

TEST_CASE("tls: an expired certificate is refused") {
    origin_config config;
    config.pki.expired = true;
    origin_server server(config);
    server.start();
    test_client client(server);
    CHECK(client.connect());
    CHECK(client.verify_result() == X509_V_ERR_CERT_HAS_EXPIRED);
    CHECK(client.get("/a").status == 0);
}

TEST_CASE("tls: a certificate for another host name is refused") {
    origin_config config;
    config.pki.dns_names = {"wrong.example"};
    config.pki.ip_addresses = {};
    origin_server server(config);
    server.start();
    test_client by_name(server, "localhost");
    CHECK(by_name.connect());
    CHECK(by_name.verify_result() == X509_V_ERR_HOSTNAME_MISMATCH);
    test_client by_ip(server, "127.0.0.1");
    CHECK(by_ip.connect());
    CHECK(by_ip.verify_result() == X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_CASE("tls: another CA is not trusted") {
    origin_server server;
    server.start();
    client_options options;
    options.port = server.port();
    options.ca_pem = make_test_pki().ca_pem;
    test_client client(options);
    CHECK(client.connect());
    CHECK(client.verify_result() == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_CASE("tls: certificate and key from files") {
    auto pki = make_test_pki();
    auto dir = std::filesystem::temp_directory_path() / ("ferry-origin-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    write_pem(dir / "cert.pem", pki.cert_pem);
    write_pem(dir / "key.pem", pki.key_pem);

    origin_config config;
    config.cert_file = dir / "cert.pem";
    config.key_file = dir / "key.pem";
    origin_server server(config);
    server.add_synthetic("/a", 10);
    server.start();
    CHECK(server.ca_pem() == pki.cert_pem); // what a client could trust without the CA

    client_options options;
    options.port = server.port();
    options.ca_pem = pki.ca_pem;
    test_client client(options);
    CHECK(client.get("/a").status == 200);

    origin_config half;
    half.cert_file = dir / "cert.pem";
    CHECK_THROWS(origin_server(half));
    origin_config missing;
    missing.cert_file = dir / "none.pem";
    missing.key_file = dir / "key.pem";
    CHECK_THROWS(origin_server(missing));
    std::filesystem::remove_all(dir);
}
