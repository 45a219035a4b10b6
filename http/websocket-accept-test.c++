#include "http/websocket-accept.h"

#include <kj/encoding.h>

#include "tests/test-support.h"

namespace ss::http {
namespace {

kj::String hexSha1(kj::StringPtr s) {
  auto d = sha1(s.asBytes());
  return kj::encodeHex(kj::arrayPtr(d.begin(), d.size()));
}

TEST_CASE("SHA-1 matches FIPS 180 test vectors", "[http]") {
  CHECK(hexSha1("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hexSha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hexSha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST_CASE("Sec-WebSocket-Accept matches RFC 6455's example", "[http]") {
  CHECK(webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

}  // namespace
}  // namespace ss::http
