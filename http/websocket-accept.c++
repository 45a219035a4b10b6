#include "http/websocket-accept.h"

#include <stdint.h>
#include <string.h>

#include <kj/encoding.h>
#include <kj/vector.h>

namespace ss::http {

namespace {

inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// FIPS 180-4 §6.1.2, one 64-byte block.
void compress(uint32_t h[5], const kj::byte* block) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = uint32_t(block[4 * i]) << 24 | uint32_t(block[4 * i + 1]) << 16 |
           uint32_t(block[4 * i + 2]) << 8 | uint32_t(block[4 * i + 3]);
  }
  for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    uint32_t t = rotl(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

}  // namespace

kj::FixedArray<kj::byte, 20> sha1(kj::ArrayPtr<const kj::byte> data) {
  uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  size_t full = data.size() / 64;
  for (size_t i = 0; i < full; ++i) compress(h, data.begin() + 64 * i);
  // Padding: 0x80, zeros, then the bit length as a big-endian 64-bit number.
  kj::byte tail[128];
  memset(tail, 0, sizeof(tail));
  size_t rest = data.size() - 64 * full;
  memcpy(tail, data.begin() + 64 * full, rest);
  tail[rest] = 0x80;
  size_t tailSize = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = uint64_t(data.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tailSize - 1 - i] = kj::byte(bits >> (8 * i));
  for (size_t i = 0; i < tailSize; i += 64) compress(h, tail + i);
  kj::FixedArray<kj::byte, 20> out;
  for (int i = 0; i < 5; ++i) {
    out[4 * i] = kj::byte(h[i] >> 24);
    out[4 * i + 1] = kj::byte(h[i] >> 16);
    out[4 * i + 2] = kj::byte(h[i] >> 8);
    out[4 * i + 3] = kj::byte(h[i]);
  }
  return out;
}

kj::String webSocketAccept(kj::StringPtr key) {
  auto input = kj::str(key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  auto digest = sha1(input.asBytes());
  return kj::encodeBase64(kj::arrayPtr(digest.begin(), digest.size()));
}

bool isValidWebSocketKey(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; i++) {
    char c = key[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

kj::Vector<kj::String> splitProtocols(std::string_view value) {
  kj::Vector<kj::String> out;
  size_t i = 0;
  while (i < value.size()) {
    size_t comma = value.find(',', i);
    if (comma == std::string_view::npos) comma = value.size();
    auto item = value.substr(i, comma - i);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.add(kj::heapString(item.data(), item.size()));
    i = comma + 1;
  }
  return out;
}

WebSocketHandshake checkWebSocketHandshake(const Request& request) {
  WebSocketHandshake out;
  auto* version = request.find("Sec-WebSocket-Version");
  if (version == nullptr || version->value != "13") {
    out.status = 426;
    out.reason = "Only WebSocket version 13 (RFC 6455) is supported.\n";
    return out;
  }
  auto* key = request.find("Sec-WebSocket-Key");
  if (key == nullptr || !isValidWebSocketKey(key->value)) {
    out.status = 400;
    out.reason = "Missing or malformed Sec-WebSocket-Key.\n";
    return out;
  }
  out.accept = webSocketAccept(kj::heapString(key->value.data(), key->value.size()));
  for (auto& header: request) {
    if (equalsIgnoreCase(header.name, "Sec-WebSocket-Protocol")) {
      for (auto& p: splitProtocols(header.value)) out.offered.add(kj::mv(p));
    }
  }
  return out;
}

}  // namespace ss::http
