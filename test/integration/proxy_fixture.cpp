#include "integration/proxy_fixture.hpp"

#include "integration/loopback_port.hpp"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace ferry::test {

namespace {

using namespace std::chrono_literals;

std::string binary_of(const char* program) {
    for (auto* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/"})
        if (::access((std::string(dir) + program).c_str(), X_OK) == 0)
            return std::string(dir) + program;
    throw std::runtime_error(std::string(program) + " is not installed (tools/install-deps.sh installs it)");
}

} // namespace

proxy_process::~proxy_process() { stop(); }

void proxy_process::stop() {
    if (process_ && process_->running()) {
        process_->signal(SIGTERM);
        if (!process_->wait_for(5s))
            process_->kill_and_wait();
    }
    process_.reset();
}

std::string proxy_process::url(std::string_view scheme, std::string_view user, std::string_view password) const {
    std::string out(scheme);
    out += "://";
    if (!user.empty())
        out.append(user).append(":").append(password).append("@");
    return out + "127.0.0.1:" + std::to_string(port_);
}

template <class Argv, class Ready>
void proxy_process::start(const char* program, Argv argv_for, Ready ready) {
    auto binary = binary_of(program);
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = pick_port();
        process_ = std::make_unique<child_process>(argv_for(binary, port_), dir_ / "stdout.log", dir_ / "stderr.log");
        // Bounded: a few seconds for a program that binds at once.
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (process_->running() && std::chrono::steady_clock::now() < deadline) {
            if (ready())
                return;
            std::this_thread::sleep_for(10ms); // waiting for another process to bind: nothing to wait on
        }
        process_.reset(); // exited (port taken?) or too slow: kill, and another port
    }
    throw std::runtime_error(std::string(program) + " did not start; stderr:\n" + slurp(dir_ / "stderr.log"));
}

tinyproxy_server::tinyproxy_server(std::string user, std::string password) {
    start("tinyproxy",
          [&](const std::string& binary, std::uint16_t port) {
              std::string conf = "Port " + std::to_string(port) + "\nListen 127.0.0.1\nTimeout 30\n"
                                 "LogFile \"" + (dir_ / "tinyproxy.log").string() + "\"\nLogLevel Info\n"
                                 "MaxClients 100\nAllow 127.0.0.1\n";
              // No ConnectPort line: CONNECT to any port (the origin's is ephemeral).
              if (!user.empty())
                  conf += "BasicAuth " + user + " " + password + "\n";
              spit(dir_ / "tinyproxy.conf", conf);
              std::filesystem::remove(dir_ / "tinyproxy.log");
              return std::vector<std::string>{binary, "-d", "-c", (dir_ / "tinyproxy.conf").string()};
          },
          // Its log says when it accepts; a probe connection would show up in the log.
          [&] { return log().find("Accepting connections") != std::string::npos; });
}

std::string tinyproxy_server::log() const { return slurp(dir_ / "tinyproxy.log"); }

std::vector<std::string> tinyproxy_server::requests() const {
    std::vector<std::string> out;
    for (auto& line : lines_of(log())) {
        auto at = line.find("]: Request (file descriptor ");
        if (at == std::string::npos)
            continue;
        auto colon = line.find("): ", at);
        if (colon != std::string::npos)
            out.push_back(line.substr(colon + 3));
    }
    return out;
}

std::size_t tinyproxy_server::connections() const {
    std::size_t n = 0;
    for (auto& line : lines_of(log()))
        n += line.find("]: Connect (file descriptor ") != std::string::npos;
    return n;
}

microsocks_server::microsocks_server(std::string user, std::string password) {
    start("microsocks",
          [&](const std::string& binary, std::uint16_t port) {
              std::vector<std::string> argv{binary, "-i", "127.0.0.1", "-p", std::to_string(port)};
              if (!user.empty())
                  argv.insert(argv.end(), {"-u", user, "-P", password});
              return argv;
          },
          [&] { return accepts(port_); });
}

} // namespace ferry::test
