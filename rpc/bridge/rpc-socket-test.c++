// RpcSocket against Cap'n Proto's own stream (the daemon's side uses capnp's writer too) over a
// real socketpair: framing, batching, descriptors attached to the right message, big messages,
// and a writer that must wait for the reader.
#include "rpc/bridge/rpc-socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize-async.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>

#include "rpc/util.capnp.h"
#include "tests/test-support.h"

namespace ss::bridge {
namespace {

struct Pair {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<kj::AsyncCapabilityStream> peerStream;
  kj::Own<capnp::MessageStream> peer;  // capnp's AsyncCapabilityMessageStream
  kj::Own<RpcSocket> ours;

  Pair() {
    int fds[2];
    KJ_SYSCALL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds));
    peerStream = io.lowLevelProvider->wrapUnixSocketFd(
        fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    peer = kj::heap<capnp::AsyncCapabilityMessageStream>(*peerStream);
    ours = kj::heap<RpcSocket>(io.unixEventPort, kj::AutoCloseFd(fds[1]), 4);
  }
};

// A message whose root is a Text of `size` bytes of `fill`.
kj::Own<capnp::MallocMessageBuilder> textMessage(size_t size, char fill) {
  auto m = kj::heap<capnp::MallocMessageBuilder>();
  auto text = m->initRoot<capnp::AnyPointer>().initAs<capnp::Text>(size);
  memset(text.begin(), fill, size);
  return m;
}

void checkText(capnp::MessageReader& r, size_t size, char fill) {
  auto text = r.getRoot<capnp::AnyPointer>().getAs<capnp::Text>();
  REQUIRE(text.size() == size);
  size_t wrong = 0;
  for (char c: text) wrong += c != fill;
  REQUIRE(wrong == 0);
}

ino_t inodeOf(int fd) {
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st));
  return st.st_ino;
}

TEST_CASE("rpc socket: messages written back to back arrive whole and in order", "[bridge]") {
  Pair p;
  constexpr int N = 200;  // more than the socket buffers hold: written while being read
  kj::Vector<kj::Own<capnp::MallocMessageBuilder>> messages;
  for (int i = 0; i < N; ++i) messages.add(textMessage(10 + i * 7, char('a' + i % 26)));
  kj::Promise<void> writes = kj::READY_NOW;
  for (int i = 0; i < N; ++i) {
    writes = writes.then([&, i]() { return p.peer->writeMessage(*messages[i]); });
  }
  auto written = writes.fork();
  for (int i = 0; i < N; ++i) {
    kj::AutoCloseFd space[4];
    auto got = p.ours->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope);
    auto& m = KJ_ASSERT_NONNULL(got);
    checkText(*m.reader, 10 + i * 7, char('a' + i % 26));
    CHECK(m.fds.size() == 0);
  }
  written.addBranch().wait(p.io.waitScope);
  p.peerStream->shutdownWrite();
  kj::AutoCloseFd space[4];
  CHECK(p.ours->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope) == nullptr);
}

TEST_CASE("rpc socket: descriptors stay with their message when messages share a read",
          "[bridge]") {
  Pair p;
  int pipeA[2], pipeB[2];
  KJ_SYSCALL(pipe2(pipeA, O_CLOEXEC));
  KJ_SYSCALL(pipe2(pipeB, O_CLOEXEC));
  kj::AutoCloseFd a0(pipeA[0]), a1(pipeA[1]), b0(pipeB[0]), b1(pipeB[1]);
  // plain, with A, plain, with A and B, plain: all written before anything is read.
  auto m0 = textMessage(100, 'x');
  auto m1 = textMessage(200, 'y');
  auto m2 = textMessage(300, 'z');
  auto m3 = textMessage(50, 'w');
  auto m4 = textMessage(70, 'v');
  int one[] = {a0.get()};
  int two[] = {a0.get(), b1.get()};
  p.peer->writeMessage(*m0).wait(p.io.waitScope);
  p.peer->writeMessage(one, *m1).wait(p.io.waitScope);
  p.peer->writeMessage(*m2).wait(p.io.waitScope);
  p.peer->writeMessage(two, *m3).wait(p.io.waitScope);
  p.peer->writeMessage(*m4).wait(p.io.waitScope);

  struct Expect { size_t size; char fill; kj::Vector<ino_t> inodes; };
  Expect expect[5] = {{100, 'x', {}}, {200, 'y', {}}, {300, 'z', {}}, {50, 'w', {}},
                      {70, 'v', {}}};
  expect[1].inodes.add(inodeOf(a0.get()));
  expect[3].inodes.add(inodeOf(a0.get()));
  expect[3].inodes.add(inodeOf(b1.get()));
  for (auto& e: expect) {
    kj::AutoCloseFd space[4];
    auto got = p.ours->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope);
    auto& m = KJ_ASSERT_NONNULL(got);
    checkText(*m.reader, e.size, e.fill);
    REQUIRE(m.fds.size() == e.inodes.size());
    for (size_t i = 0; i < m.fds.size(); ++i) CHECK(inodeOf(m.fds[i].get()) == e.inodes[i]);
  }
}

