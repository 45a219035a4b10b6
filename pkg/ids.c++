#include "pkg/ids.h"

#include <stdint.h>

#include <kj/debug.h>
#include <kj/encoding.h>

namespace ss::pkg {

namespace {

constexpr char DIGITS[] = "0123456789acdefghjkmnpqrstuvwxyz";

int digitValue(char c) {
  if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
  switch (c) {
    case 'o': return 0;   // look-alikes, as Sandstorm's decoder
    case 'i': case 'l': return 1;
    case 'b': return 8;
    default: break;
  }
  for (int i = 0; i < 32; i++) {
    if (DIGITS[i] == c) return i;
  }
  return -1;
}

}  // namespace

kj::String base32Encode(kj::ArrayPtr<const kj::byte> data) {
  auto result = kj::heapString((data.size() * 8 + 4) / 5);
  uint32_t buffer = 0;  // bits not yet emitted, right-aligned
  unsigned bits = 0;
  size_t out = 0;
  for (kj::byte b: data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      result[out++] = DIGITS[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) result[out++] = DIGITS[(buffer << (5 - bits)) & 31];
  KJ_ASSERT(out == result.size());
  return result;
}

kj::Maybe<kj::Array<kj::byte>> base32Decode(kj::StringPtr text) {
  auto result = kj::heapArray<kj::byte>(text.size() * 5 / 8);
  uint32_t buffer = 0;
  unsigned bits = 0;
  size_t out = 0;
  for (char c: text) {
    int value = digitValue(c);
    if (value < 0) return nullptr;
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      result[out++] = (buffer >> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // Leftover bits are padding: non-zero ones mean the text was not produced by the encoder.
  if ((buffer & ((1u << bits) - 1)) != 0) return nullptr;
  KJ_ASSERT(out == result.size());
  return kj::mv(result);
}

kj::String appIdText(kj::ArrayPtr<const kj::byte> publicKey) {
  KJ_REQUIRE(publicKey.size() == PUBLIC_KEY_BYTES, "public key must be 32 bytes",
             publicKey.size());
  return base32Encode(publicKey);
}

kj::Maybe<kj::Array<kj::byte>> parseAppId(kj::StringPtr text) {
  if (text.size() != APP_ID_TEXT_SIZE) return nullptr;
  KJ_IF_MAYBE(key, base32Decode(text)) {
    if (key->size() == PUBLIC_KEY_BYTES) return kj::mv(*key);
  }
  return nullptr;
}

kj::String packageIdText(kj::ArrayPtr<const kj::byte> sha256OfFile) {
  KJ_REQUIRE(sha256OfFile.size() >= PACKAGE_ID_BYTES);
  return kj::encodeHex(sha256OfFile.slice(0, PACKAGE_ID_BYTES));
}

bool isPackageIdText(kj::StringPtr text) {
  if (text.size() != PACKAGE_ID_TEXT_SIZE) return false;
  for (char c: text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace ss::pkg
