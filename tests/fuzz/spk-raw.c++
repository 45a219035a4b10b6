// .spk reading from raw bytes: magic, xz or zstd, the Signature message, the signature and the
// zstd trailer. Random bytes rarely get past the signature (spk-signed covers what follows);
// this target is about the container and the decompressors under hostile input.
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/spk-support.h"

SS_FUZZ_TARGET("spk-raw") {
  ss::fuzz::readAndUnpack(kj::arrayPtr(data, size));
  return 0;
}
