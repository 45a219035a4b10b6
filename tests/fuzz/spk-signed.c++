// .spk decoding past the signature: the input (after one byte choosing xz or zstd) is the
// plaintext Archive message, signed here with a fixed test key, so the reader always reaches
// the archive checks (names, symlinks, sizes, counts, depth, the manifest) and, when they pass,
// the unpacker writes the tree to tmpfs, where its result is checked and removed.
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/spk-support.h"

SS_FUZZ_TARGET("spk-signed") {
  if (size == 0) return 0;
  auto codec = data[0] & 1 ? ss::pkg::Codec::XZ : ss::pkg::Codec::ZSTD;
  auto spk = ss::fuzz::signedSpk(codec, kj::arrayPtr(data + 1, size - 1));
  ss::fuzz::readAndUnpack(spk);
  return 0;
}
