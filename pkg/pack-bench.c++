// pkg-bench: unpack throughput for our zstd format vs Sandstorm's xz on a 100 MiB package, and
// verify time. Not a test: run it by hand (`build/pkg/pkg-bench [MiB]`) on a quiet machine.
// Goals (issue): zstd unpack >= 500 MB/s, verify of 100 MiB < 1 s.
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/main.h>

#include "pkg/reader.h"
#include "pkg/unpack.h"
#include "pkg/writer.h"

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void writeFile(kj::StringPtr path, kj::ArrayPtr<const kj::byte> data) {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), path);
  kj::AutoCloseFd owned(fd);
  kj::FdOutputStream(fd).write(data.begin(), data.size());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ss::pkg;
  size_t mib = argc > 1 ? atoi(argv[1]) : 100;
  KJ_REQUIRE(sodium_init() >= 0);
  char templ[] = "/tmp/pkg-bench-XXXXXX";
  KJ_REQUIRE(mkdtemp(templ) != nullptr);
  kj::String dir = kj::str(templ);
  KJ_DEFER(removeTreeAt(AT_FDCWD, dir));

  // Mixed content like a real app: 1/3 random (binaries, images), 2/3 compressible text, in
  // 256 KiB files.
  PackageTree tree;
  capnp::MallocMessageBuilder manifestMessage;
  auto manifest = manifestMessage.initRoot<ss::spk::Manifest>();
  manifest.initAppTitle().setDefaultText("Bench");
  auto words = capnp::messageToFlatArray(manifestMessage);
  tree.addContent("sandstorm-manifest", kj::heapArray<kj::byte>(words.asBytes()), false);
  constexpr size_t FILE_BYTES = 256 << 10;
  size_t files = mib * 4;
  auto buffer = kj::heapArray<kj::byte>(FILE_BYTES);
  KJ_SYSCALL(mkdir(kj::str(dir, "/src").cStr(), 0755));
  for (size_t i = 0; i < files; i++) {
    if (i % 3 == 0) {
      randombytes_buf(buffer.begin(), buffer.size());
    } else {
      for (size_t j = 0; j < buffer.size(); j++) {
        buffer[j] = "the quick brown fox jumps over the lazy dog 0123456789\n"[(j * 7 + i) % 55] ^
                    ((randombytes_uniform(16) == 0) ? 1 : 0);
      }
    }
    auto path = kj::str(dir, "/src/f", i);
    writeFile(path, buffer);
    tree.addHostFile(kj::str("data/d", i % 16, "/f", i), path, false, 0);
  }
  auto key = generateKeyPair();
  printf("package: %zu MiB in %zu files\n", mib, files);

  for (auto codec: {Codec::ZSTD, Codec::XZ}) {
    auto spk = kj::str(dir, codec == Codec::XZ ? "/bench-xz.spk" : "/bench-zstd.spk");
    WriteOptions options;
    options.codec = codec;
    double t0 = now();
    auto written = writePackage(tree, key, spk, options);
    double packTime = now() - t0;

    t0 = now();
    auto pkg = readPackage(spk);
    double verifyTime = now() - t0;
    pkg = nullptr;

    auto packages = kj::str(dir, "/packages-", codec == Codec::XZ ? "xz" : "zstd");
    KJ_SYSCALL(mkdir(packages.cStr(), 0755));
    int packagesFd;
    KJ_SYSCALL(packagesFd = open(packages.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    kj::AutoCloseFd ownedFd(packagesFd);
    t0 = now();
    auto verified = readPackage(spk);
    installPackage(*verified, packagesFd);
    double unpackTime = now() - t0;

    double mb = written.archiveBytes / 1e6;
    printf("%-5s file %6.1f MB (pack %5.1f s) | verify %.3f s (%6.0f MB/s) | "
           "verify+unpack %.3f s (%6.0f MB/s)\n",
           codec == Codec::XZ ? "xz" : "zstd", written.fileBytes / 1e6, packTime, verifyTime,
           mb / verifyTime, unpackTime, mb / unpackTime);
  }
  return 0;
}
