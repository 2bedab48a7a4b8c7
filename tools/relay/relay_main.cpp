// ferry-relay: a TCP relay on 127.0.0.1 that adds round-trip time, a per-connection window and
// a per-connection rate between a client and an origin, so loopback looks like a wide-area path
// (this kernel has no netem). Used by the benchmark's WAN scenarios (bench/bench.py).
#include "tools/arguments.hpp"
#include "tools/relay/relay_server.hpp"

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

namespace {

constexpr const char* usage =
    "usage: ferry-relay --to HOST:PORT [--listen PORT] [--rtt MS] [--window BYTES] [--rate RATE]\n"
    "\n"
    "Relays TCP connections from 127.0.0.1:PORT to HOST:PORT (TLS passes through untouched),\n"
    "making the path look like a wide-area one:\n"
    "\n"
    "  --listen PORT     port to listen on, on 127.0.0.1 (default 0: a free port); the line\n"
    "                    `ferry-relay: listening on 127.0.0.1:PORT` goes to stderr\n"
    "  --to HOST:PORT    the origin ([::1]:PORT for IPv6)\n"
    "  --rtt MS          round-trip time to add, in milliseconds (decimals allowed; default 0):\n"
    "                    every chunk is delivered RTT/2 after it was read, in order, each way;\n"
    "                    a new connection's first bytes leave one RTT after it was accepted\n"
    "  --window BYTES    bytes in flight per connection and direction, from the read until an\n"
    "                    acknowledgement would reach the sender (RTT/2 after delivery), so one\n"
    "                    connection moves at most WINDOW/RTT (default 4M; 0 = unbounded)\n"
    "  --rate RATE       bytes/s per connection and direction, e.g. 20M (default: unlimited)\n"
    "  --buffer BYTES    largest read (default 256K)\n"
    "\n"
    "Runs until SIGINT or SIGTERM. Exit 2: usage; 1: cannot listen or resolve.\n";

std::uint16_t parse_port(std::string_view option, std::string_view text, bool zero_allowed) {
    auto n = ferry::cli::parse_count(option, text, zero_allowed);
    if (n > 65535)
        throw ferry::cli::usage_error("option " + std::string(option) + " needs a port number, not '" +
                                      std::string(text) + "'");
    return static_cast<std::uint16_t>(n);
}

std::uint64_t parse_size(std::string_view option, std::string_view text) {
    auto n = ferry::parse_byte_size(text);
    if (!n)
        throw ferry::cli::usage_error("option " + std::string(option) + " needs a size such as 4M or 65536, not '" +
                                      std::string(text) + "'");
    return *n;
}

ferry::relay::relay_options parse(std::span<const std::string_view> args) {
    ferry::relay::relay_options o;
    ferry::cli::arguments a(args);
    bool have_to = false;
    while (!a.done()) {
        auto arg = a.take();
        std::string v;
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            std::exit(0);
        } else if (a.value(arg, "--listen", v)) {
            o.listen_port = parse_port("--listen", v, true);
        } else if (a.value(arg, "--to", v)) {
            auto colon = v.rfind(':');
            if (colon == std::string::npos || colon == 0)
                throw ferry::cli::usage_error("option --to needs HOST:PORT, not '" + v + "'");
            std::string host = v.substr(0, colon);
            if (host.size() > 2 && host.front() == '[' && host.back() == ']')
                host = host.substr(1, host.size() - 2);
            o.to_host = host;
            o.to_port = parse_port("--to", std::string_view(v).substr(colon + 1), false);
            have_to = true;
        } else if (a.value(arg, "--rtt", v)) {
            double ms = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
            if (ec != std::errc{} || end != v.data() + v.size() || !(ms >= 0 && ms <= 60'000))
                throw ferry::cli::usage_error("option --rtt needs milliseconds (0 to 60000), not '" + v + "'");
            o.rtt = std::chrono::microseconds(static_cast<long long>(ms * 1000 + 0.5));
        } else if (a.value(arg, "--window", v)) {
            o.window = parse_size("--window", v);
        } else if (a.value(arg, "--rate", v)) {
            o.rate = parse_size("--rate", v);
        } else if (a.value(arg, "--buffer", v)) {
            auto n = parse_size("--buffer", v);
            if (n < 1024 || n > 64 * 1024 * 1024)
                throw ferry::cli::usage_error("option --buffer needs 1K to 64M, not '" + v + "'");
            o.buffer = static_cast<std::size_t>(n);
        } else {
            throw ferry::cli::usage_error("unknown argument '" + std::string(arg) + "' (see --help)");
        }
    }
    if (!have_to)
        throw ferry::cli::usage_error("--to HOST:PORT is required (see --help)");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    ferry::relay::relay_options options;
    try {
        options = parse(args);
    } catch (const ferry::cli::usage_error& e) {
        std::cerr << "ferry-relay: " << e.what() << "\n";
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    boost::asio::io_context io(1);
    // Caught from the start (a signal during the resolve waits for the handler below).
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    try {
        ferry::relay::relay_server relay(io, options);
        relay.start();
        signals.async_wait([&](const boost::system::error_code&, int) {
            relay.stop();
            io.stop();
        });
        std::fprintf(stderr, "ferry-relay: listening on 127.0.0.1:%u\n", static_cast<unsigned>(relay.port()));
        std::fflush(stderr);
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "ferry-relay: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
