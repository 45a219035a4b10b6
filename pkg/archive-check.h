// Validates an Archive tree before a single byte of it touches the disk: names, entry types,
// symlink targets, counts, sizes and depth (facts/security.md §2.6). The unpacker relies on these
// checks having passed, but still creates every entry with no-follow, exclusive semantics.
#pragma once

#include <kj/string.h>

#include "pkg/limits.h"
#include "rpc/package.capnp.h"

namespace ss::pkg {

struct ArchiveTotals {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // file contents plus symlink targets
};

struct ReadLimits {
  // Defaults from pkg/limits.h; tests lower them to exercise each bound cheaply.
  uint64_t maxArchiveBytes = limits::MAX_ARCHIVE_BYTES;
  uint64_t maxUnpackedBytes = limits::MAX_UNPACKED_BYTES;
  uint64_t maxEntries = limits::MAX_FILE_COUNT;
  unsigned maxDepth = limits::MAX_DIRECTORY_DEPTH;
};

ArchiveTotals checkArchive(spk::Archive::Reader archive, kj::StringPtr package,
                           const ReadLimits& limits = {});
// Rejects (see reject.h) the first problem found, naming the entry's path. Also converts capnp
// decoding failures inside the tree (bad pointers, nesting and traversal limits) into
// rejections.

kj::Maybe<kj::StringPtr> checkName(kj::StringPtr name);
// Null if `name` is a valid directory entry name, else the problem: empty, ".", "..", contains
// '/' or NUL, or longer than NAME_MAX.

bool symlinkEscapes(unsigned depth, kj::StringPtr target);
// Whether `target`, stored in a directory `depth` levels below the package root, would climb
// above the root when resolved lexically. Absolute targets start at the package root: inside the
// grain "/" is the package. Symlinks are never followed on the host, so this check is defence in
// depth and policy, not what keeps the host safe.

kj::String renderName(kj::StringPtr name);
// A name made printable for messages (C escapes for control bytes and NUL).

}  // namespace ss::pkg
