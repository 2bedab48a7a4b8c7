#pragma once

// WebSocket framing (RFC 6455, section 5) as the server side needs it: reading a client's frame
// header, unmasking its payload, writing the header of an unmasked server frame, and checking that
// a text message is UTF-8. No I/O: websocket_session reads and writes the socket.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ferry::websocket_frame {

/// The longest header of a client's frame (masked, 64-bit length) and of a server's.
constexpr std::size_t max_header = 14;
constexpr std::size_t max_server_header = 10;

enum class opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

/// Close codes the server sends (RFC 6455, 7.4.1).
enum close_code : std::uint16_t {
    normal = 1000,
    going_away = 1001,
    protocol_error = 1002,
    unsupported_data = 1003, ///< a binary message on a text protocol
    bad_payload = 1007,      ///< text that is not UTF-8
    too_big = 1009,
};

struct header {
    bool fin = false;
    opcode op = opcode::continuation;
    std::uint64_t length = 0;          ///< payload bytes
    std::array<unsigned char, 4> mask{}; ///< the client's masking key
    std::size_t size = 0;              ///< bytes of the header itself (6 to 14)
};

enum class parse_result {
    incomplete, ///< more bytes are needed for the header
    ok,
    bad, ///< not a frame a client may send: close with protocol_error
};

/// Reads the header of a client's frame from the first `n` bytes of `data`. Bad: reserved bits set
/// (no extension is negotiated), an unknown opcode, a frame not masked, a control frame that is
/// fragmented or longer than 125 bytes, a length with its top bit set.
parse_result parse_client_header(const unsigned char* data, std::size_t n, header& out) noexcept;

/// Unmasks (or masks: the same) `n` payload bytes with `mask`.
void unmask(char* data, std::size_t n, const std::array<unsigned char, 4>& mask) noexcept;

/// Writes the header of a server frame (final, unmasked) into `out`; returns its size (2 to 10).
std::size_t server_header(opcode op, std::uint64_t length, unsigned char (&out)[max_server_header]) noexcept;

/// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_utf8(std::string_view text) noexcept;

} // namespace ferry::websocket_frame
