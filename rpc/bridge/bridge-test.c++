// The real static sandstorm-http-bridge as a child process, with fd 3 = one end of a
// socketpair, and bridge-test-app behind it. This test process plays the platform: KJ's epoll
// loop, TwoPartyVatNetwork side SERVER with fd passing, bootstrap MainView, newSession, calls.
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <capnp/rpc-twoparty.h>
#include <capnp/serialize.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/encoding.h>

#include "rpc/grain.capnp.h"
#include "rpc/package.capnp.h"
#include "rpc/web-session.capnp.h"
#include "tests/test-support.h"

namespace ss::bridge {
namespace {

using rpc::WebSession;
using Clock = std::chrono::steady_clock;

uint8_t patternByte(uint64_t i) { return uint8_t((i * 131) ^ (i >> 9)); }

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  KJ_SYSCALL(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  socklen_t len = sizeof(addr);
  KJ_SYSCALL(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len));
  close(fd);
  return ntohs(addr.sin_port);
}

// A Util.Handle carrying a file descriptor, as the platform passes pipe ends.
class FdHandle final: public rpc::Handle::Server {
public:
  explicit FdHandle(kj::AutoCloseFd fd): fd(kj::mv(fd)) {}
  kj::Maybe<int> getFd() override { return fd.get(); }

private:
  kj::AutoCloseFd fd;
};

struct Pipe {
  kj::AutoCloseFd readEnd, writeEnd;
};

Pipe makePipe() {
  int fds[2];
  KJ_SYSCALL(pipe2(fds, O_CLOEXEC | O_NONBLOCK));
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  return {kj::AutoCloseFd(fds[0]), kj::AutoCloseFd(fds[1])};
}

struct Options {
  std::vector<std::string> command;   // default: the test app on the chosen port
  std::string portWaitMs = "10000";
  std::string configPath;
};

class Harness {
public:
  explicit Harness(Options options = {})
      : io(kj::setupAsyncIo()), port(freePort()) {
    int sv[2];
    KJ_SYSCALL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    kj::AutoCloseFd ours(sv[0]), theirs(sv[1]);
    std::vector<std::string> args = {SS_BRIDGE_BINARY, std::to_string(port), "--"};
    if (options.command.empty()) {
      args.push_back(SS_BRIDGE_TEST_APP);
      args.push_back(std::to_string(port));
    } else {
      for (auto& a : options.command) args.push_back(a == "PORT" ? std::to_string(port) : a);
    }
    KJ_SYSCALL(pid = fork());
    if (pid == 0) {
      setpgid(0, 0);  // so cleanup can kill the bridge and everything it started
      dup2(theirs.get(), 3);
      setenv("SANDSTORM_BRIDGE_PORT_WAIT_MS", options.portWaitMs.c_str(), 1);
      setenv("SANDSTORM_BRIDGE_CONFIG",
             options.configPath.empty() ? "/nonexistent" : options.configPath.c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    setpgid(pid, pid);
    theirs = nullptr;
    stream = io.lowLevelProvider->wrapUnixSocketFd(kj::mv(ours));
    network = kj::heap<capnp::TwoPartyVatNetwork>(*stream, 4, capnp::rpc::twoparty::Side::SERVER);
    rpcSystem = kj::heap(capnp::makeRpcClient(*network));
    capnp::MallocMessageBuilder vatId;
    vatId.initRoot<capnp::rpc::twoparty::VatId>().setSide(capnp::rpc::twoparty::Side::CLIENT);
    mainView = rpcSystem->bootstrap(vatId.getRoot<capnp::rpc::twoparty::VatId>())
                   .castAs<rpc::MainView>();
  }

  ~Harness() noexcept(false) {
    if (pid > 0) {
      // Politely first (the bridge forwards SIGTERM and reaps the app), then the whole group.
      kill(pid, SIGTERM);
      for (int i = 0; i < 300; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) {
          pid = 0;
          break;
        }
        usleep(10000);
      }
      if (pid > 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  }

  template <typename T>
  T wait(kj::Promise<T>&& p, kj::Duration limit = 60 * kj::SECONDS) {
    return io.provider->getTimer().timeoutAfter(limit, kj::mv(p)).wait(io.waitScope);
  }

  WebSession::Client newSession(bool loggedIn = true) {
    auto req = mainView.newSessionRequest();
    auto user = req.initUserInfo();
    if (loggedIn) {
      user.setDisplayName("Alice Smith");
      auto id = user.initIdentityId(32);
      for (size_t i = 0; i < 32; ++i) id[i] = kj::byte(i * 7);
      user.setPreferredHandle("alice");
      user.setPictureUrl("http://pics.example/alice.png");
      user.setPronouns(rpc::UserInfo::Pronouns::FEMALE);
      auto perms = user.initPermissions(3);
      perms.set(0, true);
      perms.set(1, true);
      perms.set(2, false);
    } else {
      user.setDisplayName("Anonymous User");
    }
    req.setSessionType(capnp::typeId<WebSession>());
    auto params = req.initSessionParams().initAs<WebSession::Params>();
    params.setBasePath("http://grain.example:7001");
    params.setUserAgent("test-agent/1");
    auto tab = req.initTabId(4);
    tab[0] = 0xde; tab[1] = 0xad; tab[2] = 0xbe; tab[3] = 0xef;
    return wait(req.send()).getSession().castAs<WebSession>();
  }

  // The bridge's exit status, waiting at most `limit`.
  kj::Maybe<int> waitExit(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = 0;
        return status;
      }
      // Keep the RPC connection serviced meanwhile.
      io.provider->getTimer().afterDelay(10 * kj::MILLISECONDS).wait(io.waitScope);
    }
    return nullptr;
  }

  long rssKiB() {
    auto path = kj::str("/proc/", pid, "/status");
    FILE* f = fopen(path.cStr(), "r");
    if (f == nullptr) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f)) {
      if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    }
    fclose(f);
    return kb;
  }

