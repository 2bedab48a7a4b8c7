#include "integration/nginx_fixture.hpp"

#include "integration/loopback_port.hpp"

#include "tools/origin/certificate.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ferry::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string tail(const std::string& text, std::size_t n = 2000) {
    return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

} // namespace

fs::path nginx_server::find_binary() {
    std::error_code ec;
    if (::access("/usr/sbin/nginx", X_OK) == 0)
        return "/usr/sbin/nginx";
    if (const char* path = std::getenv("PATH")) {
        std::stringstream dirs(path);
        std::string d;
        while (std::getline(dirs, d, ':'))
            if (!d.empty() && ::access((fs::path(d) / "nginx").c_str(), X_OK) == 0)
                return fs::path(d) / "nginx";
    }
    return {};
}

nginx_server::nginx_server(fs::path root, std::vector<nginx_block> blocks)
    : root_(fs::absolute(root)), blocks_(std::move(blocks)) {
    if (blocks_.empty())
        throw std::invalid_argument("nginx_server needs at least one server block");
    auto binary = find_binary();
    if (binary.empty())
        throw std::runtime_error("nginx is not installed (no /usr/sbin/nginx, no nginx on PATH): the integration "
                                 "tests need a real nginx; install Debian's nginx-light (sh tools/install-deps.sh)");

    auto pki = origin::make_test_pki();
    ca_file_ = dir_ / "ca.pem";
    origin::write_pem(ca_file_, pki.ca_pem);
    origin::write_pem(dir_ / "cert.pem", pki.cert_pem);
    origin::write_pem(dir_ / "key.pem", pki.key_pem);
    for (auto sub : {"logs", "tmp"})
        fs::create_directories(dir_ / sub);

    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (try_start(binary, why))
            return;
        // A port taken by someone else between pick_port and nginx's bind: pick new ones.
        if (why.find("Address already in use") == std::string::npos)
            break;
    }
    throw std::runtime_error("nginx did not start: " + why);
}

bool nginx_server::try_start(const fs::path& binary, std::string& why) {
    process_.reset();
    ports_.clear();
    while (ports_.size() < blocks_.size()) {
        auto p = pick_port();
        if (std::find(ports_.begin(), ports_.end(), p) == ports_.end())
            ports_.push_back(p);
    }
    auto d = dir_.path().string();
    auto pid_file = dir_ / "nginx.pid";
    auto error_file = dir_ / "logs" / "error.log";
    std::error_code ignored;
    fs::remove(pid_file, ignored);
    fs::remove(error_file, ignored);
    fs::remove(dir_ / "logs" / "access.log", ignored);

    std::ostringstream conf;
    // As root, nginx would hand its temp paths to "nobody"; keep everything with the test's user.
    if (::geteuid() == 0)
        if (auto* pw = ::getpwuid(0))
            conf << "user " << pw->pw_name << ";\n";
    conf << "daemon off;\n"
            "master_process off;\n"
            "worker_processes 1;\n"
         << "pid " << pid_file.string() << ";\n"
         << "error_log " << error_file.string() << " warn;\n"
         << "events { worker_connections 1024; }\n"
            "http {\n"
            "    log_format ferry '$server_port $connection $connection_requests $status $body_bytes_sent '\n"
            "                     '$msec $request_time $request_method $uri $http_range';\n"
         << "    access_log " << d << "/logs/access.log ferry;\n"
         << "    client_body_temp_path " << d << "/tmp/body;\n"
         << "    proxy_temp_path " << d << "/tmp/proxy;\n"
         << "    fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
         << "    uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
         << "    scgi_temp_path " << d << "/tmp/scgi;\n"
         << "    default_type application/octet-stream;\n"
            "    sendfile on;\n"
            "    keepalive_timeout 65s;\n"
            "    keepalive_requests 100000;\n"
         << "    ssl_certificate " << d << "/cert.pem;\n"
         << "    ssl_certificate_key " << d << "/key.pem;\n"
         << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            "    ssl_session_cache shared:ferry_test:4m;\n";
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
        conf << "    server {\n"
             << "        listen 127.0.0.1:" << ports_[i] << " ssl;\n"
             << "        server_name localhost;\n"
             << "        root " << root_.string() << ";\n";
        if (!blocks_[i].limit_rate.empty())
            conf << "        limit_rate " << blocks_[i].limit_rate << ";\n";
        conf << "    }\n";
    }
    conf << "}\n";
    auto conf_file = dir_ / "nginx.conf";
    spit(conf_file, conf.str());

    process_ = std::make_unique<child_process>(
        std::vector<std::string>{binary.string(), "-p", d + "/", "-e", error_file.string(), "-c", conf_file.string()},
        dir_ / "logs" / "stdout.log", dir_ / "logs" / "stderr.log");

    // Ready when its pid file names it (written after every listening socket is bound) and each
    // port accepts a connection. Bounded: a few seconds (nginx retries a busy port for 2.5 s).
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_->running()) {
            why = "nginx exited at start-up; error log:\n" + tail(error_log()) + "\nstderr:\n" +
                  tail(slurp(dir_ / "logs" / "stderr.log"));
            process_.reset();
            return false;
        }
        auto pid_text = slurp(pid_file);
        if (!pid_text.empty() && std::atol(pid_text.c_str()) == process_->pid()) {
            bool all = true;
            for (auto p : ports_)
                all = all && accepts(p);
            if (all)
                return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    why = "nginx did not accept connections within 10 s; error log:\n" + tail(error_log());
    process_.reset(); // kills it
    return false;
}

nginx_server::~nginx_server() {
    if (process_ && process_->running()) {
        process_->signal(SIGTERM);
        if (!process_->wait_for(5s))
            process_->kill_and_wait();
    }
    process_.reset();
}

std::string nginx_server::url(std::string_view path, std::size_t block) const {
    if (path.starts_with('/'))
        path.remove_prefix(1);
    return "https://127.0.0.1:" + std::to_string(port(block)) + "/" + std::string(path);
}

std::string nginx_server::error_log() const { return slurp(dir_ / "logs" / "error.log"); }

std::vector<access_record> nginx_server::access_log() const {
    std::vector<access_record> records;
    std::istringstream in(slurp(dir_ / "logs" / "access.log"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        access_record r;
        if (!(fields >> r.port >> r.connection >> r.connection_requests >> r.status >> r.body_bytes >> r.end_time >>
              r.request_time >> r.method >> r.uri >> r.range))
            throw std::runtime_error("unexpected nginx access log line: " + line);
        if (r.range == "-")
            r.range.clear();
        records.push_back(std::move(r));
    }
    return records;
}

} // namespace ferry::test
