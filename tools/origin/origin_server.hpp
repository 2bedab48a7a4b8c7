#pragma once

#include "tools/origin/certificate.hpp"
#include "tools/origin/fault.hpp"
#include "tools/origin/origin_stats.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ferry::origin {

class hub_catalog;

/// How an origin_server listens and what it serves. The defaults make an HTTPS server on an
/// ephemeral port of 127.0.0.1 with a freshly generated certificate, serving nothing until files
/// are added.
struct origin_config {
    /// Address to listen on: an IP literal, or "localhost" (127.0.0.1).
    std::string host = "127.0.0.1";
    std::uint16_t port = 0; ///< 0 = ephemeral: see origin_server::port()
    bool tls = true;        ///< false: plain HTTP
    /// PEM certificate chain and private key. Both empty (the default): a test PKI is generated
    /// (make_test_pki with `pki`, plus the listen address when it is not a loopback or wildcard one).
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    pki_options pki;            ///< for the generated PKI: expired, other names...
    std::filesystem::path root; ///< serve the files beneath this directory too; empty = none
    std::uint64_t seed = 0;     ///< seed of synthetic files (see synthetic.hpp)
    unsigned threads = 1;       ///< threads running the server's own io_context
    /// Strict cap on each response body, bytes/s, paced with no initial burst; 0 = none.
    std::uint64_t rate_per_connection = 0;
    std::size_t chunk_size = 256 * 1024; ///< body bytes per write (one buffer per connection)
    std::chrono::seconds idle_timeout{60}; ///< an idle keep-alive connection is closed after this
    /// A write that cannot complete within this closes the connection (a client that stopped reading).
    std::chrono::seconds write_timeout{60};
    /// Seed of the fault table's draws (fault::chance, where drop_mid and pause happen): the same
    /// seed and order of requests give the same faults.
    std::uint64_t fault_seed = 0;
    /// Goes into every ETag (content::with_etag_salt): two servers with different salts tag the
    /// same bytes differently, as two CDNs do. Last-Modified is unchanged. "" = none.
    std::string etag_salt;
    /// Key of the signed URLs (fault::signed_redirect); "" = 32 random bytes at construction.
    std::string signing_secret;
    /// Hub mode (hub_api.hpp): the fake Hugging Face Hub's API, resolve and CDN paths answer from
    /// this catalog first; other paths are served as usual. Null = none. Read-only once given.
    std::shared_ptr<const hub_catalog> hub;
};

/// A real HTTP/1.1 origin (HTTPS by default) on its own io_context and threads, for tests,
/// `ferry demo`, `ferry origin` and benchmarks. Clients may run in the same process on another
/// io_context.
///
/// Serves synthetic files (add_synthetic) and files beneath `root`: GET and HEAD, keep-alive,
/// single byte ranges (206, 416), If-Range, strong ETag, Last-Modified; 404 for anything else.
/// Conditional GET and HEAD (If-None-Match, If-Modified-Since: 304). Bodies are streamed in
/// chunk_size pieces from one buffer per connection. Fault rules make it misbehave on chosen
/// paths (fault.hpp), signed redirects among them: requests whose query carries a signature
/// (signed_url.hpp) are checked, and refused with 403 when expired or forged. stats() tells what
/// it saw.
///
/// Every member function is thread-safe. Start once; stop() (or the destructor) closes every
/// connection abruptly and joins the threads.
class origin_server {
public:
    /// Loads or generates the certificate. Throws on an unreadable certificate or key.
    explicit origin_server(origin_config config = {});
    ~origin_server();
    origin_server(const origin_server&) = delete;
    origin_server& operator=(const origin_server&) = delete;

    /// Binds, listens and starts the threads. Throws std::system_error when it cannot listen.
    void start();
    /// Stops serving: closes the listener and all connections, joins the threads. Idempotent.
    void stop();

    /// The port listened on (after start()).
    std::uint16_t port() const;
    /// `https://localhost:PORT/PATH` (`http://` without TLS); `path` with or without its leading
    /// '/'. A non-loopback listen address appears instead of localhost. The generated certificate
    /// verifies for localhost, 127.0.0.1 and ::1.
    std::string url(std::string_view path) const;
    /// The same with the IP literal (`https://127.0.0.1:PORT/PATH`, `[::1]` for IPv6).
    std::string ip_url(std::string_view path) const;

    /// The PEM clients should trust: the generated CA, or the certificate file's contents.
    const std::string& ca_pem() const;
    /// Writes ca_pem() to `path`. Throws std::system_error on failure.
    void write_ca(const std::filesystem::path& path) const;

    /// Serves `size` synthetic bytes at `path` (name: the path without its leading '/').
    void add_synthetic(std::string_view path, std::uint64_t size);
    /// The ETag served for `path` (version `n` as fault::version sets it); "" when nothing is there.
    std::string etag(std::string_view path, std::uint64_t version = 0) const;

    /// Adds a fault rule: `pattern` is a path or a prefix ending in '*' (see fault_table).
    void add_fault(std::string pattern, fault what);
    void clear_faults();

    /// `with_log`: with the request log (a copy of up to a million records).
    origin_stats stats(bool with_log = true) const;
    /// Zeroes the counters and the request log (connection ids keep counting).
    void reset_stats();
    /// Waits, at most `limit`, until no connection is open: after a client has exited, its
    /// connections' last writes are counted once they close. Returns whether they all did.
    bool wait_connections_closed(std::chrono::milliseconds limit) const;

    const origin_config& config() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace ferry::origin
