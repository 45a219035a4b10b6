#include "pkg/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include <kj/debug.h>

#include "pkg/format.h"
#include "pkg/hash-worker.h"
#include "pkg/ids.h"
#include "pkg/limits.h"
#include "pkg/reject.h"
#include "pkg/utf8.h"

namespace ss::pkg {

namespace {

class PackageInputStream final: public kj::InputStream {
  // The decompressed body of a package, read from `fd` in chunks. Every raw byte (magic
  // included) feeds SHA-256 for the package ID; decompressed bytes feed SHA-512 once
  // startArchiveHash() is called (the Signature message is not part of the signed hash).
public:
  PackageInputStream(int fd, kj::StringPtr name)
      : fd(fd), name(name), raw(kj::heapArray<kj::byte>(limits::READ_CHUNK_BYTES)) {
    crypto_hash_sha256_init(&fileHash);
    crypto_hash_sha512_init(&containerHash);
    crypto_hash_sha512_init(&archiveHash);
    // Hashing runs on two threads beside this one (pkg/hash-worker.h): the raw file's hashes on
    // one, the archive's on the other. Their states are touched only by their worker until
    // finish() has returned.
    rawHashes = kj::heap<HashWorker>([this](kj::ArrayPtr<const kj::byte> chunk) {
      crypto_hash_sha256_update(&fileHash, chunk.begin(), chunk.size());
      hashContainer(chunk);
    });
    archiveHashes = kj::heap<HashWorker>([this](kj::ArrayPtr<const kj::byte> chunk) {
      if (blake2b) crypto_generichash_update(&archiveBlake, chunk.begin(), chunk.size());
      else crypto_hash_sha512_update(&archiveHash, chunk.begin(), chunk.size());
    });
  }

  Codec readMagic() {
    kj::byte magic[MAGIC_BYTES];
    size_t got = 0;
    while (got < MAGIC_BYTES) {
      if (pending.size() == 0 && !refill()) break;
      size_t n = kj::min(pending.size(), MAGIC_BYTES - got);
      memcpy(magic + got, pending.begin(), n);
      pending = pending.slice(n, pending.size());
      got += n;
    }
    if (got == MAGIC_BYTES && memcmp(magic, SANDSTORM_XZ_MAGIC, MAGIC_BYTES) == 0) {
      decoder = newDecoder(Codec::XZ);
      startRawHashes();
      return Codec::XZ;
    }
    bool v1 = got == MAGIC_BYTES && memcmp(magic, SANDSTORM_ZSTD_MAGIC_V1, MAGIC_BYTES) == 0;
    if (v1 || (got == MAGIC_BYTES && memcmp(magic, SANDSTORM_ZSTD_MAGIC, MAGIC_BYTES) == 0)) {
      decoder = newDecoder(Codec::ZSTD);
      codec = Codec::ZSTD;
      blake2b = !v1;
      if (blake2b) {
        crypto_generichash_init(&containerBlake, nullptr, 0, 64);
        crypto_generichash_init(&archiveBlake, nullptr, 0, 64);
      }
      startRawHashes();
      return Codec::ZSTD;
    }
    if (got == MAGIC_BYTES && memcmp(magic, SANDSTORM_ZSTD_MAGIC, MAGIC_BYTES - 1) == 0 &&
        magic[MAGIC_BYTES - 1] > SANDSTORM_ZSTD_MAGIC[MAGIC_BYTES - 1] &&
        magic[MAGIC_BYTES - 1] < 16) {  // a plausible future version, not random damage
      reject(name, "", kj::str("a newer version (", magic[MAGIC_BYTES - 1], ") of our package "
                               "format than this server reads; update Sandstorm"));
    }
    reject(name, "", "not a Sandstorm package (bad magic number)");
  }

  void startArchiveHash(uint64_t maxArchiveBytes) {
    hashing = true;
    limit = produced + maxArchiveBytes;
    archiveLimit = maxArchiveBytes;
  }