  kj::AsyncIoContext io;
  uint16_t port;
  pid_t pid = 0;
  kj::Own<kj::AsyncCapabilityStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpcSystem;
  rpc::MainView::Client mainView = nullptr;
};

void addHeader(capnp::List<WebSession::Header>::Builder list, uint i, const char* n,
               const char* v) {
  list[i].setName(n);
  list[i].setValue(v);
}

std::string text(capnp::Data::Reader d) { return std::string(d.asChars().begin(), d.size()); }

std::string headerOf(WebSession::Response::Reader r, const char* name) {
  for (auto h : r.getRawHeaders()) {
    if (strcasecmp(h.getName().cStr(), name) == 0) return h.getValue();
  }
  return "<absent>";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Reads a body pipe to EOF, checking it against the test pattern; returns the byte count.
kj::Promise<uint64_t> readPattern(kj::Own<kj::AsyncInputStream> in, uint64_t offset = 0) {
  auto buffer = kj::heapArray<kj::byte>(1 << 20);
  auto ptr = buffer.begin();
  auto size = buffer.size();
  return in->tryRead(ptr, 1, size).then([in = kj::mv(in), buffer = kj::mv(buffer),
                                        offset](size_t n) mutable -> kj::Promise<uint64_t> {
    if (n == 0) return offset;
    for (size_t i = 0; i < n; ++i) {
      if (buffer[i] != patternByte(offset + i)) {
        KJ_FAIL_REQUIRE("body differs from the pattern", offset + i);
      }
    }
    return readPattern(kj::mv(in), offset + n);
  });
}

kj::Own<kj::AsyncInputStream> bodyStream(Harness& h, WebSession::Response::Reader r) {
  auto pipe = r.getContent().getBody().getPipe();
  auto fd = h.wait(pipe.getFd());
  int raw;
  KJ_IF_MAYBE(f, fd) { raw = fcntl(*f, F_DUPFD_CLOEXEC, 3); } else { KJ_FAIL_REQUIRE("no fd"); }
  return h.io.lowLevelProvider->wrapInputFd(raw, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
}

std::string writeConfig(ss::test::TempDir& dir) {
  capnp::MallocMessageBuilder message;
  auto config = message.initRoot<ss::spk::BridgeConfig>();
  auto perms = config.initViewInfo().initPermissions(3);
  perms[0].setName("read");
  perms[1].setName("write");
  perms[2].setName("admin");
  auto path = dir.file("bridge-config");
  int fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  capnp::writeMessageToFd(fd, message);
  close(fd);
  return path.cStr();
}

TEST_CASE("methods and paths and headers are relayed with Sandstorm headers and no spoofs",
          "[bridge]") {
  ss::test::TempDir dir;
  Harness h({{}, "10000", writeConfig(dir)});
  auto session = h.newSession();

  auto req = session.postRequest();
  req.setPath("echo/a%2Fb/../c?x=1&y=%20");
  req.initContent().setContent(kj::StringPtr("hello body").asBytes());
  req.getContent().setMimeType("text/x-test");
  auto headers = req.initContext().initRawHeaders(4);
  addHeader(headers, 0, "x-custom-req", "hello");
  addHeader(headers, 1, "x-sandstorm-username", "Mallory");
  addHeader(headers, 2, "X-Sandstorm-Permissions", "admin");
  addHeader(headers, 3, "cookie", "a=b");
  auto resp = h.wait(req.send());
  CHECK(resp.getRawStatus() == 200);
  REQUIRE(resp.isContent());
  auto body = text(resp.getContent().getBody().getBytes());
  CAPTURE(body);
  CHECK(contains(body, "method: POST\n"));
  CHECK(contains(body, "target: /echo/a%2Fb/../c?x=1&y=%20\n"));
  CHECK(contains(body, "header: x-custom-req: hello\n"));
  CHECK(contains(body, "header: cookie: a=b\n"));
  CHECK(contains(body, "header: Host: grain.example:7001\n"));
  CHECK(contains(body, "header: X-Forwarded-Proto: http\n"));
  CHECK(contains(body, "header: Content-Type: text/x-test\n"));
  CHECK(contains(body, "header: Content-Length: 10\n"));
  CHECK(contains(body, "header: X-Sandstorm-Username: Alice%20Smith\n"));
  CHECK(contains(body, "header: X-Sandstorm-User-Id: 00070e151c232a31383f464d545b6269\n"));
  CHECK(contains(body, "header: X-Sandstorm-Preferred-Handle: alice\n"));
  CHECK(contains(body, "header: X-Sandstorm-User-Picture: http://pics.example/alice.png\n"));
  CHECK(contains(body, "header: X-Sandstorm-User-Pronouns: female\n"));
  CHECK(contains(body, "header: X-Sandstorm-Permissions: read,write\n"));
  CHECK(contains(body, "header: X-Sandstorm-Tab-Id: deadbeef\n"));
  CHECK(contains(body, "header: X-Sandstorm-Base-Path: http://grain.example:7001\n"));
  CHECK(contains(body, "header: X-Sandstorm-Session-Type: normal\n"));
  CHECK(contains(body, "header: X-Sandstorm-Session-Id: "));
  CHECK(!contains(body, "Mallory"));
  CHECK(!contains(body, "X-Sandstorm-Permissions: admin"));
  CHECK(contains(body, "\n\nhello body"));
  CHECK(headerOf(resp, "x-conn") != "<absent>");
  CHECK(headerOf(resp, "content-length") == "<absent>");  // travels as bodyLength
  CHECK(resp.getContent().getBodyLength() == int64_t(body.size()));

  // The other methods, on the same session; keep-alive means the same app connection.
  auto conn = headerOf(resp, "x-conn");
  {
    auto r = session.putRequest();
    r.setPath("echo/put");
    r.initContent().setContent(kj::StringPtr("p").asBytes());
    auto out = h.wait(r.send());
    CHECK(contains(text(out.getContent().getBody().getBytes()), "method: PUT\n"));
    CHECK(headerOf(out, "x-conn") == conn);
  }
  {
    auto r = session.patchRequest();
    r.setPath("echo/patch");
    r.initContent().setContent(kj::StringPtr("q").asBytes());
    auto out = h.wait(r.send());
    CHECK(contains(text(out.getContent().getBody().getBytes()), "method: PATCH\n"));
  }
  {
    auto r = session.deleteRequest();
    r.setPath("echo/del");
    auto out = h.wait(r.send());
    auto b = text(out.getContent().getBody().getBytes());
    CHECK(contains(b, "method: DELETE\n"));
    CHECK(!contains(b, "Content-Length"));
  }
  {
    auto r = session.getRequest();
    r.setPath("echo/get");
    auto out = h.wait(r.send());
    CHECK(contains(text(out.getContent().getBody().getBytes()), "method: GET\n"));
  }
  {
    auto r = session.getRequest();  // HEAD
    r.setPath("echo/head");
    r.setIgnoreBody(true);
    auto out = h.wait(r.send());
    CHECK(out.getRawStatus() == 200);
    CHECK(out.getContent().getBody().getBytes().size() == 0);
    CHECK(out.getContent().getBodyLength() > 0);
  }
  {
    auto r = session.requestRequest();
    r.setMethod("PROPFIND");
    r.setPath("echo/dav");
    auto out = h.wait(r.send());
    CHECK(contains(text(out.getContent().getBody().getBytes()), "method: PROPFIND\n"));
  }
  {
    auto r = session.getRequest();  // header injection attempt
    r.setPath("echo/x");
    addHeader(r.initContext().initRawHeaders(1), 0, "x-evil", "a\r\nX-Sandstorm-User-Id: 1");
    CHECK_THROWS(h.wait(r.send()));
  }
  // ViewInfo from the config.
  auto info = h.wait(h.mainView.getViewInfoRequest().send());
  REQUIRE(info.getPermissions().size() == 3);
  CHECK(info.getPermissions()[1].getName() == "write");
}

TEST_CASE("a pooled connection the app closed or wrote to while idle is not reused",
          "[bridge]") {
  // The reuse check is one read() that must say EAGAIN (http-client.c++, stillIdle).
  Harness h;
  auto session = h.newSession();
  auto get = [&](const char* path) {
    auto r = session.getRequest();
    r.setPath(path);
    return h.wait(r.send());
  };
  for (auto path: {"idle-close", "idle-junk"}) {
    auto first = get(path);
    CHECK(text(first.getContent().getBody().getBytes()) == "ok");
    usleep(200000);  // the app has closed the connection or written its junk by now
    auto next = get("echo/after");
    CHECK(next.getRawStatus() == 200);
    CHECK(contains(text(next.getContent().getBody().getBytes()), "target: /echo/after\n"));
    CHECK(headerOf(next, "x-conn") != headerOf(first, "x-conn"));
  }
}

TEST_CASE("anonymous users get Sandstorm's anonymous headers", "[bridge]") {
  Harness h;
  auto session = h.newSession(false);
  auto r = session.getRequest();
  r.setPath("echo");
  auto body = text(h.wait(r.send()).getContent().getBody().getBytes());
  CHECK(contains(body, "X-Sandstorm-Username: Anonymous%20User\n"));
  CHECK(!contains(body, "X-Sandstorm-User-Id"));
  CHECK(contains(body, "X-Sandstorm-Permissions: \n"));
}

TEST_CASE("status codes and end-to-end headers are preserved", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto get = [&](const char* path) {
    auto r = session.getRequest();
    r.setPath(path);
    return h.wait(r.send());
  };
  auto redirect = get("status/302");
  CHECK(redirect.getRawStatus() == 302);
  CHECK(headerOf(redirect, "location") == "/elsewhere?a=1");
  CHECK(headerOf(redirect, "x-custom") == "custom-302");
  auto unavailable = get("status/503");
  CHECK(unavailable.getRawStatus() == 503);
  CHECK(headerOf(unavailable, "retry-after") == "7");
  REQUIRE(unavailable.isServerError());
  CHECK(unavailable.getServerError().getNonHtmlBody() == "status 503\n");
  auto missing = get("status/404");
  CHECK(missing.getRawStatus() == 404);
  REQUIRE(missing.isClientError());
  CHECK(missing.getClientError().getStatusCode() == 404);
  auto none = get("status/204");
  CHECK(none.getRawStatus() == 204);
  CHECK(none.isNoContent());
  auto odd = get("status/299");
  CHECK(odd.getRawStatus() == 299);
  auto hop = get("hop");
  CHECK(headerOf(hop, "x-kept") == "yes");
  CHECK(headerOf(hop, "x-secret") == "<absent>");
  CHECK(headerOf(hop, "keep-alive") == "<absent>");
  CHECK(headerOf(hop, "proxy-thing") == "<absent>");
  CHECK(headerOf(hop, "connection") == "<absent>");
  auto big = get("big-head");
  CHECK(big.getRawStatus() == 502);
  REQUIRE(big.isServerError());
  CHECK(contains(big.getServerError().getNonHtmlBody(), "64 KiB"));
  // The bridge still works after a bad response.
  CHECK(get("status/200").getRawStatus() == 200);
}

TEST_CASE("200 MiB upload and download through pipes keep the bridge's memory flat",
          "[bridge]") {
  Harness h;
  auto session = h.newSession();
  constexpr uint64_t SIZE = 200ull << 20;

  for (int64_t declared : {int64_t(SIZE), int64_t(-1)}) {
    CAPTURE(declared);
    auto pipe = makePipe();
    auto req = session.postRequest();
    req.setPath("upload");
    auto context = req.initContext();
    context.setRequestBody(kj::heap<FdHandle>(kj::mv(pipe.readEnd)));
    context.setRequestBodyLength(declared);
    auto response = req.send();
    // Feed the pipe from this loop while the call runs.
    auto out = h.io.lowLevelProvider->wrapOutputFd(pipe.writeEnd.release(),
                                                   kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    auto block = kj::heapArray<kj::byte>(1 << 20);
    for (uint64_t offset = 0; offset < SIZE; offset += block.size()) {
      for (size_t i = 0; i < block.size(); ++i) block[i] = patternByte(offset + i);
      crypto_hash_sha256_update(&state, block.begin(), block.size());
      h.wait(out->write(block.begin(), block.size()));
    }
    out = nullptr;  // EOF
    unsigned char digest[32];
    crypto_hash_sha256_final(&state, digest);
    auto result = h.wait(kj::mv(response));
    CHECK(result.getRawStatus() == 200);
    auto body = text(result.getContent().getBody().getBytes());
    CHECK(body == kj::str(kj::encodeHex(kj::arrayPtr(digest, 32)), " ", SIZE).cStr());
    long rss = h.rssKiB();
    CAPTURE(rss);
    CHECK(rss > 0);
    CHECK(rss < 50 * 1024);
  }

  auto req = session.getRequest();
  req.setPath("download");
  auto resp = h.wait(req.send());
  CHECK(resp.getRawStatus() == 200);
  REQUIRE(resp.getContent().getBody().isPipe());
  CHECK(resp.getContent().getBodyLength() == int64_t(SIZE));
  auto start = Clock::now();
  CHECK(h.wait(readPattern(bodyStream(h, resp))) == SIZE);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  WARN("200 MiB download through the bridge took " << ms << " ms");
  long rss = h.rssKiB();
  CAPTURE(rss);
  CHECK(rss < 50 * 1024);

  // The connection went back to the pool: the next call still works.
  auto again = session.getRequest();
  again.setPath("echo");
  CHECK(h.wait(again.send()).getRawStatus() == 200);
}

TEST_CASE("chunked and close-delimited bodies are decoded into the pipe", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  {
    auto req = session.getRequest();
    req.setPath("chunked?size=5242880");
    auto resp = h.wait(req.send());
    CHECK(resp.getContent().getBodyLength() == -1);
    CHECK(headerOf(resp, "transfer-encoding") == "<absent>");
    CHECK(h.wait(readPattern(bodyStream(h, resp))) == 5242880);
  }
  {
    auto req = session.getRequest();
    req.setPath("close?size=3000000");
    auto resp = h.wait(req.send());
    CHECK(resp.getContent().getBodyLength() == -1);
    CHECK(h.wait(readPattern(bodyStream(h, resp))) == 3000000);
  }
  // Small bodies with a length stay inline.
  auto req = session.getRequest();
  req.setPath("download?size=1000");
  auto resp = h.wait(req.send());
  REQUIRE(resp.getContent().getBody().isBytes());
  CHECK(resp.getContent().getBody().getBytes().size() == 1000);
}

TEST_CASE("server-sent events arrive as they are sent", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("sse");
  auto start = Clock::now();
  auto resp = h.wait(req.send());
  CHECK(headerOf(resp, "content-type") == "text/event-stream");
  auto in = bodyStream(h, resp);
  char buffer[256];
  size_t n = h.wait(in->tryRead(buffer, 1, sizeof(buffer)));
  auto firstMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  CHECK(std::string(buffer, n).rfind("data: event 0\n\n", 0) == 0);
  CHECK(firstMs < 500);  // the whole stream takes 1 s
  std::string all(buffer, n);
  for (;;) {
    n = h.wait(in->tryRead(buffer, 1, sizeof(buffer)));
    if (n == 0) break;
    all.append(buffer, n);
  }
  CHECK(contains(all, "data: event 19\n\n"));
  auto totalMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  CHECK(totalMs >= 900);
}

std::string maskedFrame(uint8_t opcode, const std::string& payload) {
  std::string f(1, char(0x80 | opcode));
  size_t len = payload.size();
  if (len < 126) {
    f += char(0x80 | len);
  } else if (len < 65536) {
    f += char(0x80 | 126);
    f += char(len >> 8);
    f += char(len & 0xff);
  } else {
    f += char(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += char((uint64_t(len) >> (8 * i)) & 0xff);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(mask, 4);
  for (size_t i = 0; i < len; ++i) f += char(payload[i] ^ mask[i % 4]);
  return f;
}

std::string unmaskedFrame(uint8_t opcode, const std::string& payload) {
  std::string f(1, char(0x80 | opcode));
  size_t len = payload.size();
  if (len < 126) {
    f += char(len);
  } else if (len < 65536) {
    f += char(126);
    f += char(len >> 8);
    f += char(len & 0xff);
  } else {
    f += char(127);
    for (int i = 7; i >= 0; --i) f += char((uint64_t(len) >> (8 * i)) & 0xff);
  }
  return f + payload;
}

TEST_CASE("WebSocket handshake then 1 MiB echo and close through the pipes", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto up = makePipe();
  auto down = makePipe();
  auto req = session.openWebSocketRequest();
  req.setPath("ws");
  auto protocols = req.initProtocol(2);
  protocols.set(0, "chat");
  protocols.set(1, "superchat");
  req.setUpstream(kj::heap<FdHandle>(kj::mv(up.readEnd)));
  req.setDownstream(kj::heap<FdHandle>(kj::mv(down.writeEnd)));
  auto resp = h.wait(req.send());
  REQUIRE(resp.getProtocol().size() == 1);
  CHECK(resp.getProtocol()[0] == "chat");

  auto out = h.io.lowLevelProvider->wrapOutputFd(up.writeEnd.release(),
                                                 kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  auto in = h.io.lowLevelProvider->wrapInputFd(down.readEnd.release(),
                                               kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  std::string message(1 << 20, '\0');
  for (size_t i = 0; i < message.size(); ++i) message[i] = char(patternByte(i));
  auto frames = maskedFrame(2, message) + maskedFrame(8, std::string("\x03\xe8", 2));
  auto expected = unmaskedFrame(2, message) + unmaskedFrame(8, std::string("\x03\xe8", 2));
  // Write and read concurrently: 1 MiB does not fit in the pipes at once.
  auto writing = out->write(frames.data(), frames.size()).eagerlyEvaluate(nullptr);
  std::string got;
  auto buffer = kj::heapArray<char>(1 << 16);
  for (;;) {
    size_t n = h.wait(in->tryRead(buffer.begin(), 1, buffer.size()));
    if (n == 0) break;  // the app closed after echoing the close frame
    got.append(buffer.begin(), n);
  }
  h.wait(kj::mv(writing));
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
}

TEST_CASE("WebSocket to a path the app does not upgrade fails clearly", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto up = makePipe();
  auto down = makePipe();
  auto req = session.openWebSocketRequest();
  req.setPath("echo");
  req.setUpstream(kj::heap<FdHandle>(kj::mv(up.readEnd)));
  req.setDownstream(kj::heap<FdHandle>(kj::mv(down.writeEnd)));
  CHECK_THROWS_WITH(h.wait(req.send()), Catch::Contains("does not support WebSocket"));
}

TEST_CASE("an app crashing mid-request fails the call and the bridge exits with its status",
          "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("crash");
  CHECK_THROWS(h.wait(req.send()));
  auto status = h.waitExit(std::chrono::seconds(10));
  REQUIRE(status != nullptr);
  KJ_IF_MAYBE(s, status) {
    CHECK(WIFEXITED(*s));
    CHECK(WEXITSTATUS(*s) == 42);
  }
}

TEST_CASE("an app that never opens its port gets a clear error within the wait", "[bridge]") {
  Options options;
  options.command = {"/bin/sleep", "30"};
  options.portWaitMs = "300";
  Harness h(options);
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("echo");
  auto start = Clock::now();
  auto resp = h.wait(req.send());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  CHECK(resp.getRawStatus() == 503);
  REQUIRE(resp.isServerError());
  auto expected = kj::str("did not open port ", h.port);
  CHECK(contains(resp.getServerError().getNonHtmlBody(), expected.cStr()));
  CHECK(ms >= 250);
  CHECK(ms < 5000);
}

TEST_CASE("calls made while the app starts wait for its port", "[bridge]") {
  Options options;
  options.command = {SS_BRIDGE_TEST_APP, "PORT", "--listen-delay-ms", "400"};
  Harness h(options);
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("echo");
  CHECK(h.wait(req.send()).getRawStatus() == 200);
}

TEST_CASE("the bridge reaps orphaned grandchildren and forwards SIGTERM", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("orphan");
  auto body = text(h.wait(req.send()).getContent().getBody().getBytes());
  pid_t grandchild = atoi(body.c_str());
  REQUIRE(grandchild > 0);
  // It exits after 300 ms, reparented to the bridge (subreaper); a zombie would keep its
  // /proc entry with state Z.
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    h.wait(h.io.provider->getTimer().afterDelay(10 * kj::MILLISECONDS));
    gone = access(kj::str("/proc/", grandchild).cStr(), F_OK) != 0;
  }
  CHECK(gone);

  kill(h.pid, SIGTERM);
  auto status = h.waitExit(std::chrono::seconds(10));
  REQUIRE(status != nullptr);
  KJ_IF_MAYBE(s, status) {
    CHECK(WIFEXITED(*s));
    CHECK(WEXITSTATUS(*s) == 128 + SIGTERM);  // the app died of the forwarded SIGTERM
  }
}

TEST_CASE("the platform disconnecting stops the app and the bridge", "[bridge]") {
  Harness h;
  auto session = h.newSession();
  auto req = session.getRequest();
  req.setPath("echo");
  CHECK(h.wait(req.send()).getRawStatus() == 200);
  // Drop everything RPC: the bridge sees EOF on fd 3.
  session = nullptr;
  h.mainView = nullptr;
  h.rpcSystem = nullptr;
  h.network = nullptr;
  h.stream = nullptr;
  auto status = h.waitExit(std::chrono::seconds(10));
  REQUIRE(status != nullptr);
  KJ_IF_MAYBE(s, status) {
    CHECK(WIFEXITED(*s));
    CHECK(WEXITSTATUS(*s) == 128 + SIGTERM);
  }
}

}  // namespace
}  // namespace ss::bridge
