// The two package containers we read. Both are: 8-byte magic, then one compressed stream whose
// plaintext is a capnp `Signature` message followed by a capnp `Archive` message (rpc/package.capnp).
//
//   Sandstorm's:  8f c6 cd ef 45 1a ea 96  + xz   (facts/sandstorm.md §2.1)
//   Ours:         8f c6 cd ef 53 53 7a 02  + zstd ("SSz", format version 2)
//                 + 64-byte trailer: crypto_sign_detached over BLAKE2b-512 of every byte before it
//   Ours, v1:     8f c6 cd ef 53 53 7a 01  the same with SHA-512 digests (still read, no longer
//                 written)
//
// Version 2 signs BLAKE2b-512 digests (of the Archive, and of the container for the trailer)
// instead of SHA-512: libsodium's BLAKE2b runs about twice as fast as its SHA-512 here, and
// hashing the archive was what bounded unpack speed. Sandstorm's xz format keeps SHA-512.
//
// Why the trailer: the Signature covers the decompressed Archive, not the compressed bytes.
// xz protects its framing with CRCs, so a changed byte always fails to decode, but a zstd frame
// has slack (the window descriptor byte, unused entropy-table entries): some bytes can change
// while the output stays identical, which would yield a different package ID for the same
// signed content. The trailer, made with the same key, closes that gap at the cost of one more
// SHA-512 over the (small) compressed bytes.
//
// Ours keeps Sandstorm's first four bytes so tools that sniff them still see "a Sandstorm
// package", and differs in the last four so Sandstorm's own spk tool refuses it cleanly (wrong
// magic) instead of feeding zstd bytes to xz.
#pragma once

#include <kj/common.h>

#include "pkg/codec.h"

namespace ss::pkg {

constexpr size_t MAGIC_BYTES = 8;
constexpr kj::byte SANDSTORM_XZ_MAGIC[MAGIC_BYTES] = {0x8f, 0xc6, 0xcd, 0xef,
                                                      0x45, 0x1a, 0xea, 0x96};
constexpr kj::byte SANDSTORM_ZSTD_MAGIC[MAGIC_BYTES] = {0x8f, 0xc6, 0xcd, 0xef,
                                                        0x53, 0x53, 0x7a, 0x02};
constexpr kj::byte SANDSTORM_ZSTD_MAGIC_V1[MAGIC_BYTES] = {0x8f, 0xc6, 0xcd, 0xef,
                                                           0x53, 0x53, 0x7a, 0x01};

inline const kj::byte* magicFor(Codec codec) {
  return codec == Codec::XZ ? SANDSTORM_XZ_MAGIC : SANDSTORM_ZSTD_MAGIC;
}

inline kj::StringPtr formatName(Codec codec) {
  return codec == Codec::XZ ? "sandstorm (xz)" : "sandstorm-zstd (ours)";
}

}  // namespace ss::pkg