  size_t tryRead(void* buffer, size_t minBytes, size_t maxBytes) override {
    auto* out = static_cast<kj::byte*>(buffer);
    size_t done = 0;
    int stalls = 0;
    while (done < minBytes && !decoderEnded) {
      if (pending.size() == 0 && !rawEof) refill();
      // Never decompress more than one byte past the limit: a bomb is caught when it crosses
      // the line, not after it has filled memory.
      size_t room = kj::min(maxBytes - done, limit - produced + 1);
      kj::ArrayPtr<kj::byte> space(out + done, room);
      bool ended = false;
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
        ended = decoder->step(pending, space, rawEof);
      })) {
        reject(name, "", kj::str(e->getDescription()));
      }
      size_t n = room - space.size();
      if (hashing) archiveHashes->add(kj::ArrayPtr<const kj::byte>(out + done, n));
      done += n;
      produced += n;
      if (produced > limit) {
        reject(name, "", kj::str("decompresses to more than ", archiveLimit,
                                 " bytes (decompression bomb?)"));
      }
      if (ended) decoderEnded = true;
      // A decoder that makes no progress with all input consumed would loop forever.
      if (n == 0 && !ended && rawEof && pending.size() == 0 && ++stalls > 2) {
        reject(name, "", "truncated package (compressed stream ends early)");
      }
    }
    return done;
  }

  void readExactly(void* buffer, size_t size, kj::StringPtr what) {
    if (tryRead(buffer, size, size) != size) {
      reject(name, "", kj::str("truncated package (ends inside the ", what, ")"));
    }
  }

  kj::Array<kj::byte> finish() {
    // The decompressed stream must end right after the Archive, and the file right after the
    // compressed stream (plus, in our zstd format, the 64-byte container signature): appended
    // bytes would not change the archive signature, so refuse them.
    kj::byte scratch[4096];
    while (!decoderEnded) {
      if (tryRead(scratch, 1, sizeof(scratch)) > 0) {
        reject(name, "", "unexpected data after the Archive message");
      }
    }
    size_t trailerSize = codec == Codec::ZSTD ? crypto_sign_BYTES : 0;
    auto trailer = kj::heapArray<kj::byte>(trailerSize);
    size_t got = 0;
    for (;;) {
      if (pending.size() == 0 && !refill()) break;
      if (got + pending.size() > trailerSize) {
        reject(name, "", "unexpected bytes after the end of the compressed stream");
      }
      memcpy(trailer.begin() + got, pending.begin(), pending.size());
      got += pending.size();
      pending = nullptr;
    }
    if (got != trailerSize) reject(name, "", "truncated package (container signature missing)");
    return trailer;
  }

  kj::Array<kj::byte> containerDigest() {
    rawHashes->finish();
    auto out = kj::heapArray<kj::byte>(crypto_hash_sha512_BYTES);
    if (blake2b) {
      crypto_generichash_final(&containerBlake, out.begin(), out.size());
      return out;
    }
    crypto_hash_sha512_final(&containerHash, out.begin());
    return out;
  }

  kj::Array<kj::byte> archiveDigest() {
    archiveHashes->finish();
    auto out = kj::heapArray<kj::byte>(crypto_hash_sha512_BYTES);
    if (blake2b) {
      crypto_generichash_final(&archiveBlake, out.begin(), out.size());
      return out;
    }
    crypto_hash_sha512_final(&archiveHash, out.begin());
    return out;
  }
  kj::Array<kj::byte> fileSha256() {
    rawHashes->finish();
    auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
    crypto_hash_sha256_final(&fileHash, out.begin());
    return out;
  }
  uint64_t fileBytes() const { return rawTotal; }
  uint64_t producedBytes() const { return produced; }

