// Shared by the spk-raw and spk-signed targets: read + verify an .spk held in memory, unpack it
// into a scratch directory on tmpfs, check what was written, and remove it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <kj/array.h>

#include "pkg/codec.h"

namespace ss::fuzz {

void readAndUnpack(kj::ArrayPtr<const kj::byte> spk);
// Oracles: a rejected package leaves the scratch directory empty; an accepted one unpacks to
// only regular files, directories and symlinks, modes 0444/0555 at most, nothing setuid,
// setgid or sticky, nothing outside the target; removal leaves the scratch directory empty.

kj::Array<kj::byte> signedSpk(ss::pkg::Codec codec, kj::ArrayPtr<const kj::byte> archive);
// A container (Sandstorm's xz, or our zstd version 1 with its trailer) whose plaintext is a
// Signature message by a fixed test key over `archive`, then `archive` verbatim, so the
// signature verifies whatever the bytes are and the reader goes on to decode them.

}  // namespace ss::fuzz
