// The daemon's side of a WebSocket handshake (http/websocket-accept.h, as shell/grain-gateway.c++
// uses it): a request head through the strict parser, then the version/key/subprotocol checks.
// Oracles: a handshake is accepted only with version 13 and a 24-character base64 key; the
// accept value is 28 base64 characters; offered subprotocols are non-empty, trimmed, comma-free
// (they go into a capnp list and possibly back into a response header).
#include <string_view>

#include "http/head-parser.h"
#include "http/websocket-accept.h"
#include "tests/fuzz/fuzz.h"

namespace {

using namespace ss::http;

bool base64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

void checkHandshake(const Request& request) {
  auto h = checkWebSocketHandshake(request);
  if (h.status != 0) {
    FUZZ_CHECK(h.status == 400 || h.status == 426);
    return;
  }
  auto* version = request.find("Sec-WebSocket-Version");
  auto* key = request.find("Sec-WebSocket-Key");
  FUZZ_CHECK(version != nullptr && version->value == "13");
  FUZZ_CHECK(key != nullptr && key->value.size() == 24);
  FUZZ_CHECK(h.accept.size() == 28 && h.accept[27] == '=');
  for (size_t i = 0; i < 27; i++) FUZZ_CHECK(base64Char(h.accept[i]));
  for (auto& p: h.offered) {
    FUZZ_CHECK(p.size() > 0);
    FUZZ_CHECK(p[0] != ' ' && p[0] != '\t' && p[p.size() - 1] != ' ' && p[p.size() - 1] != '\t');
    for (char c: p) FUZZ_CHECK(c != ',' && c != '\r' && c != '\n' && c != '\0');
  }
}

}  // namespace

SS_FUZZ_TARGET("ws-handshake") {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The raw bytes as a key and as a protocol list, so those functions see every byte value.
  if (isValidWebSocketKey(input)) FUZZ_CHECK(input.size() == 24);
  for (auto& p: splitProtocols(input)) FUZZ_CHECK(p.size() > 0 && p.size() <= input.size());

  static Request request;
  request = Request();
  auto result = parseHead(input, request);
  if (result.kind != HeadResult::COMPLETE) return 0;
  // The gateway asks for the handshake only on an upgrade; check every head anyway (the checks
  // must not depend on the parser having recognised it).
  checkHandshake(request);
  return 0;
}
