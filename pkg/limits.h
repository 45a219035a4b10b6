// Every bound the package reader and unpacker enforce, each with the reason beside it. A package
// that crosses one is rejected before (or while) it is written, never after.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace ss::pkg::limits {

constexpr uint64_t MAX_ARCHIVE_BYTES = 1ull << 30;
// Decompressed Archive message, framing included. Sandstorm's APP_SIZE_LIMIT (spk.c++): the
// whole message is held in memory once while verifying, and real apps stay far below (the
// biggest Sandstorm apps were ~300 MiB). A stream that decompresses past this is a bomb.

constexpr uint64_t MAX_SIGNATURE_BYTES = 4096;
// The Signature message is 32 + 128 bytes of data plus framing; anything bigger is not ours.

constexpr uint64_t MAX_UNPACKED_BYTES = MAX_ARCHIVE_BYTES;
// Sum of file contents and link targets written to disk. Checked separately from the message
// size because capnp pointers may alias (one blob referenced a million times, "pointer
// amplification"): the message can be small while the tree it describes is huge.

constexpr uint64_t TRAVERSAL_LIMIT_WORDS = 4 * (MAX_ARCHIVE_BYTES / 8);
// capnp ReaderOptions.traversalLimitInWords for the Archive. We walk the tree twice (validate,
// then write) and a little more for the manifest, so allow 4x the largest honest archive; an
// aliasing archive hits MAX_UNPACKED_BYTES first anyway.

constexpr int NESTING_LIMIT = 128;
// capnp ReaderOptions.nestingLimit, as Sandstorm sets it: each directory level costs two (the
// list and the struct), so this also caps directory depth near 63.

constexpr unsigned MAX_DIRECTORY_DEPTH = 48;
// Checked explicitly (below what NESTING_LIMIT allows) so a deep tree gets a clear message
// naming the path. Each level holds one open fd while unpacking; real packages rarely exceed 20.

constexpr uint64_t MAX_FILE_COUNT = 500000;
// Entries of all kinds. Node apps with vendored node_modules reach ~100k; this bounds inode use
// and unpack time for a hostile package.

constexpr size_t MAX_NAME_BYTES = 255;
// NAME_MAX on Linux filesystems; longer names would fail at create time anyway, with a worse
// message.

constexpr size_t MAX_SYMLINK_BYTES = 4095;
// PATH_MAX - 1: the kernel refuses longer targets.

constexpr uint64_t MANIFEST_LIMIT_WORDS = 1048576;
// Manifest.sizeLimitInWords (8 MiB), Sandstorm's bound wherever a manifest is read.

constexpr size_t READ_CHUNK_BYTES = 1 << 20;
// Compressed bytes read per read(): large enough to keep syscalls off the profile, small enough
// that the raw file is never held in memory (only the decompressed Archive is, once).

}  // namespace ss::pkg::limits

namespace ss::pkg::limits {

constexpr uint64_t XZ_MEMLIMIT_BYTES = 512ull << 20;
// liblzma decoder memory cap. An xz header may declare a dictionary of up to 1.5 GiB; honest
// packages (xz -6..-9, 8-64 MiB dictionaries, two threads) need far less.

constexpr int ZSTD_WINDOW_LOG_MAX = 27;
// 128 MiB window, zstd's own default cap for decoders; our writer uses much less.

}  // namespace ss::pkg::limits
