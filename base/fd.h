// Owned file descriptors. Every fd we create is close-on-exec from the start, so a forked
// grain can never inherit the ring, a listener or another grain's socket by accident (the
// sandbox also closes everything but 0-3, as defence in depth).
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <sys/types.h>

namespace ss {

using kj::AutoCloseFd;

struct FdPair {
  AutoCloseFd first;
  AutoCloseFd second;
};

FdPair makePipe(bool nonblocking = true);
// pipe2(O_CLOEXEC [| O_NONBLOCK]); first = read end, second = write end.

FdPair makeSocketPair(int type = 0, bool nonblocking = true);
// AF_UNIX socketpair of SOCK_STREAM (or `type`), close-on-exec.

AutoCloseFd makeEventFd(bool nonblocking = true);

AutoCloseFd listenTcp(kj::StringPtr address, uint16_t port, int backlog);
// Binds and listens on an IPv4/IPv6 literal address (e.g. "127.0.0.1", "::", "0.0.0.0").
// SO_REUSEADDR is set so a restart does not wait for TIME_WAIT. Throws with the address on
// failure (EADDRINUSE is the common one; the message names the port).

uint16_t localPort(int fd);
// The port a bound socket has (for port 0 = ephemeral).

void setNonblocking(int fd);

kj::String readFile(kj::StringPtr path);

void makeDirectories(kj::StringPtr path, mode_t mode = 0700);
// mkdir -p: creates `path` and missing parents with `mode`; existing ones are left as they are.
// Whole small file (config, static assets); throws naming the path.

}  // namespace ss
