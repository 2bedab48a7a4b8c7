#include "net/websocket_frame.hpp"

#include <cstring>

namespace ferry::websocket_frame {

namespace {

bool known(unsigned op) noexcept { return op <= 2 || (op >= 8 && op <= 10); }

} // namespace

parse_result parse_client_header(const unsigned char* data, std::size_t n, header& out) noexcept {
    if (n < 2)
        return parse_result::incomplete;
    unsigned first = data[0], second = data[1];
    if ((first & 0x70) != 0 || !known(first & 0x0f) || (second & 0x80) == 0)
        return parse_result::bad;
    out.fin = (first & 0x80) != 0;
    out.op = static_cast<opcode>(first & 0x0f);
    std::uint64_t length = second & 0x7f;
    std::size_t at = 2;
    if (length == 126) {
        if (n < at + 2)
            return parse_result::incomplete;
        length = (std::uint64_t(data[2]) << 8) | data[3];
        at += 2;
    } else if (length == 127) {
        if (n < at + 8)
            return parse_result::incomplete;
        length = 0;
        for (std::size_t i = 0; i < 8; ++i)
            length = (length << 8) | data[at + i];
        if (length >> 63)
            return parse_result::bad;
        at += 8;
    }
    bool control = (first & 0x08) != 0;
    if (control && (!out.fin || length > 125))
        return parse_result::bad;
    if (n < at + 4)
        return parse_result::incomplete;
    std::memcpy(out.mask.data(), data + at, 4);
    out.length = length;
    out.size = at + 4;
    return parse_result::ok;
}

void unmask(char* data, std::size_t n, const std::array<unsigned char, 4>& mask) noexcept {
    // Eight bytes at a time with the key repeated, then the rest.
    std::uint64_t wide = 0;
    for (std::size_t i = 0; i < 8; ++i)
        reinterpret_cast<unsigned char*>(&wide)[i] = mask[i % 4];
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t chunk;
        std::memcpy(&chunk, data + i, 8);
        chunk ^= wide;
        std::memcpy(data + i, &chunk, 8);
    }
    for (; i < n; ++i)
        data[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ mask[i % 4]);
}

std::size_t server_header(opcode op, std::uint64_t length, unsigned char (&out)[max_server_header]) noexcept {
    out[0] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
    if (length < 126) {
        out[1] = static_cast<unsigned char>(length);
        return 2;
    }
    if (length <= 0xffff) {
        out[1] = 126;
        out[2] = static_cast<unsigned char>(length >> 8);
        out[3] = static_cast<unsigned char>(length);
        return 4;
    }
    out[1] = 127;
    for (std::size_t i = 0; i < 8; ++i)
        out[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
    return 10;
}

bool is_utf8(std::string_view text) noexcept {
    auto* p = reinterpret_cast<const unsigned char*>(text.data());
    auto* end = p + text.size();
    while (p < end) {
        // ASCII eight bytes at a time: JSON-RPC calls are mostly ASCII.
        if (end - p >= 8) {
            std::uint64_t chunk;
            std::memcpy(&chunk, p, 8);
            if ((chunk & 0x8080808080808080ull) == 0) {
                p += 8;
                continue;
            }
        }
        unsigned c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t extra;
        unsigned low = 0x80, high = 0xbf; // the bounds of the byte after the lead
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            if (c == 0xe0)
                low = 0xa0; // overlong
            else if (c == 0xed)
                high = 0x9f; // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            if (c == 0xf0)
                low = 0x90; // overlong
            else if (c == 0xf4)
                high = 0x8f; // past U+10FFFF
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= extra)
            return false;
        if (p[1] < low || p[1] > high)
            return false;
        for (std::size_t i = 2; i <= extra; ++i)
            if (p[i] < 0x80 || p[i] > 0xbf)
                return false;
        p += extra + 1;
    }
    return true;
}

} // namespace ferry::websocket_frame
