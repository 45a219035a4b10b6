// Textual IDs, exactly as Sandstorm prints them (facts/sandstorm.md §2.2):
// - app ID: the 32-byte ed25519 public key in Sandstorm's base32 (52 lowercase characters);
// - package ID: the first 16 bytes of SHA-256 of the whole .spk file, lowercase hex (32 chars).
#pragma once

#include <kj/array.h>
#include <kj/common.h>
#include <kj/string.h>

namespace ss::pkg {

constexpr size_t PUBLIC_KEY_BYTES = 32;
constexpr size_t APP_ID_TEXT_SIZE = 52;
constexpr size_t PACKAGE_ID_BYTES = 16;
constexpr size_t PACKAGE_ID_TEXT_SIZE = 32;

kj::String base32Encode(kj::ArrayPtr<const kj::byte> data);
// Sandstorm's alphabet "0123456789acdefghjkmnpqrstuvwxyz" (no b, i, l, o), most significant bit
// first, the last group zero-padded.

kj::Maybe<kj::Array<kj::byte>> base32Decode(kj::StringPtr text);
// Inverse of base32Encode. Case-insensitive; accepts the look-alikes Sandstorm accepts (o->0,
// i->1, l->1, b->8). Null on any other character or if the padding bits are not zero.

kj::String appIdText(kj::ArrayPtr<const kj::byte> publicKey);
kj::Maybe<kj::Array<kj::byte>> parseAppId(kj::StringPtr text);
// The 32-byte key for a 52-character app ID; null if it is not one.

kj::String packageIdText(kj::ArrayPtr<const kj::byte> sha256OfFile);
// Lowercase hex of the first 16 bytes.

bool isPackageIdText(kj::StringPtr text);
// 32 lowercase hex digits: the only names allowed under the packages directory.

}  // namespace ss::pkg
