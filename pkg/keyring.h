// Signing keys. A keyring file is a sequence of capnp `KeyFile` messages (ed25519 key pairs from
// libsodium's crypto_sign_keypair), exactly Sandstorm's ~/.sandstorm-keyring format, so keyrings
// can be merged with `cat` and moved between our tool and Sandstorm's spk.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ss::pkg {

struct KeyPair {
  kj::Array<kj::byte> publicKey;   // 32 bytes
  kj::Array<kj::byte> privateKey;  // 64 bytes (seed + public key, libsodium's layout)
  kj::String appId() const;
};

KeyPair generateKeyPair();

kj::Vector<KeyPair> readKeyring(kj::StringPtr path);
// All key pairs in the file, in order. A missing file is an empty keyring. Throws naming the
// file on a malformed entry (wrong sizes, or a private key whose public half does not match).

kj::Maybe<KeyPair> findKey(kj::StringPtr keyringPath, kj::StringPtr appId);

void appendToKeyring(kj::StringPtr path, const KeyPair& key);
// Appends one KeyFile message; creates the file with mode 0600 (it holds private keys).

kj::Array<kj::byte> serializeKeyFile(const KeyPair& key);
// One KeyFile message, as `getkey` prints it.

kj::String defaultKeyringPath();
// $HOME/.sandstorm-keyring, as Sandstorm's spk.

}  // namespace ss::pkg
