#include "tests/fuzz/spk-support.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/io.h>

#include "pkg/format.h"
#include "pkg/reader.h"
#include "pkg/unpack.h"
#include "tests/fuzz/fuzz.h"

namespace ss::fuzz {

namespace {

// Limits far below the real ones (pkg/limits.h), so a decompression bomb costs milliseconds;
// the bounds themselves are the same code.
pkg::ReadLimits fuzzLimits() {
  pkg::ReadLimits l;
  l.maxArchiveBytes = 4 << 20;
  l.maxUnpackedBytes = 4 << 20;
  l.maxEntries = 512;
  l.maxDepth = 16;
  return l;
}

struct Scratch {
  // On tmpfs: the unpacker's syncfs and fsyncs cost nothing there, and nothing touches a disk.
  kj::String dir;
  int fd;
  Scratch() {
    const char* base = getenv("SS_FUZZ_TMPDIR");
    auto templ = kj::str(base != nullptr ? base : "/dev/shm", "/ss-fuzz-spk-XXXXXX");
    FUZZ_CHECK(mkdtemp(templ.begin()) != nullptr);
    dir = kj::mv(templ);
    fd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
  }
  ~Scratch() {
    pkg::removeTreeAt(AT_FDCWD, dir);
    close(fd);
  }
};

Scratch& scratch() {
  static Scratch s;
  return s;
}

size_t entriesIn(int dirFd) {
  int fd = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  DIR* d = fdopendir(fd);
  FUZZ_CHECK(d != nullptr);
  size_t n = 0;
  while (auto* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  }
  closedir(d);
  return n;
}

void checkTree(int dirFd) {
  int fd = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  DIR* d = fdopendir(fd);
  FUZZ_CHECK(d != nullptr);
  while (auto* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    FUZZ_CHECK(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
    FUZZ_CHECK(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode));
    if (!S_ISLNK(st.st_mode)) FUZZ_CHECK((st.st_mode & 07777 & ~0555) == 0);
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      FUZZ_CHECK(sub >= 0);
      checkTree(sub);
      close(sub);
    }
  }
  closedir(d);
}

}  // namespace

void readAndUnpack(kj::ArrayPtr<const kj::byte> spk) {
  auto& s = scratch();
  int fd = memfd_create("fuzz.spk", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  kj::AutoCloseFd owned(fd);
  kj::FdOutputStream(fd).write(spk.begin(), spk.size());
  FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);

  kj::Maybe<kj::Own<pkg::VerifiedPackage>> verified;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    verified = pkg::readPackage(fd, "fuzz.spk", fuzzLimits());
  })) {
    // Refused: expected for almost every input. SS_FUZZ_VERBOSE=1 says why (seed checks).
    if (getenv("SS_FUZZ_VERBOSE") != nullptr) fprintf(stderr, "  refused: %s\n", e->getDescription().cStr());
  }
  KJ_IF_MAYBE(pkg, verified) {
    if (getenv("SS_FUZZ_VERBOSE") != nullptr) fprintf(stderr, "  verified; unpacking\n");
    auto target = kj::str(s.dir, "/out");
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { pkg::unpackTo(**pkg, target); })) {
      (void)e;  // e.g. ENAMETOOLONG deep down: refused, and nothing may be left behind
      FUZZ_CHECK(entriesIn(s.fd) == 0);
      return;
    }
    FUZZ_CHECK(entriesIn(s.fd) == 1);  // "out" and nothing else: no temporary left
    int out = openat(s.fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    FUZZ_CHECK(out >= 0);
    checkTree(out);
    close(out);
    pkg::removeTreeAt(s.fd, "out");
  }
  FUZZ_CHECK(entriesIn(s.fd) == 0);
}

kj::Array<kj::byte> signedSpk(pkg::Codec codec, kj::ArrayPtr<const kj::byte> archive) {
  static kj::byte publicKey[crypto_sign_PUBLICKEYBYTES];
  static kj::byte secretKey[crypto_sign_SECRETKEYBYTES];
  static bool ready = [] {
    FUZZ_CHECK(sodium_init() >= 0);
    kj::byte seed[crypto_sign_SEEDBYTES] = {42};  // a fixed test key
    crypto_sign_seed_keypair(publicKey, secretKey, seed);
    return true;
  }();
  (void)ready;

  kj::byte hash[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(hash, archive.begin(), archive.size());
  kj::byte signedHash[crypto_sign_BYTES + sizeof(hash)];
  unsigned long long signedSize;
  crypto_sign(signedHash, &signedSize, hash, sizeof(hash), secretKey);
  capnp::MallocMessageBuilder sigMessage;
  auto sig = sigMessage.initRoot<spk::Signature>();
  sig.setPublicKey(kj::arrayPtr(publicKey, sizeof(publicKey)));
  sig.setSignature(kj::arrayPtr(signedHash, signedSize));

  kj::VectorOutputStream out;
  // Version 1 of our zstd format signs SHA-512 digests, as Sandstorm's xz format does: one hash
  // function for both (the reader's version-2 path differs only in the digest).
  out.write(codec == pkg::Codec::ZSTD ? pkg::SANDSTORM_ZSTD_MAGIC_V1 : pkg::SANDSTORM_XZ_MAGIC,
            pkg::MAGIC_BYTES);
  {
    // Fastest levels: the fuzzer's time belongs to the reader, not to compression.
    pkg::CompressingOutputStream compressed(codec, out, codec == pkg::Codec::ZSTD ? 1 : 0, 1);
    capnp::writeMessage(compressed, sigMessage);
    compressed.write(archive.begin(), archive.size());
    compressed.finish();
  }
  if (codec == pkg::Codec::ZSTD) {
    auto container = out.getArray();
    kj::byte digest[crypto_hash_sha512_BYTES];
    crypto_hash_sha512(digest, container.begin(), container.size());
    kj::byte trailer[crypto_sign_BYTES];
    crypto_sign_detached(trailer, nullptr, digest, sizeof(digest), secretKey);
    out.write(trailer, sizeof(trailer));
  }
  return kj::heapArray(out.getArray());
}

}  // namespace ss::fuzz
