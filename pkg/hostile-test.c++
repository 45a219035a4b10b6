// The hostile-package battery (facts/security.md §2.6): every package here must be rejected with
// a message naming the problem, and leave nothing behind: no temp directory, no file outside.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <kj/debug.h>

#include "base/fd.h"
#include "pkg/format.h"
#include "pkg/reader.h"
#include "pkg/reject.h"
#include "pkg/test-packages.h"
#include "pkg/unpack.h"

namespace ss::pkg {
namespace {

using test::Sandbox;
using FileList = capnp::List<spk::Archive::File>::Builder;

void expectRejected(Sandbox& box, kj::StringPtr spk, kj::StringPtr expected,
                    const ReadLimits& limits = {}) {
  CAPTURE(expected.cStr());
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    auto pkg = readPackage(spk, limits);
    installPackage(*pkg, box.packagesFd);
  })) {
    CAPTURE(e->getDescription().cStr());
    CHECK(isRejection(*e));
    CHECK_THAT(e->getDescription().cStr(), Catch::Contains(expected.cStr()));
  } else {
    FAIL_CHECK("hostile package was accepted");
  }
  box.expectUntouched();
}

void rejectTree(kj::StringPtr expected, uint rootEntries, test::ArchiveFiller fill,
                Codec codec = Codec::ZSTD) {
  Sandbox box;
  auto key = generateKeyPair();
  auto spk = box.dir.file("hostile.spk");
  test::SpkOptions options;
  options.codec = codec;
  test::writeSpkWith(spk, key, rootEntries, kj::mv(fill), options);
  expectRejected(box, spk, expected);
}

TEST_CASE("hostile: bad entry names are rejected by name", "[pkg][hostile]") {
  struct Case { const char* name; size_t size; const char* problem; };
  const Case cases[] = {
    {"..", 2, "\"..\""}, {".", 1, "\"..\""}, {"a/b", 3, "'/'"}, {"/abs", 4, "'/'"},
    {"", 0, "empty name"}, {"nul\0x", 5, "NUL"},
  };
  for (auto& c: cases) {
    rejectTree(c.problem, 2, [&](FileList files) {
      files[1].setName(capnp::Text::Reader(c.name, c.size));
      files[1].setRegular(kj::StringPtr("x").asBytes());
    });
  }
  rejectTree("longer than 255", 2, [](FileList files) {
    files[1].setName(kj::str(kj::repeat('n', 256)));
    files[1].setRegular(kj::StringPtr("x").asBytes());
  });
}

TEST_CASE("hostile: duplicate names, including a symlink then a directory", "[pkg][hostile]") {
  rejectTree("duplicate", 3, [](FileList files) {
    files[1].setName("lib");
    files[1].setSymlink("/etc");
    auto dir = files[2];
    dir.setName("lib");
    auto inner = dir.initDirectory(1);
    inner[0].setName("passwd");
    inner[0].setRegular(kj::StringPtr("root::0:0::/:/bin/sh\n").asBytes());
  });
  rejectTree("duplicate", 3, [](FileList files) {
    files[1].setName("sandstorm-manifest");
    files[1].setRegular(kj::StringPtr("x").asBytes());
    files[2].setName("z");
    files[2].setRegular(kj::StringPtr("x").asBytes());
  });
}

TEST_CASE("hostile: symlinks climbing above the package root", "[pkg][hostile]") {
  rejectTree("climbs above the package root", 2, [](FileList files) {
    files[1].setName("up");
    files[1].setSymlink("../../../../etc");
  });
  rejectTree("climbs above the package root", 2, [](FileList files) {
    files[1].setName("d");
    auto inner = files[1].initDirectory(1);
    inner[0].setName("l");
    inner[0].setSymlink("a/../../../x");
  });
  rejectTree("empty target", 2, [](FileList files) {
    files[1].setName("l");
    files[1].setSymlink("");
  });
}

TEST_CASE("hostile: too deep, too many files, too many bytes", "[pkg][hostile]") {
  // 60 levels: past our explicit depth limit, still inside capnp's nesting limit.
  rejectTree("nested more than", 2, [](FileList files) {
    auto dir = files[1];
    for (int i = 0; i < 60; i++) {
      dir.setName("d");
      dir = dir.initDirectory(1)[0];
    }
    dir.setName("f");
    dir.setRegular(kj::StringPtr("x").asBytes());
  });
  // 100 levels: capnp's nesting limit (pointer recursion) trips first; still a clean rejection.
  rejectTree("nest", 2, [](FileList files) {
    auto dir = files[1];
    for (int i = 0; i < 100; i++) {
      dir.setName("d");
      dir = dir.initDirectory(1)[0];
    }
    dir.setName("f");
    dir.setRegular(kj::StringPtr("x").asBytes());
  });

  Sandbox box;
  auto key = generateKeyPair();
  auto spk = box.dir.file("many.spk");
  test::writeSpkWith(spk, key, 200, [](FileList files) {
    for (uint i = 1; i < files.size(); i++) {
      files[i].setName(kj::str("f", i));
      files[i].setRegular(kj::heapArray<kj::byte>(1000).asPtr());
    }
  });
  ReadLimits few;
  few.maxEntries = 100;
  expectRejected(box, spk, "more than 100 entries", few);
  ReadLimits small;
  small.maxUnpackedBytes = 50000;
  expectRejected(box, spk, "unpacks to more than 50000 bytes", small);
}

