// Writing a signed package from a PackageTree:
//   1. build the Archive message, reading each host file straight into the message (the tree's
//      contents are held in memory once);
//   2. SHA-512 of the serialized Archive (capnp framing included), signed with crypto_sign;
//   3. magic + compressed(Signature, Archive) to a temporary file beside the output, fsync,
//      rename over the output name.
#pragma once

#include <kj/string.h>

#include "pkg/codec.h"
#include "pkg/keyring.h"
#include "pkg/package-tree.h"

namespace ss::pkg {

struct WriteOptions {
  Codec codec = Codec::ZSTD;
  int level = -1;   // -1: the codec's default for packages (zstd 12, xz 6)
  int threads = 2;
};

struct WriteResult {
  kj::String appId;
  kj::String packageId;
  uint64_t fileBytes = 0;
  uint64_t archiveBytes = 0;
};

WriteResult writePackage(const PackageTree& tree, const KeyPair& key, kj::StringPtr outPath,
                         WriteOptions options = {});
// Throws naming the host file on read errors, and if the tree holds a symlink that the reader
// would reject (climbing above the package root), so a developer learns at pack time.

}  // namespace ss::pkg
