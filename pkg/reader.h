// Reading and verifying a .spk: one streaming pass over the file.
//
//   file ──read 1 MiB──▶ SHA-256 (package ID) ──▶ xz/zstd ──▶ Signature message
//                                                         └─▶ SHA-512 ──▶ Archive message
//
// The decompressed Archive is held in memory exactly once (capnp reads it in place; the
// compressed file is never buffered whole). Order of trust: the signature is checked as soon as
// the Archive's last byte has been hashed and before anything in it is interpreted beyond what
// decoding needs; then the tree is validated (archive-check.h) and the manifest parsed. Only a
// package that passed all of that is ever handed to the unpacker, so verify-then-unpack costs
// one decompression, not two.
#pragma once

#include <capnp/serialize.h>
#include <kj/memory.h>
#include <kj/string.h>

#include "pkg/archive-check.h"
#include "pkg/codec.h"
#include "rpc/package.capnp.h"

namespace ss::pkg {

class VerifiedPackage {
  // A package whose signature, structure and manifest have all been checked. Readers point into
  // memory owned by this object: keep it alive while using them.
public:
  Codec codec;
  kj::String displayName;   // the file as named in messages
  kj::String appId;         // 52-char base32 of the public key
  kj::String packageId;     // 32 hex chars: SHA-256 of the file, first 16 bytes
  kj::Array<kj::byte> publicKey;
  uint64_t fileBytes = 0;
  uint64_t archiveBytes = 0;  // decompressed Archive message, framing included
  ArchiveTotals totals;

  spk::Archive::Reader archive;
  spk::Manifest::Reader manifest;

  kj::StringPtr title() const;          // appTitle.defaultText, or "" if absent
  kj::StringPtr marketingVersion() const;
  uint32_t version() const { return manifest.getAppVersion(); }

  // Storage behind the readers.
  kj::Array<capnp::word> archiveWords;
  kj::Own<capnp::FlatArrayMessageReader> archiveMessage;
  kj::Array<capnp::word> manifestWords;
  kj::Own<capnp::FlatArrayMessageReader> manifestMessage;
};

kj::Own<VerifiedPackage> readPackage(kj::StringPtr path, const ReadLimits& limits = {});
kj::Own<VerifiedPackage> readPackage(int fd, kj::StringPtr displayName,
                                     const ReadLimits& limits = {});
// Reads and verifies the whole package. Any problem (bad magic, truncation, trailing data,
// decompression bomb, bad signature, invalid tree or manifest) throws a rejection naming
// `displayName` and the problem; I/O errors throw ordinary KJ errors naming the file.

kj::Array<kj::byte> sha256File(kj::StringPtr path);
// Convenience for tools and tests.

}  // namespace ss::pkg
