#include "pkg/ids.h"

#include <catch2/catch.hpp>
#include <sodium.h>
#include <string.h>

#include <kj/debug.h>

namespace ss::pkg {
namespace {

// Vectors computed independently with a 6-line Python encoder (bits joined MSB-first, padded
// with zeros, mapped through Sandstorm's alphabet).
TEST_CASE("base32 matches Sandstorm's encoding on known vectors", "[pkg][ids]") {
  kj::byte counting[32];
  for (int i = 0; i < 32; i++) counting[i] = i;
  CHECK(base32Encode(kj::arrayPtr(counting, 32)) ==
        "000h40s40n30f209185hs38f1w8124hm2hajd5ss34e1q70x3sgh");
  kj::byte ones[32];
  memset(ones, 0xff, 32);
  CHECK(base32Encode(kj::arrayPtr(ones, 32)) ==
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzh");
  CHECK(base32Encode(kj::StringPtr("hello").asBytes()) == "e1kqsv3g");
  CHECK(appIdText(kj::arrayPtr(counting, 32)).size() == APP_ID_TEXT_SIZE);
}

TEST_CASE("a real Sandstorm app ID decodes to a key and re-encodes identically", "[pkg][ids]") {
  // From dwrensha/sandstorm-test-python's pkgdef (facts/sandstorm.md §2.2).
  kj::StringPtr id = "umeqc9yhncg63fjj6sahtw30nf99kfm6tgkuz8rmhn5dqtusnwah";
  auto key = KJ_ASSERT_NONNULL(parseAppId(id));
  CHECK(key.size() == 32);
  CHECK(appIdText(key) == id);
}

TEST_CASE("base32 decoding accepts look-alikes and rejects bad text", "[pkg][ids]") {
  auto upper = KJ_ASSERT_NONNULL(base32Decode("E1KQSV3G"));
  CHECK(kj::str(upper.asChars()) == "hello");
  // o->0, i/l->1, b->8 as in Sandstorm's decoder.
  auto a = KJ_ASSERT_NONNULL(base32Decode("00001180"));
  auto b = KJ_ASSERT_NONNULL(base32Decode("OoOoIL8o"));
  CHECK(a == b);
  CHECK(base32Decode("e1kq!v3g") == nullptr);
  CHECK(base32Decode("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzj") == nullptr);  // padding
  CHECK(parseAppId("tooshort") == nullptr);
}

TEST_CASE("package ID is the hex of the first 16 bytes of SHA-256", "[pkg][ids]") {
  REQUIRE(sodium_init() >= 0);
  kj::byte hash[32];
  crypto_hash_sha256(hash, reinterpret_cast<const kj::byte*>("abc"), 3);
  // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  CHECK(packageIdText(kj::arrayPtr(hash, 32)) == "ba7816bf8f01cfea414140de5dae2223");
  CHECK(isPackageIdText("ba7816bf8f01cfea414140de5dae2223"));
  CHECK_FALSE(isPackageIdText("../8f01cfea414140de5dae22230000"));
  CHECK_FALSE(isPackageIdText("BA7816BF8F01CFEA414140DE5DAE2223"));
}

}  // namespace
}  // namespace ss::pkg
