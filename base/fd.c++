#include "base/fd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/syscall.h"

namespace ss {

FdPair makePipe(bool nonblocking) {
  int fds[2];
  KJ_SYSCALL(::pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)));
  return {AutoCloseFd(fds[0]), AutoCloseFd(fds[1])};
}

FdPair makeSocketPair(int type, bool nonblocking) {
  int fds[2];
  if (type == 0) type = SOCK_STREAM;
  KJ_SYSCALL(::socketpair(AF_UNIX, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0, fds));
  return {AutoCloseFd(fds[0]), AutoCloseFd(fds[1])};
}

AutoCloseFd makeEventFd(bool nonblocking) {
  int fd;
  KJ_SYSCALL(fd = ::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0)));
  return AutoCloseFd(fd);
}

AutoCloseFd listenTcp(kj::StringPtr address, uint16_t port, int backlog) {
  sockaddr_storage storage{};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.cStr(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address.cStr(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(*v6);
  } else {
    KJ_FAIL_REQUIRE("not an IP address literal", address);
  }

  int fd;
  KJ_SYSCALL(fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), address);
  AutoCloseFd result(fd);
  int one = 1;
  KJ_SYSCALL(::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  KJ_SYSCALL(::bind(fd, reinterpret_cast<sockaddr*>(&storage), length),
             "cannot bind; is another server using this port?", address, port);
  KJ_SYSCALL(::listen(fd, backlog), address, port);
  return result;
}

uint16_t localPort(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  KJ_SYSCALL(::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length));
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

void setNonblocking(int fd) {
  int flags;
  KJ_SYSCALL(flags = ::fcntl(fd, F_GETFL));
  if ((flags & O_NONBLOCK) == 0) {
    KJ_SYSCALL(::fcntl(fd, F_SETFL, flags | O_NONBLOCK));
  }
}

void makeDirectories(kj::StringPtr path, mode_t mode) {
  auto partial = kj::heapString(path);
  for (size_t i = 1; i <= partial.size(); i++) {
    if (i == partial.size() || partial[i] == '/') {
      char saved = partial.begin()[i];
      partial.begin()[i] = '\0';
      KJ_SYSCALL_HANDLE_ERRORS(::mkdir(partial.cStr(), mode)) {
        case EEXIST: break;
        default: {
          kj::StringPtr directory = partial;
          KJ_FAIL_SYSCALL("cannot create directory", error, directory);
        }
      }
      partial.begin()[i] = saved;
    }
  }
}

kj::String readFile(kj::StringPtr path) {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
  AutoCloseFd owned(fd);
  struct stat st;
  KJ_SYSCALL(::fstat(fd, &st), path);
  auto result = kj::heapString(st.st_size);
  size_t done = 0;
  while (done < result.size()) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, result.begin() + done, result.size() - done), path);
    if (n == 0) break;  // file shrank while we read it
    done += n;
  }
  return done == result.size() ? kj::mv(result) : kj::heapString(result.begin(), done);
}

}  // namespace ss
