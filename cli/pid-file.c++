#include "cli/pid-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

namespace ss::cli {

namespace {

kj::Maybe<kj::String> readSmallFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  AutoCloseFd file(fd);
  char buffer[1024];
  ssize_t n;
  KJ_SYSCALL(n = read(file.get(), buffer, sizeof(buffer) - 1), path);
  return kj::heapString(buffer, n);
}

}  // namespace

kj::String pidFilePath(kj::StringPtr dataDir) { return kj::str(dataDir, "/run/sandstorm.pid"); }

PidFile::PidFile(kj::StringPtr dataDir): dir(kj::str(dataDir, "/run")) {
  makeDirectories(dir, 0700);
  auto path = pidFilePath(dataDir);
  int raw;
  KJ_SYSCALL(raw = open(path.cStr(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), path);
  fd = AutoCloseFd(raw);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    int error = errno;
    KJ_REQUIRE(error == EWOULDBLOCK, "cannot lock the pidfile", path, strerror(error));
    KJ_FAIL_REQUIRE("another Sandstorm server is already using this data directory; stop it "
                    "first (or pass a different --data-dir)", dataDir);
  }
  // The URL of a previous run would be wrong until this one writes its own.
  auto url = kj::str(dir, "/sandstorm.url");
  if (unlink(url.cStr()) < 0 && errno != ENOENT) KJ_FAIL_SYSCALL("unlink", errno, url);
  auto text = kj::str(getpid(), "\n");
  KJ_SYSCALL(ftruncate(fd.get(), 0), path);
  ssize_t n;
  KJ_SYSCALL(n = pwrite(fd.get(), text.begin(), text.size(), 0), path);
  KJ_REQUIRE(size_t(n) == text.size(), "short write", path);
}

void PidFile::setUrl(kj::StringPtr url) {
  // Written whole then renamed: status never reads half a URL.
  auto path = kj::str(dir, "/sandstorm.url");
  auto temp = kj::str(path, ".tmp");
  int raw;
  KJ_SYSCALL(raw = open(temp.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), temp);
  AutoCloseFd file(raw);
  auto text = kj::str(url, "\n");
  ssize_t n;
  KJ_SYSCALL(n = write(file.get(), text.begin(), text.size()), temp);
  KJ_REQUIRE(size_t(n) == text.size(), "short write", temp);
  KJ_SYSCALL(rename(temp.cStr(), path.cStr()), path);
}

kj::Maybe<pid_t> runningServer(kj::StringPtr dataDir) {
  auto path = pidFilePath(dataDir);
  int raw = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    int error = errno;
    KJ_REQUIRE(error == ENOENT || error == ENOTDIR, "cannot open the pidfile", path,
               strerror(error));
    return nullptr;
  }
  AutoCloseFd file(raw);
  if (flock(file.get(), LOCK_SH | LOCK_NB) == 0) return nullptr;  // nobody holds it: stale
  int error = errno;
  KJ_REQUIRE(error == EWOULDBLOCK, "cannot check the pidfile's lock", path, strerror(error));
  // Held: the server wrote its pid right after locking. (A server that is only now starting
  // may not have written it yet: wait a moment.)
  for (int attempt = 0; attempt < 50; attempt++) {
    char buffer[32];
    ssize_t n;
    KJ_SYSCALL(n = pread(file.get(), buffer, sizeof(buffer) - 1, 0), path);
    buffer[n > 0 ? n : 0] = '\0';
    long pid = strtol(buffer, nullptr, 10);
    if (n > 0 && buffer[n - 1] == '\n' && pid > 0) return pid_t(pid);
    usleep(10'000);
  }
  KJ_FAIL_REQUIRE("the pidfile is locked but has no pid", path);
}

kj::Maybe<kj::String> runningServerUrl(kj::StringPtr dataDir) {
  KJ_IF_MAYBE(text, readSmallFile(kj::str(dataDir, "/run/sandstorm.url"))) {
    auto trimmed = text->size() > 0 && (*text)[text->size() - 1] == '\n'
                       ? kj::heapString(text->begin(), text->size() - 1)
                       : kj::mv(*text);
    return kj::mv(trimmed);
  }
  return nullptr;
}

}  // namespace ss::cli
