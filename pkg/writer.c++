#include "pkg/writer.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/encoding.h>

#include "pkg/archive-check.h"
#include "pkg/format.h"
#include "pkg/ids.h"
#include "rpc/package.capnp.h"

namespace ss::pkg {

namespace {

class HashingOutputStream final: public kj::OutputStream {
  // Passes bytes on (if `inner` is set) while hashing them: SHA-512 for the signature (no inner
  // stream) or SHA-256 of the file for the package ID.
public:
  enum Algorithm { SHA256, SHA512, BLAKE2B };
  HashingOutputStream(Algorithm algorithm, kj::OutputStream* inner)
      : algorithm(algorithm), inner(inner) {
    if (algorithm == SHA256) crypto_hash_sha256_init(&sha256);
    else if (algorithm == BLAKE2B) crypto_generichash_init(&blake2b, nullptr, 0, 64);
    else crypto_hash_sha512_init(&sha512);
  }
  void write(const void* buffer, size_t size) override {
    auto* bytes = static_cast<const kj::byte*>(buffer);
    if (algorithm == SHA256) crypto_hash_sha256_update(&sha256, bytes, size);
    else if (algorithm == BLAKE2B) crypto_generichash_update(&blake2b, bytes, size);
    else crypto_hash_sha512_update(&sha512, bytes, size);
    if (inner != nullptr) inner->write(buffer, size);
  }
  kj::Array<kj::byte> digest() {
    if (algorithm == SHA256) {
      auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
      crypto_hash_sha256_final(&sha256, out.begin());
      return out;
    }
    if (algorithm == BLAKE2B) {
      auto out = kj::heapArray<kj::byte>(64);
      crypto_generichash_final(&blake2b, out.begin(), out.size());
      return out;
    }
    auto out = kj::heapArray<kj::byte>(crypto_hash_sha512_BYTES);
    crypto_hash_sha512_final(&sha512, out.begin());
    return out;
  }

private:
  Algorithm algorithm;
  kj::OutputStream* inner;
  crypto_hash_sha256_state sha256;
  crypto_hash_sha512_state sha512;
  crypto_generichash_state blake2b;
};

capnp::Orphan<capnp::Data> readHostFile(capnp::Orphanage orphanage, kj::StringPtr path) {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
  kj::AutoCloseFd owned(fd);
  struct stat st;
  KJ_SYSCALL(::fstat(fd, &st), path);
  KJ_REQUIRE(S_ISREG(st.st_mode), "not a regular file", path);
  auto orphan = orphanage.newOrphan<capnp::Data>(st.st_size);
  auto data = orphan.get();
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, data.begin() + done, data.size() - done), path);
    KJ_REQUIRE(n > 0, "file shrank while being packed", path);
    done += n;
  }
  return orphan;
}

void buildDirectory(const PackageTree::Entry& dir, capnp::List<spk::Archive::File>::Builder out,
                    capnp::Orphanage orphanage, unsigned depth, kj::StringPtr dirPath) {
  // Sorted by name, so the same tree always yields the same archive bytes.
  kj::Vector<const PackageTree::Entry*> sorted;
  for (auto& child: dir.children) sorted.add(child.get());
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  for (uint i = 0; i < sorted.size(); i++) {
    const PackageTree::Entry& entry = *sorted[i];
    auto file = out[i];
    file.setName(entry.name);
    file.setLastModificationTimeNs(entry.mtimeNs);
    auto path = dirPath.size() == 0 ? kj::str(entry.name) : kj::str(dirPath, "/", entry.name);
    switch (entry.kind) {
      case PackageTree::Kind::REGULAR:
      case PackageTree::Kind::EXECUTABLE: {
        capnp::Orphan<capnp::Data> data;
        KJ_IF_MAYBE(content, entry.inlineContent) {
          data = orphanage.newOrphanCopy(capnp::Data::Reader(*content));
        } else {
          data = readHostFile(orphanage, entry.hostPath);
        }
        if (entry.kind == PackageTree::Kind::REGULAR) file.adoptRegular(kj::mv(data));
        else file.adoptExecutable(kj::mv(data));
        break;
      }
      case PackageTree::Kind::SYMLINK:
        KJ_REQUIRE(!symlinkEscapes(depth, entry.linkTarget),
                   "symlink climbs above the package root; readers would reject the package",
                   path, entry.linkTarget);
        file.setSymlink(entry.linkTarget);
        break;
      case PackageTree::Kind::DIRECTORY:
        buildDirectory(entry, file.initDirectory(entry.children.size()), orphanage, depth + 1,
                       path);
        break;
    }
  }
}