private:
  int fd;
  kj::StringPtr name;
  kj::Array<kj::byte> raw;
  kj::ArrayPtr<const kj::byte> pending;
  bool rawEof = false;
  uint64_t rawTotal = 0;
  crypto_hash_sha256_state fileHash;
  crypto_hash_sha512_state archiveHash;
  bool hashing = false;
  kj::Own<Decoder> decoder;
  Codec codec = Codec::XZ;
  crypto_hash_sha512_state containerHash;
  bool decoderEnded = false;
  uint64_t produced = 0;
  uint64_t limit = limits::MAX_SIGNATURE_BYTES;
  uint64_t archiveLimit = limits::MAX_SIGNATURE_BYTES;
  // The container hash (our zstd format) covers the file minus its last 64 bytes, the trailer
  // signature: the magic and exactly the zstd frame the decoder consumed, since finish()
  // refuses a file with anything else after the frame. The last 64 bytes seen are held back.
  kj::byte held[crypto_sign_BYTES];
  size_t heldSize = 0;
  bool blake2b = false;  // our format v2: BLAKE2b-512 digests (format.h); set before any hashing
  crypto_generichash_state containerBlake;
  crypto_generichash_state archiveBlake;
  // The raw hashes start once the format is known (readMagic): bytes read before then wait here.
  kj::Vector<kj::byte> early;
  bool rawStarted = false;
  void startRawHashes() {
    rawStarted = true;
    rawHashes->add(early.asPtr());
    early.clear();
  }
  kj::Own<HashWorker> rawHashes;      // last: destroyed (joined) before the states above
  kj::Own<HashWorker> archiveHashes;

  void hashContainer(kj::ArrayPtr<const kj::byte> chunk) {
    size_t total = heldSize + chunk.size();
    if (total <= sizeof(held)) {
      memcpy(held + heldSize, chunk.begin(), chunk.size());
      heldSize = total;
      return;
    }
    size_t emit = total - sizeof(held);
    size_t fromHeld = kj::min(emit, heldSize);
    size_t fromChunk = emit - fromHeld;
    if (blake2b) {
      crypto_generichash_update(&containerBlake, held, fromHeld);
      crypto_generichash_update(&containerBlake, chunk.begin(), fromChunk);
    } else {
      crypto_hash_sha512_update(&containerHash, held, fromHeld);
      crypto_hash_sha512_update(&containerHash, chunk.begin(), fromChunk);
    }
    kj::byte next[sizeof(held)];
    size_t k = heldSize - fromHeld;
    memcpy(next, held + fromHeld, k);
    memcpy(next + k, chunk.begin() + fromChunk, chunk.size() - fromChunk);
    heldSize = k + chunk.size() - fromChunk;
    memcpy(held, next, heldSize);
  }

  bool refill() {
    if (rawEof) return false;
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, raw.begin(), raw.size()), name);
    if (n == 0) {
      rawEof = true;
      return false;
    }
    if (rawStarted) rawHashes->add(raw.slice(0, n));
    else early.addAll(raw.slice(0, n));
    rawTotal += n;
    pending = raw.slice(0, n);
    return true;
  }
};

struct Message {
  kj::Array<capnp::word> words;
  kj::Own<capnp::FlatArrayMessageReader> reader;
};

Message readMessage(PackageInputStream& in, uint64_t maxBytes, kj::StringPtr what,
                    kj::StringPtr name) {
  // Reads one stream-framed message into a single word array, checking the sizes its segment
  // table declares before allocating anything (a 16-byte header may claim gigabytes).
  // capnp's InputStreamMessageReader would also work, but it reads later segments lazily and
  // would leave the stream (and our hash) short of the message's end until traversed.
  uint32_t first[2];
  in.readExactly(first, sizeof(first), what);
  uint64_t segmentCount = uint64_t(first[0]) + 1;
  if (segmentCount > 512) reject(name, "", kj::str(what, " message has too many segments"));
  uint64_t tableWords = (segmentCount / 2) + 1;  // (count + sizes), padded to whole words
  auto table = kj::heapArray<uint32_t>(tableWords * 2);
  table[0] = first[0];
  table[1] = first[1];
  if (tableWords > 1) in.readExactly(table.begin() + 2, (tableWords - 1) * 8, what);
  uint64_t bodyWords = 0;
  for (uint64_t i = 0; i < segmentCount; i++) bodyWords += table[i + 1];
  if ((tableWords + bodyWords) * 8 > maxBytes) {
    reject(name, "", kj::str(what, " message larger than ", maxBytes, " bytes"));
  }
  Message message;
  message.words = kj::heapArray<capnp::word>(tableWords + bodyWords);
  memcpy(message.words.asBytes().begin(), table.begin(), tableWords * 8);
  in.readExactly(message.words.begin() + tableWords, bodyWords * 8, what);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits::TRAVERSAL_LIMIT_WORDS;
  options.nestingLimit = limits::NESTING_LIMIT;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    message.reader = kj::heap<capnp::FlatArrayMessageReader>(message.words, options);
  })) {
    reject(name, "", kj::str("malformed ", what, " message: ", e->getDescription()));
  }
  return message;
}