TEST_CASE("hostile: decompression bombs stop at the limit, xz and zstd", "[pkg][hostile]") {
  for (auto codec: {Codec::ZSTD, Codec::XZ}) {
    Sandbox box;
    auto key = generateKeyPair();
    auto spk = box.dir.file("bomb.spk");
    test::SpkOptions options;
    options.codec = codec;
    // 64 MiB of zeros compresses to a few KiB.
    test::writeSpkWith(spk, key, 2, [](FileList files) {
      files[1].setName("zeros");
      files[1].initRegular(64 << 20);
    }, options);
    CHECK(test::readAll(spk).size() < (1 << 20));
    ReadLimits limits;
    limits.maxArchiveBytes = 8 << 20;
    expectRejected(box, spk, "larger than", limits);
    }
}

TEST_CASE("hostile: broken containers and signatures", "[pkg][hostile]") {
  Sandbox box;
  auto key = generateKeyPair();
  auto good = box.dir.file("good.spk");
  auto bad = box.dir.file("bad.spk");
  auto fill = [](FileList files) {
    files[1].setName("a");
    files[1].setRegular(kj::StringPtr("hello").asBytes());
  };
  for (auto codec: {Codec::ZSTD, Codec::XZ}) {
    test::SpkOptions options;
    options.codec = codec;
    test::writeSpkWith(good, key, 2, fill, options);
    auto bytes = test::readAll(good);

    // Bad magic.
    auto copy = kj::heapArray(bytes.asPtr());
    copy[7] ^= 0xff;
    test::writeAll(bad, copy);
    expectRejected(box, bad, "bad magic");
    test::writeAll(bad, kj::StringPtr("short").asBytes());
    expectRejected(box, bad, "bad magic");

    // Truncation at many points.
    for (size_t cut: {size_t(9), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
      test::writeAll(bad, bytes.slice(0, cut));
      expectRejected(box, bad, "");
    }
    // Garbage after the stream.
    auto junk = kj::heapArray<kj::byte>(bytes.size() + 3);
    memcpy(junk.begin(), bytes.begin(), bytes.size());
    junk[bytes.size()] = 1;
    test::writeAll(bad, junk);
    expectRejected(box, bad, "after the end");

    // Signed by a different key than the one it names.
    options.signWithOtherKey = true;
    test::writeSpkWith(bad, key, 2, fill, options);
    expectRejected(box, bad, "signature does not verify");
    options.signWithOtherKey = false;

    // Wrong public key length.
    options.publicKeyBytes = 31;
    test::writeSpkWith(bad, key, 2, fill, options);
    expectRejected(box, bad, "expected 32");
    options.publicKeyBytes = 32;

    // Extra plaintext after the Archive, inside the compressed stream.
    kj::byte extra[16] = {};
    options.trailingPlain = kj::arrayPtr(extra, 16);
    test::writeSpkWith(bad, key, 2, fill, options);
    expectRejected(box, bad, "after the Archive");
    options.trailingPlain = nullptr;
  }
}

TEST_CASE("hostile: manifest missing, malformed or with bad text", "[pkg][hostile]") {
  rejectTree("no sandstorm-manifest", 2, [](FileList files) {
    files[0].setName("not-the-manifest");
    files[1].setName("a");
    files[1].setRegular(kj::StringPtr("x").asBytes());
  });
  rejectTree("malformed", 1, [](FileList files) {
    files[0].setRegular(kj::StringPtr("not a capnp message at all").asBytes());
  });
  rejectTree("UTF-8", 1, [](FileList files) {
    const char title[] = {'b', 'a', 'd', char(0xc0), char(0x80), 0};
    files[0].setRegular(test::manifestBytes(title));
  });
  rejectTree("http(s) URL", 1, [](FileList files) {
    files[0].setRegular(test::manifestBytes("t", 1, "javascript:alert(1)"));
  });
  rejectTree("must be a regular file", 1, [](FileList files) {
    files[0].setSymlink("/etc/passwd");
  });
}

TEST_CASE("installed tree has only safe types and modes; stale temps are cleaned",
          "[pkg][hostile]") {
  Sandbox box;
  auto key = generateKeyPair();
  auto spk = box.dir.file("ok.spk");
  test::writeSpkWith(spk, key, 3, [](FileList files) {
    files[1].setName("run");
    files[1].setExecutable(kj::StringPtr("#!/bin/sh\n").asBytes());
    files[2].setName("etc");
    auto inner = files[2].initDirectory(2);
    inner[0].setName("passwd");
    inner[0].setRegular(kj::StringPtr("x").asBytes());
    inner[1].setName("abs");
    inner[1].setSymlink("/etc/passwd");  // absolute: resolves inside the grain, never followed
  });
  auto pkg = readPackage(spk);
  REQUIRE(installPackage(*pkg, box.packagesFd) == InstallResult::INSTALLED);
  auto root = kj::str(box.packages, "/", pkg->packageId);
  for (auto path: {"", "/run", "/etc", "/etc/passwd", "/etc/abs", "/sandstorm-manifest"}) {
    struct stat st;
    REQUIRE(lstat(kj::str(root, path).cStr(), &st) == 0);
    CAPTURE(path);
    CHECK((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)));
    CHECK((st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) == 0);
    if (!S_ISLNK(st.st_mode)) CHECK((st.st_mode & 0222) == 0);
  }
  CHECK(readFile(box.sentinel) == "do not touch");

  // A killed unpack leaves .unpacking-*; start-up cleaning removes it (read-only dirs included).
  auto stale = kj::str(box.packages, "/", TEMP_PREFIX, "dead");
  KJ_SYSCALL(mkdir(stale.cStr(), 0700));
  KJ_SYSCALL(mkdir(kj::str(stale, "/sub").cStr(), 0500));
  cleanStaleUnpacks(box.packagesFd);
  CHECK(test::listDir(box.packages).size() == 1);
}

}  // namespace
}  // namespace ss::pkg
