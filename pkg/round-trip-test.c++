// pack -> verify -> unpack for both formats, and tampering with any byte.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <kj/debug.h>

#include "base/fd.h"
#include "pkg/ids.h"
#include "pkg/reader.h"
#include "pkg/reject.h"
#include "pkg/test-packages.h"
#include "pkg/unpack.h"
#include "pkg/writer.h"

namespace ss::pkg {
namespace {

using test::Sandbox;

PackageTree sampleTree(ss::test::TempDir& src) {
  test::writeAll(src.file("data.txt"), kj::StringPtr("some data\n").asBytes());
  test::writeAll(src.file("tool"), kj::StringPtr("#!/bin/sh\necho hi\n").asBytes());
  PackageTree tree;
  tree.addContent("sandstorm-manifest", test::manifestBytes("Round Trip", 7), false);
  tree.addHostFile("usr/share/data.txt", src.file("data.txt"), false, 1500000000123456789);
  tree.addHostFile("usr/bin/tool", src.file("tool"), true, 0);
  tree.addSymlink("usr/bin/python", "python3", 0);
  tree.addSymlink("bin", "/usr/bin", 0);
  tree.makeDirectory("var");
  return tree;
}

void checkInstalled(kj::StringPtr root) {
  struct stat st;
  REQUIRE(lstat(kj::str(root, "/usr/share/data.txt").cStr(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0444);
  CHECK(st.st_mtim.tv_sec == 1500000000);
  CHECK(readFile(kj::str(root, "/usr/share/data.txt")) == "some data\n");
  REQUIRE(lstat(kj::str(root, "/usr/bin/tool").cStr(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
  REQUIRE(lstat(kj::str(root, "/usr/bin").cStr(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
  REQUIRE(lstat(kj::str(root, "/bin").cStr(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  char target[64] = {};
  REQUIRE(readlink(kj::str(root, "/bin").cStr(), target, sizeof(target) - 1) > 0);
  CHECK(kj::StringPtr(target) == "/usr/bin");
  REQUIRE(lstat(root.cStr(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0555);
}

void roundTrip(Codec codec) {
  ss::test::TempDir src;
  Sandbox box;
  auto key = generateKeyPair();
  auto spk = src.file("app.spk");
  WriteOptions options;
  options.codec = codec;
  auto written = writePackage(sampleTree(src), key, spk, options);

  auto pkg = readPackage(spk);
  CHECK(pkg->codec == codec);
  CHECK(pkg->appId == key.appId());
  CHECK(pkg->packageId == written.packageId);
  CHECK(pkg->title() == "Round Trip");
  CHECK(pkg->version() == 7);
  // Package ID against an independent SHA-256 (coreutils).
  auto sum = test::run(kj::str("sha256sum '", spk, "'"));
  CHECK(pkg->packageId == sum.slice(0, 32));

  REQUIRE(installPackage(*pkg, box.packagesFd) == InstallResult::INSTALLED);
  checkInstalled(kj::str(box.packages, "/", pkg->packageId));
  // Same bytes again: nothing written, no temp left behind.
  CHECK(installPackage(*pkg, box.packagesFd) == InstallResult::ALREADY_PRESENT);
  auto names = test::listDir(box.packages);
  REQUIRE(names.size() == 1);
  CHECK(names[0] == pkg->packageId);

  // The explicit-directory form (CLI `unpack`).
  auto dest = src.file("unpacked");
  unpackTo(*pkg, dest);
  checkInstalled(dest);
  CHECK_THROWS_WITH(unpackTo(*pkg, dest), Catch::Contains("already exists"));
  removeTreeAt(AT_FDCWD, dest);
}

TEST_CASE("round trip: zstd package packs, verifies and unpacks", "[pkg][roundtrip]") {
  roundTrip(Codec::ZSTD);
}

TEST_CASE("round trip: xz (Sandstorm format) package packs, verifies and unpacks",
          "[pkg][roundtrip]") {
  roundTrip(Codec::XZ);
}

void tamperEveryByte(Codec codec) {
  ss::test::TempDir src;
  Sandbox box;
  auto key = generateKeyPair();
  auto spk = src.file("app.spk");
  WriteOptions options;
  options.codec = codec;
  writePackage(sampleTree(src), key, spk, options);
  auto original = test::readAll(spk);
  auto bad = src.file("bad.spk");
  size_t rejected = 0;
  for (size_t i = 0; i < original.size(); i++) {
    auto copy = kj::heapArray(original.asPtr());
    copy[i] ^= 0x01;
    test::writeAll(bad, copy);
    CAPTURE(i);
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
      auto pkg = readPackage(bad);
      installPackage(*pkg, box.packagesFd);
    })) {
      CHECK(isRejection(*e));
      rejected++;
    } else {
      FAIL_CHECK("a package with byte " << i << " flipped was accepted");
    }
  }
  CHECK(rejected == original.size());
  box.expectUntouched();
}

TEST_CASE("tampering: flipping any single byte of a zstd package is rejected",
          "[pkg][tamper]") {
  tamperEveryByte(Codec::ZSTD);
}

TEST_CASE("tampering: flipping any single byte of an xz package is rejected", "[pkg][tamper]") {
  tamperEveryByte(Codec::XZ);
}

}  // namespace
}  // namespace ss::pkg