void verifySignature(spk::Signature::Reader sig, kj::ArrayPtr<const kj::byte> archiveHash,
                     kj::StringPtr name) {
  auto key = sig.getPublicKey();
  auto signedHash = sig.getSignature();
  if (key.size() != crypto_sign_PUBLICKEYBYTES) {
    reject(name, "", kj::str("public key is ", key.size(), " bytes, expected 32"));
  }
  if (signedHash.size() != crypto_sign_BYTES + crypto_hash_sha512_BYTES) {
    reject(name, "", kj::str("signature is ", signedHash.size(), " bytes, expected 128"));
  }
  kj::byte opened[crypto_hash_sha512_BYTES + crypto_sign_BYTES];
  unsigned long long openedSize = 0;
  if (crypto_sign_open(opened, &openedSize, signedHash.begin(), signedHash.size(),
                       key.begin()) != 0) {
    reject(name, "", "signature does not verify with the package's public key");
  }
  if (openedSize != crypto_hash_sha512_BYTES ||
      sodium_memcmp(opened, archiveHash.begin(), crypto_hash_sha512_BYTES) != 0) {
    reject(name, "", "archive does not match its signature (contents modified?)");
  }
}

spk::Archive::File::Reader findManifestFile(spk::Archive::Reader archive, kj::StringPtr name) {
  for (auto file: archive.getFiles()) {
    if (file.getName() == "sandstorm-manifest") {
      if (!file.isRegular()) {
        reject(name, "sandstorm-manifest", "must be a regular file");
      }
      return file;
    }
  }
  reject(name, "", "no sandstorm-manifest at the package root");
}

void checkText(kj::StringPtr text, kj::StringPtr field, kj::StringPtr name) {
  if (!isValidUtf8(text.asBytes())) reject(name, "sandstorm-manifest", kj::str(field, " is not valid UTF-8"));
}

void checkUrl(kj::StringPtr url, kj::StringPtr field, kj::StringPtr name) {
  if (url.size() > 0 && !url.startsWith("https://") && !url.startsWith("http://")) {
    reject(name, "sandstorm-manifest", kj::str(field, " is not an http(s) URL"));
  }
}

void readManifest(VerifiedPackage& pkg) {
  kj::StringPtr name = pkg.displayName;
  auto data = findManifestFile(pkg.archive, name).getRegular();
  if (data.size() > limits::MANIFEST_LIMIT_WORDS * 8) {
    reject(name, "sandstorm-manifest", "larger than 8 MiB");
  }
  // Blobs inside a capnp message are word-aligned, but copy anyway: the manifest is small and the
  // copy makes its lifetime and alignment obvious.
  pkg.manifestWords = kj::heapArray<capnp::word>((data.size() + 7) / 8);
  auto manifestBytes = pkg.manifestWords.asBytes();
  memset(manifestBytes.begin(), 0, manifestBytes.size());
  memcpy(manifestBytes.begin(), data.begin(), data.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits::MANIFEST_LIMIT_WORDS;
  options.nestingLimit = 64;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    pkg.manifestMessage = kj::heap<capnp::FlatArrayMessageReader>(pkg.manifestWords, options);
    pkg.manifest = pkg.manifestMessage->getRoot<spk::Manifest>();
    auto manifest = pkg.manifest;
    checkText(manifest.getAppTitle().getDefaultText(), "appTitle", name);
    checkText(manifest.getAppMarketingVersion().getDefaultText(), "appMarketingVersion", name);
    checkUrl(manifest.getMetadata().getWebsite(), "metadata.website", name);
    checkUrl(manifest.getMetadata().getCodeUrl(), "metadata.codeUrl", name);
  })) {
    if (isRejection(*e)) kj::throwFatalException(kj::mv(*e));
    reject(name, "sandstorm-manifest", kj::str("malformed: ", e->getDescription()));
  }
}

}  // namespace