TEST_CASE("rpc socket: a message bigger than the read buffer, then small ones", "[bridge]") {
  Pair p;
  size_t big = 3 * 1024 * 1024 + 5;  // > RPC_READ_BUFFER_BYTES, several socket buffers
  auto m0 = textMessage(big, 'q');
  auto m1 = textMessage(10, 'r');
  // Written while being read: the socket buffer cannot hold it at once.
  auto writes = p.peer->writeMessage(*m0).then([&]() { return p.peer->writeMessage(*m1); });
  kj::AutoCloseFd space[4];
  auto got = p.ours->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope);
  checkText(*KJ_ASSERT_NONNULL(got).reader, big, 'q');
  auto next = p.ours->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope);
  checkText(*KJ_ASSERT_NONNULL(next).reader, 10, 'r');
  writes.wait(p.io.waitScope);
}

TEST_CASE("rpc socket: over the receive limit is refused", "[bridge]") {
  Pair p;
  auto m = textMessage(64 * 1024, 'x');
  p.peer->writeMessage(*m).wait(p.io.waitScope);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 1024;
  kj::AutoCloseFd space[4];
  CHECK_THROWS_WITH(p.ours->tryReadMessage(space, options, nullptr).wait(p.io.waitScope),
                    Catch::Contains("larger than the receive limit"));
}

TEST_CASE("rpc socket: writes wait for a slow reader and keep descriptors and order",
          "[bridge]") {
  Pair p;
  int pipeA[2];
  KJ_SYSCALL(pipe2(pipeA, O_CLOEXEC));
  kj::AutoCloseFd a0(pipeA[0]), a1(pipeA[1]);
  constexpr int N = 40;
  kj::Vector<kj::Own<capnp::MallocMessageBuilder>> messages;
  for (int i = 0; i < N; ++i) messages.add(textMessage(100 * 1024 + i, char('a' + i % 26)));
  // Chained like TwoPartyVatNetwork does; 4 MiB in all, far beyond the socket's buffers, so
  // writes hit EAGAIN and must resume when the reader makes room.
  int fdList[] = {a0.get()};
  kj::Promise<void> writes = kj::READY_NOW;
  for (int i = 0; i < N; ++i) {
    writes = writes.then([&, i]() {
      auto segments = messages[i]->getSegmentsForOutput();
      return i == N / 2 ? p.ours->writeMessage(fdList, segments)
                        : p.ours->writeMessage(nullptr, segments);
    });
  }
  auto written = writes.fork();
  for (int i = 0; i < N; ++i) {
    kj::AutoCloseFd space[4];
    auto got = p.peer->tryReadMessage(space, {}, nullptr).wait(p.io.waitScope);
    auto& m = KJ_ASSERT_NONNULL(got);
    checkText(*m.reader, 100 * 1024 + i, char('a' + i % 26));
    REQUIRE(m.fds.size() == (i == N / 2 ? 1u : 0u));
    if (i == N / 2) CHECK(inodeOf(m.fds[0].get()) == inodeOf(a0.get()));
  }
  written.addBranch().wait(p.io.waitScope);
}

}  // namespace
}  // namespace ss::bridge
