#include "pkg/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>

#include "pkg/ids.h"
#include "rpc/package.capnp.h"

namespace ss::pkg {

kj::String KeyPair::appId() const { return appIdText(publicKey); }

KeyPair generateKeyPair() {
  KJ_REQUIRE(sodium_init() >= 0, "libsodium failed to initialise");
  KeyPair key{kj::heapArray<kj::byte>(crypto_sign_PUBLICKEYBYTES),
              kj::heapArray<kj::byte>(crypto_sign_SECRETKEYBYTES)};
  crypto_sign_keypair(key.publicKey.begin(), key.privateKey.begin());
  return key;
}

kj::Vector<KeyPair> readKeyring(kj::StringPtr path) {
  kj::Vector<KeyPair> keys;
  int fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return keys;
    KJ_FAIL_SYSCALL("open", errno, path);
  }
  kj::AutoCloseFd owned(fd);
  struct stat st;
  KJ_SYSCALL(::fstat(fd, &st), path);
  KJ_REQUIRE(st.st_size < (1 << 24), "keyring file is implausibly large", path);
  auto words = kj::heapArray<capnp::word>((st.st_size + 7) / 8);
  size_t done = 0;
  auto bytes = words.asBytes();
  while (done < static_cast<size_t>(st.st_size)) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, bytes.begin() + done, st.st_size - done), path);
    if (n == 0) break;
    done += n;
  }
  KJ_REQUIRE(done % 8 == 0, "keyring file is not a sequence of KeyFile messages", path);
  kj::ArrayPtr<const capnp::word> rest = words.slice(0, done / 8);
  while (rest.size() > 0) {
    capnp::FlatArrayMessageReader reader(rest);
    auto file = reader.getRoot<spk::KeyFile>();
    KJ_REQUIRE(file.getPublicKey().size() == crypto_sign_PUBLICKEYBYTES &&
                   file.getPrivateKey().size() == crypto_sign_SECRETKEYBYTES,
               "keyring entry has wrong key sizes", path);
    KeyPair key{kj::heapArray(file.getPublicKey()), kj::heapArray(file.getPrivateKey())};
    // libsodium's secret key ends with the public key: a mismatch means a corrupt keyring, and
    // signing with it would produce packages nobody can verify.
    KJ_REQUIRE(sodium_memcmp(key.privateKey.begin() + 32, key.publicKey.begin(), 32) == 0,
               "keyring entry's private key does not match its public key", path);
    keys.add(kj::mv(key));
    rest = kj::arrayPtr(reader.getEnd(), rest.end());
  }
  return keys;
}

kj::Maybe<KeyPair> findKey(kj::StringPtr keyringPath, kj::StringPtr appId) {
  for (auto& key: readKeyring(keyringPath)) {
    if (key.appId() == appId) return kj::mv(key);
  }
  return nullptr;
}

kj::Array<kj::byte> serializeKeyFile(const KeyPair& key) {
  capnp::MallocMessageBuilder message;
  auto file = message.initRoot<spk::KeyFile>();
  file.setPublicKey(key.publicKey);
  file.setPrivateKey(key.privateKey);
  auto words = capnp::messageToFlatArray(message);
  return kj::heapArray<kj::byte>(words.asBytes());
}

void appendToKeyring(kj::StringPtr path, const KeyPair& key) {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), path);
  kj::AutoCloseFd owned(fd);
  auto bytes = serializeKeyFile(key);
  // One write() with O_APPEND: two concurrent keygens cannot interleave their messages.
  ssize_t n;
  KJ_SYSCALL(n = ::write(fd, bytes.begin(), bytes.size()), path);
  KJ_REQUIRE(static_cast<size_t>(n) == bytes.size(), "short write to keyring", path);
  KJ_SYSCALL(::fsync(fd), path);
}

kj::String defaultKeyringPath() {
  const char* home = getenv("HOME");
  KJ_REQUIRE(home != nullptr && *home != '\0',
             "HOME is not set; pass the keyring with -k/--keyring");
  return kj::str(home, "/.sandstorm-keyring");
}

}  // namespace ss::pkg
