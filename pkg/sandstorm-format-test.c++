// A package in Sandstorm's exact format, built without any of our writer code: capnp messages
// serialized here, signed with libsodium directly, compressed by the `xz` tool, magic prepended
// by hand; expected IDs computed by `sha256sum` and a Python base32 encoder.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <catch2/catch.hpp>
#include <kj/debug.h>
#include <kj/encoding.h>

#include "base/fd.h"
#include "pkg/reader.h"
#include "pkg/test-packages.h"
#include "pkg/unpack.h"

namespace ss::pkg {
namespace {

TEST_CASE("a package built independently in Sandstorm's xz format verifies with the right IDs",
          "[pkg][sandstorm]") {
  REQUIRE(sodium_init() >= 0);
  ss::test::TempDir dir;
  kj::byte pk[32], sk[64];
  crypto_sign_keypair(pk, sk);

  capnp::MallocMessageBuilder archive;
  auto files = archive.initRoot<spk::Archive>().initFiles(3);
  files[0].setName("sandstorm-manifest");
  files[0].setRegular(test::manifestBytes("Independent", 42));
  files[1].setName("hello.txt");
  files[1].setRegular(kj::StringPtr("hello from an independent writer\n").asBytes());
  files[2].setName("usr");
  auto usr = files[2].initDirectory(1);
  usr[0].setName("python");
  usr[0].setSymlink("/usr/bin/python3");
  auto archiveBytes = capnp::messageToFlatArray(archive);

  kj::byte hash[64];
  crypto_hash_sha512(hash, archiveBytes.asBytes().begin(), archiveBytes.asBytes().size());
  kj::byte signedHash[128];
  unsigned long long signedSize;
  crypto_sign(signedHash, &signedSize, hash, 64, sk);
  capnp::MallocMessageBuilder signature;
  auto sig = signature.initRoot<spk::Signature>();
  sig.setPublicKey(kj::arrayPtr(pk, 32));
  sig.setSignature(kj::arrayPtr(signedHash, 128));
  auto signatureBytes = capnp::messageToFlatArray(signature);

  auto plain = dir.file("plain");
  {
    int fd;
    KJ_SYSCALL(fd = open(plain.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    kj::FdOutputStream out(fd);
    out.write(signatureBytes.asBytes().begin(), signatureBytes.asBytes().size());
    out.write(archiveBytes.asBytes().begin(), archiveBytes.asBytes().size());
    close(fd);
  }
  auto spk = dir.file("independent.spk");
  // Sandstorm's own pack: magic, then `xz --threads=0 --compress --stdout`.
  test::run(kj::str("printf '\\217\\306\\315\\357\\105\\032\\352\\226' > '", spk, "' && "
                    "xz --threads=0 --compress --stdout < '", plain, "' >> '", spk, "'"));

  auto expectedPackageId = kj::str(test::run(kj::str("sha256sum '", spk, "'")).slice(0, 32));
  auto keyHex = kj::encodeHex(kj::arrayPtr(pk, 32));
  auto expectedAppId = test::run(kj::str(
      "python3 -c \"import sys; A='0123456789acdefghjkmnpqrstuvwxyz'; "
      "b=bytes.fromhex(sys.argv[1]); s=''.join(format(x,'08b') for x in b); "
      "s+='0'*(-len(s)%5); print(''.join(A[int(s[i:i+5],2)] for i in range(0,len(s),5)),"
      "end='')\" ", keyHex));

  auto pkg = readPackage(spk);
  CHECK(pkg->codec == Codec::XZ);
  CHECK(pkg->appId == expectedAppId);
  CHECK(pkg->packageId == expectedPackageId);
  CHECK(pkg->title() == "Independent");
  CHECK(pkg->version() == 42);

  // And through the CLI, as a developer would check it.
  auto out = test::run(kj::str(SANDSTORM_BINARY, " spk verify '", spk, "'"));
  CHECK_THAT(out.cStr(), Catch::Contains(kj::str("app-id: ", expectedAppId).cStr()));
  CHECK_THAT(out.cStr(), Catch::Contains(kj::str("package-id: ", expectedPackageId).cStr()));
  CHECK_THAT(out.cStr(), Catch::Contains("title: Independent"));
  CHECK_THAT(out.cStr(), Catch::Contains("version: 42"));

  test::Sandbox box;
  REQUIRE(installPackage(*pkg, box.packagesFd) == InstallResult::INSTALLED);
  auto root = kj::str(box.packages, "/", expectedPackageId);
  CHECK(readFile(kj::str(root, "/hello.txt")) == "hello from an independent writer\n");
}

}  // namespace
}  // namespace ss::pkg