kj::Array<kj::byte> sign(kj::ArrayPtr<const kj::byte> hash, const KeyPair& key) {
  auto signedHash = kj::heapArray<kj::byte>(crypto_sign_BYTES + hash.size());
  unsigned long long size = 0;
  KJ_REQUIRE(crypto_sign(signedHash.begin(), &size, hash.begin(), hash.size(),
                         key.privateKey.begin()) == 0);
  KJ_ASSERT(size == signedHash.size());
  return signedHash;
}

}  // namespace

WriteResult writePackage(const PackageTree& tree, const KeyPair& key, kj::StringPtr outPath,
                         WriteOptions options) {
  KJ_REQUIRE(sodium_init() >= 0, "libsodium failed to initialise");
  KJ_REQUIRE(tree.root().find("sandstorm-manifest") != nullptr,
             "package has no sandstorm-manifest");

  // First segment sized to hold a typical small package in one allocation; big files get their
  // own segments as orphans.
  capnp::MallocMessageBuilder archiveMessage(1 << 20);
  auto archive = archiveMessage.initRoot<spk::Archive>();
  buildDirectory(tree.root(), archive.initFiles(tree.root().children.size()),
                 archiveMessage.getOrphanage(), 0, "");

  // Our format (version 2) signs BLAKE2b-512 digests; Sandstorm's signs SHA-512 (format.h).
  HashingOutputStream archiveHash(options.codec == Codec::ZSTD ? HashingOutputStream::BLAKE2B
                                                               : HashingOutputStream::SHA512,
                                  nullptr);
  capnp::writeMessage(archiveHash, archiveMessage);

  capnp::MallocMessageBuilder signatureMessage;
  auto signature = signatureMessage.initRoot<spk::Signature>();
  signature.setPublicKey(key.publicKey);
  signature.setSignature(sign(archiveHash.digest(), key));

  // Into a temporary name beside the output, so a failed pack never leaves a half file under the
  // name a developer will upload.
  kj::byte random[6];
  randombytes_buf(random, sizeof(random));
  auto tempPath = kj::str(outPath, ".tmp-", kj::encodeHex(random));
  int fd;
  KJ_SYSCALL(fd = ::open(tempPath.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
             tempPath);
  kj::AutoCloseFd owned(fd);
  bool done = false;
  KJ_DEFER(if (!done) ::unlink(tempPath.cStr()));

  kj::FdOutputStream fileStream(fd);
  kj::BufferedOutputStreamWrapper buffered(fileStream);
  HashingOutputStream fileHash(HashingOutputStream::SHA256, &buffered);
  // Our zstd format ends with a detached signature over everything before it (format.h).
  HashingOutputStream containerHash(HashingOutputStream::BLAKE2B, &fileHash);
  containerHash.write(magicFor(options.codec), MAGIC_BYTES);
  int level = options.level >= 0 ? options.level : (options.codec == Codec::XZ ? 6 : 12);
  CompressingOutputStream compressed(options.codec, containerHash, level, options.threads);
  capnp::writeMessage(compressed, signatureMessage);
  capnp::writeMessage(compressed, archiveMessage);
  compressed.finish();
  if (options.codec == Codec::ZSTD) {
    auto digest = containerHash.digest();
    kj::byte trailer[crypto_sign_BYTES];
    crypto_sign_detached(trailer, nullptr, digest.begin(), digest.size(), key.privateKey.begin());
    fileHash.write(trailer, sizeof(trailer));
  }
  buffered.flush();
  KJ_SYSCALL(::fsync(fd), tempPath);
  struct stat st;
  KJ_SYSCALL(::fstat(fd, &st), tempPath);
  KJ_SYSCALL(::rename(tempPath.cStr(), outPath.cStr()), tempPath, outPath);
  done = true;

  return WriteResult{key.appId(), packageIdText(fileHash.digest()),
                     static_cast<uint64_t>(st.st_size),
                     capnp::computeSerializedSizeInWords(archiveMessage) * 8};
}

}  // namespace ss::pkg