kj::StringPtr VerifiedPackage::title() const {
  return manifest.getAppTitle().getDefaultText();
}

kj::StringPtr VerifiedPackage::marketingVersion() const {
  return manifest.getAppMarketingVersion().getDefaultText();
}

kj::Own<VerifiedPackage> readPackage(int fd, kj::StringPtr displayName,
                                     const ReadLimits& bounds) {
  KJ_REQUIRE(sodium_init() >= 0, "libsodium failed to initialise");
  auto pkg = kj::heap<VerifiedPackage>();
  pkg->displayName = kj::str(displayName);
  kj::StringPtr name = pkg->displayName;

  PackageInputStream in(fd, name);
  pkg->codec = in.readMagic();

  auto signature = readMessage(in, limits::MAX_SIGNATURE_BYTES, "Signature", name);
  in.startArchiveHash(bounds.maxArchiveBytes);
  uint64_t beforeArchive = in.producedBytes();
  auto archive = readMessage(in, bounds.maxArchiveBytes, "Archive", name);
  pkg->archiveBytes = in.producedBytes() - beforeArchive;
  auto trailer = in.finish();

  auto hash = in.archiveDigest();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    auto sig = signature.reader->getRoot<spk::Signature>();
    verifySignature(sig, hash, name);
    pkg->publicKey = kj::heapArray(sig.getPublicKey());
    if (pkg->codec == Codec::ZSTD) {
      // zstd frames have encoding slack (the window descriptor, unused table entries): bytes
      // that can change without changing the output. The trailer signs the container itself, so
      // no byte of our format can be altered unnoticed (xz's CRCs already cover its framing).
      auto containerHash = in.containerDigest();
      if (crypto_sign_verify_detached(trailer.begin(), containerHash.begin(),
                                      containerHash.size(), pkg->publicKey.begin()) != 0) {
        reject(name, "", "container signature does not verify (compressed bytes modified?)");
      }
    }
  })) {
    if (isRejection(*e)) kj::throwFatalException(kj::mv(*e));
    reject(name, "", kj::str("malformed Signature message: ", e->getDescription()));
  }
  pkg->appId = appIdText(pkg->publicKey);
  pkg->packageId = packageIdText(in.fileSha256());
  pkg->fileBytes = in.fileBytes();

  // Trusted from here on: the archive is exactly what the key holder signed. It must still be a
  // well-formed tree (a key holder can be hostile too).
  pkg->archiveWords = kj::mv(archive.words);
  pkg->archiveMessage = kj::mv(archive.reader);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    pkg->archive = pkg->archiveMessage->getRoot<spk::Archive>();
  })) {
    reject(name, "", kj::str("malformed Archive message: ", e->getDescription()));
  }
  pkg->totals = checkArchive(pkg->archive, name, bounds);
  readManifest(*pkg);
  return pkg;
}

kj::Own<VerifiedPackage> readPackage(kj::StringPtr path, const ReadLimits& bounds) {
  int fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    KJ_FAIL_REQUIRE(kj::str(path, ": ", strerror(error)));
  }
  kj::AutoCloseFd owned(fd);
  return readPackage(fd, path, bounds);
}

kj::Array<kj::byte> sha256File(kj::StringPtr path) {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
  kj::AutoCloseFd owned(fd);
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  auto buffer = kj::heapArray<kj::byte>(limits::READ_CHUNK_BYTES);
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, buffer.begin(), buffer.size()), path);
    if (n == 0) break;
    crypto_hash_sha256_update(&state, buffer.begin(), n);
  }
  auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
  crypto_hash_sha256_final(&state, out.begin());
  return out;
}

}  // namespace ss::pkg
