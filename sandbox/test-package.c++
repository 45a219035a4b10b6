#include "sandbox/test-package.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/io.h>
#include <stdio.h>

namespace ss::sandbox::test {

namespace {

void copyFile(kj::StringPtr from, kj::StringPtr to, mode_t mode) {
  int in, out;
  KJ_SYSCALL(in = open(from.cStr(), O_RDONLY | O_CLOEXEC), from);
  kj::AutoCloseFd ownedIn(in);
  KJ_SYSCALL(out = open(to.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), to);
  kj::AutoCloseFd ownedOut(out);
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0), from);
    if (n == 0) break;
  }
  KJ_SYSCALL(fchmod(out, mode), to);
}

}  // namespace

TestGrain::TestGrain(kj::StringPtr programPath, uint32_t hostUid, uint32_t hostGid)
    : hostUid(hostUid), hostGid(hostGid) {
  const char* tmp = getenv("TMPDIR");
  auto pattern = kj::str(tmp ? tmp : "/tmp", "/ss-grain-XXXXXX");
  KJ_REQUIRE(mkdtemp(pattern.begin()) != nullptr, "mkdtemp", pattern, strerror(errno));
  root_ = kj::mv(pattern);
  // Traversable by the grain's uid (an unprivileged test runs the sandbox as another user).
  KJ_SYSCALL(chmod(root_.cStr(), 0755));
  KJ_SYSCALL(mkdir(packageDir().cStr(), 0755));
  KJ_SYSCALL(mkdir(varDir().cStr(), 0700));
  KJ_SYSCALL(chown(varDir().cStr(), hostUid, hostGid));
  copyFile(programPath, kj::str(packageDir(), "/program"), 0755);
}

TestGrain::~TestGrain() noexcept(false) { removeTree(root_); }

GrainConfig TestGrain::config(kj::StringPtr grainId, kj::ArrayPtr<const kj::StringPtr> args) const {
  GrainConfig c;
  c.grainId = kj::str(grainId);
  c.packageDir = packageDir();
  c.varDir = varDir();
  c.argv.add(kj::str("/program"));
  for (auto a : args) c.argv.add(kj::str(a));
  c.hostUid = hostUid;
  c.hostGid = hostGid;
  return c;
}

kj::String uniqueGrainId(kj::StringPtr prefix) {
  static unsigned counter = 0;
  return kj::str(prefix, "-", getpid(), "-", counter++);
}

void removeTree(kj::StringPtr path) {
  nftw(
      path.cStr(),
      [](const char* p, const struct stat*, int, struct FTW*) -> int {
        remove(p);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

}  // namespace ss::sandbox::test
