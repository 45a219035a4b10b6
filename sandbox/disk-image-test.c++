// Per-grain disk quota: a loop-mounted ext4 image as the grain's /var stops a disk filler at
// the image size, the host loses no more than that, and usage is measured with statfs.
#include "sandbox/disk-image.h"

#include <sys/statfs.h>
#include <unistd.h>

#include <string>

#include "base/fd.h"
#include "sandbox/limits.h"
#include "sandbox/spawn.h"
#include "sandbox/test-package.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

std::string jsonField(const std::string& line, const std::string& name) {
  auto key = "\"" + name + "\":\"";
  auto pos = line.find(key);
  if (pos == std::string::npos) return "";
  auto start = pos + key.size();
  return line.substr(start, line.find('"', start) - start);
}

uint64_t hostFreeBytes(kj::StringPtr path) {
  struct statfs fs;
  statfs(path.cStr(), &fs);
  return fs.f_bavail * fs.f_bsize;
}

TEST_CASE("a disk filler in a grain stops at its quota (F-7)", "[sandbox][disk]") {
  if (geteuid() != 0) SS_SKIP("needs root for loop devices (CI runs as root)");
  if (access("/dev/loop-control", W_OK) != 0) SS_SKIP("no /dev/loop-control");
  constexpr uint64_t QUOTA = 16ull << 20;
  test::TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto image = kj::str(grain.root(), "/var.img");
  createDiskImage(image, QUOTA, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  uint64_t freeBefore = hostFreeBytes(grain.root());
  {
    auto mounted = MountedDiskImage::mount(image, grain.varDir());
    auto empty = diskUsage(grain.varDir());
    CHECK(empty.totalBytes <= QUOTA);
    CHECK(empty.totalBytes > QUOTA / 2);

    kj::StringPtr args[] = {"diskfill"};
    auto plan = planFor(grain.config(test::uniqueGrainId("diskfill"), args));
    auto out = makePipe(false);
    auto sock = makeSocketPair();
    auto host = SandboxHost::detect();
    auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
    out.second = nullptr;
    std::string output;
    char buffer[512];
    ssize_t n;
    while ((n = read(out.first.get(), buffer, sizeof(buffer))) > 0) output.append(buffer, n);
    auto status = proc.wait();
    CHECK(status.exited);

    auto big = output.substr(0, output.find('\n'));
    auto small = output.substr(output.find('\n') + 1);
    CAPTURE(output);
    CHECK(jsonField(big, "result") == "ENOSPC");
    CHECK(std::stoull(jsonField(big, "detail")) <= QUOTA);
    CHECK(jsonField(small, "result") == "ENOSPC");  // inodes run out too, still inside

    auto full = diskUsage(grain.varDir());
    CHECK(full.usedBytes > full.totalBytes * 9 / 10);
  }
  // Unmounted: the host paid at most the image size (+1 MiB slack for metadata). Other
  // processes may free space meanwhile (parallel tests): more free space is not a failure.
  uint64_t freeAfter = hostFreeBytes(grain.root());
  uint64_t paid = freeAfter < freeBefore ? freeBefore - freeAfter : 0;
  CHECK(paid <= QUOTA + (1 << 20));
}

TEST_CASE("creating an image that is too small is refused", "[sandbox][disk]") {
  REQUIRE_THROWS_WITH(createDiskImage("/nonexistent/x.img", 1 << 20, 1, 1),
                      Catch::Contains("disk image too small"));
}

}  // namespace
}  // namespace ss::sandbox
