// Test helpers: hand-built archives (including ones our writer would never produce), signed and
// compressed into .spk files, plus a "sandbox" directory with a sentinel file outside the packages
// directory to prove a rejected package wrote nothing anywhere.
#pragma once

#include <capnp/message.h>
#include <kj/function.h>
#include <kj/string.h>

#include "pkg/codec.h"
#include "pkg/keyring.h"
#include "rpc/package.capnp.h"
#include "tests/test-support.h"

namespace ss::pkg::test {

kj::Array<kj::byte> manifestBytes(kj::StringPtr title = "Test App", uint32_t version = 1,
                                  kj::StringPtr website = "");

struct SpkOptions {
  Codec codec = Codec::ZSTD;
  bool signWithOtherKey = false;   // signature by a different key than the one stored
  size_t publicKeyBytes = 32;      // store a truncated / extended public key
  kj::ArrayPtr<const kj::byte> trailingBytes;  // appended after the compressed stream
  kj::ArrayPtr<const kj::byte> trailingPlain;  // appended after the Archive, inside compression
};

void writeSpk(kj::StringPtr path, const KeyPair& key, capnp::MessageBuilder& archive,
              const SpkOptions& options = {});
// Signs the serialized `archive` and writes magic + compressed(Signature, Archive).

using ArchiveFiller = kj::Function<void(capnp::List<spk::Archive::File>::Builder root)>;

void writeSpkWith(kj::StringPtr path, const KeyPair& key, uint rootEntries, ArchiveFiller fill,
                  const SpkOptions& options = {});
// Builds an Archive with `rootEntries` root entries; entry 0 is always a valid
// sandstorm-manifest, `fill` fills the rest.

kj::Array<kj::byte> readAll(kj::StringPtr path);
void writeAll(kj::StringPtr path, kj::ArrayPtr<const kj::byte> bytes);

kj::String run(kj::StringPtr command);
// popen() + read stdout; fails the test on a non-zero exit.

kj::Vector<kj::String> listDir(kj::StringPtr path);  // names, sorted, without . and ..

struct Sandbox {
  // <tmp>/packages (the unpack target) and <tmp>/sentinel (must never change).
  ss::test::TempDir dir;
  kj::String packages;
  kj::String sentinel;
  int packagesFd;
  Sandbox();
  ~Sandbox();
  void expectUntouched();  // sentinel unchanged, packages dir empty (no temp leftovers)
};

}  // namespace ss::pkg::test
