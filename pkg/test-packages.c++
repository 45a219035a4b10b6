#include "pkg/test-packages.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>

#include <capnp/serialize.h>
#include <kj/debug.h>

#include "base/fd.h"
#include "pkg/format.h"
#include "pkg/unpack.h"

namespace ss::pkg::test {

kj::Array<kj::byte> manifestBytes(kj::StringPtr title, uint32_t version, kj::StringPtr website) {
  capnp::MallocMessageBuilder message;
  auto manifest = message.initRoot<spk::Manifest>();
  manifest.initAppTitle().setDefaultText(title);
  manifest.setAppVersion(version);
  manifest.initAppMarketingVersion().setDefaultText("1.0");
  if (website.size() > 0) manifest.initMetadata().setWebsite(website);
  auto argv = manifest.initContinueCommand().initArgv(1);
  argv.set(0, "/bin/app");
  auto words = capnp::messageToFlatArray(message);
  return kj::heapArray<kj::byte>(words.asBytes());
}

namespace {

class Sha512Stream final: public kj::OutputStream {
public:
  Sha512Stream() { crypto_hash_sha512_init(&state); }
  void write(const void* buffer, size_t size) override {
    crypto_hash_sha512_update(&state, static_cast<const kj::byte*>(buffer), size);
  }
  crypto_hash_sha512_state state;
};

}  // namespace

void writeSpk(kj::StringPtr path, const KeyPair& key, capnp::MessageBuilder& archive,
              const SpkOptions& options) {
  KJ_ASSERT(sodium_init() >= 0);
  Sha512Stream hasher;
  capnp::writeMessage(hasher, archive);
  if (options.trailingPlain.size() > 0) hasher.write(options.trailingPlain.begin(),
                                                     options.trailingPlain.size());
  kj::byte hash[64];
  crypto_hash_sha512_final(&hasher.state, hash);

  KeyPair signer = options.signWithOtherKey ? generateKeyPair()
                                            : KeyPair{kj::heapArray(key.publicKey.asPtr()),
                                                      kj::heapArray(key.privateKey.asPtr())};
  kj::byte signedHash[128];
  unsigned long long size;
  crypto_sign(signedHash, &size, hash, 64, signer.privateKey.begin());

  capnp::MallocMessageBuilder sigMessage;
  auto sig = sigMessage.initRoot<spk::Signature>();
  auto pk = sig.initPublicKey(options.publicKeyBytes);
  for (size_t i = 0; i < pk.size(); i++) pk[i] = i < 32 ? key.publicKey[i] : 0;
  sig.setSignature(kj::arrayPtr(signedHash, 128));

  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), path);
  kj::AutoCloseFd owned(fd);
  kj::FdOutputStream file(fd);
  Sha512Stream containerHash;
  struct Tee final: public kj::OutputStream {
    Tee(kj::OutputStream& a, kj::OutputStream& b): a(a), b(b) {}
    void write(const void* buffer, size_t size) override {
      a.write(buffer, size);
      b.write(buffer, size);
    }
    kj::OutputStream& a;
    kj::OutputStream& b;
  } out(file, containerHash);
  // Version 1 of our format (SHA-512 digests, like Sandstorm's): the writer makes version 2, so
  // these packages keep the reader's version-1 path tested.
  out.write(options.codec == Codec::ZSTD ? SANDSTORM_ZSTD_MAGIC_V1 : SANDSTORM_XZ_MAGIC,
            MAGIC_BYTES);
  {
    CompressingOutputStream compressed(options.codec, out, 3, 1);
    capnp::writeMessage(compressed, sigMessage);
    capnp::writeMessage(compressed, archive);
    if (options.trailingPlain.size() > 0) {
      compressed.write(options.trailingPlain.begin(), options.trailingPlain.size());
    }
    compressed.finish();
  }
  if (options.codec == Codec::ZSTD) {
    kj::byte digest[64];
    crypto_hash_sha512_final(&containerHash.state, digest);
    kj::byte trailer[64];
    crypto_sign_detached(trailer, nullptr, digest, 64, signer.privateKey.begin());
    file.write(trailer, 64);
  }
  if (options.trailingBytes.size() > 0) {
    file.write(options.trailingBytes.begin(), options.trailingBytes.size());
  }
}

void writeSpkWith(kj::StringPtr path, const KeyPair& key, uint rootEntries, ArchiveFiller fill,
                  const SpkOptions& options) {
  capnp::MallocMessageBuilder message;
  auto files = message.initRoot<spk::Archive>().initFiles(rootEntries);
  files[0].setName("sandstorm-manifest");
  files[0].setRegular(manifestBytes());
  fill(files);
  writeSpk(path, key, message, options);
}

kj::Array<kj::byte> readAll(kj::StringPtr path) {
  auto text = readFile(path);
  return kj::heapArray<kj::byte>(text.asBytes());
}

void writeAll(kj::StringPtr path, kj::ArrayPtr<const kj::byte> bytes) {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), path);
  kj::AutoCloseFd owned(fd);
  kj::FdOutputStream(fd).write(bytes.begin(), bytes.size());
}

kj::String run(kj::StringPtr command) {
  FILE* pipe = popen(command.cStr(), "r");
  KJ_ASSERT(pipe != nullptr, command);
  kj::Vector<char> output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.addAll(buffer, buffer + n);
  int status = pclose(pipe);
  KJ_ASSERT(status == 0, "command failed", command, status);
  output.add('\0');
  return kj::String(output.releaseAsArray());
}

kj::Vector<kj::String> listDir(kj::StringPtr path) {
  kj::Vector<kj::String> names;
  DIR* dir = opendir(path.cStr());
  KJ_ASSERT(dir != nullptr, path);
  while (struct dirent* entry = readdir(dir)) {
    kj::StringPtr name = entry->d_name;
    if (name != "." && name != "..") names.add(kj::str(name));
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Sandbox::Sandbox()
    : packages(dir.file("packages")), sentinel(dir.file("sentinel")) {
  KJ_SYSCALL(mkdir(packages.cStr(), 0755));
  writeAll(sentinel, kj::StringPtr("do not touch").asBytes());
  KJ_SYSCALL(packagesFd = open(packages.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

Sandbox::~Sandbox() {
  // Installed packages are read-only trees; TempDir's cleanup would fail on them as non-root.
  for (auto& name: listDir(packages)) removeTreeAt(packagesFd, name);
  close(packagesFd);
}

void Sandbox::expectUntouched() {
  CHECK(readFile(sentinel) == "do not touch");
  for (auto& name: listDir(dir.path())) {
    // Only what the test put there: packages/, the sentinel and the test's own .spk files.
    CAPTURE(name.cStr());
    CHECK((name == "packages" || name == "sentinel" || name.endsWith(".spk")));
  }
  auto left = listDir(packages);
  CAPTURE(kj::strArray(left, ", ").cStr());
  CHECK(left.size() == 0);
}

}  // namespace ss::pkg::test
