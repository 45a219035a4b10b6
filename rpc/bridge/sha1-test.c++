#include "rpc/bridge/sha1.h"

#include <kj/encoding.h>

#include "tests/test-support.h"

namespace {
kj::String hex(kj::ArrayPtr<const kj::byte> bytes) { return kj::encodeHex(bytes); }
kj::ArrayPtr<const kj::byte> bytesOf(kj::StringPtr text) { return text.asBytes(); }
}  // namespace

TEST_CASE("sha1 matches the FIPS 180 test vectors", "[bridge]") {
  CHECK(hex(ss::bridge::sha1(bytesOf(""))) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(ss::bridge::sha1(bytesOf("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(ss::bridge::sha1(bytesOf(
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // A million 'a's crosses many blocks.
  kj::String million = kj::heapString(1000000);
  for (auto& c: million) c = 'a';
  CHECK(hex(ss::bridge::sha1(million.asBytes())) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("Sec-WebSocket-Accept matches RFC 6455's example", "[bridge]") {
  CHECK(ss::bridge::webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
