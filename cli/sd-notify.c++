#include "cli/sd-notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/fd.h"

namespace ss::cli {

bool sdNotify(kj::StringPtr state) {
  const char* socketPath = getenv("NOTIFY_SOCKET");
  if (socketPath == nullptr || socketPath[0] == '\0') return false;
  kj::StringPtr path = socketPath;
  KJ_REQUIRE(path.startsWith("/") || path.startsWith("@"),
             "NOTIFY_SOCKET must be an absolute path or an abstract name (@...)", path);

  sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  KJ_REQUIRE(path.size() < sizeof(address.sun_path), "NOTIFY_SOCKET is too long", path);
  memcpy(address.sun_path, path.begin(), path.size());
  // An abstract address starts with a NUL byte and has no terminator: its length counts.
  if (path.startsWith("@")) address.sun_path[0] = '\0';
  socklen_t length = offsetof(sockaddr_un, sun_path) + path.size() + (path.startsWith("@") ? 0 : 1);

  int fd;
  KJ_SYSCALL(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  AutoCloseFd sock(fd);
  ssize_t sent;
  KJ_SYSCALL(sent = sendto(sock.get(), state.begin(), state.size(), MSG_NOSIGNAL,
                           reinterpret_cast<sockaddr*>(&address), length),
             "sd_notify", path, state);
  KJ_REQUIRE(size_t(sent) == state.size(), "sd_notify: short send", path);
  return true;
}

kj::Maybe<uint64_t> sdWatchdogUsec() {
  const char* usec = getenv("WATCHDOG_USEC");
  if (usec == nullptr) return nullptr;
  const char* pid = getenv("WATCHDOG_PID");
  if (pid != nullptr && strtol(pid, nullptr, 10) != getpid()) return nullptr;
  char* end;
  errno = 0;
  unsigned long long n = strtoull(usec, &end, 10);
  if (errno != 0 || *end != '\0' || n == 0) return nullptr;
  return uint64_t(n);
}

}  // namespace ss::cli
