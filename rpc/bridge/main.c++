// sandstorm-http-bridge <port> -- <app argv...>
//
// The grain's first process: starts the app, serves the platform's Cap'n Proto calls on fd 3
// (MainView -> WebSession), and replays them as HTTP/1.1 to the app on 127.0.0.1:<port>.
// Packages made for Sandstorm name this command; the platform mounts this (static) binary at
// /sandstorm-http-bridge, so they run unchanged. See DESIGN.md §2 and facts/sandstorm.md §3.3.
//
// Environment (set by the platform, not by the app):
//   SANDSTORM_BRIDGE_PORT_WAIT_MS  how long calls wait for the app's port (default 60000)
//   SANDSTORM_BRIDGE_CONFIG        BridgeConfig path (default /sandstorm-http-bridge-config)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/debug.h>

#include "rpc/bridge/app-process.h"
#include "rpc/bridge/http-client.h"
#include "rpc/bridge/limits.h"
#include "rpc/bridge/main-view.h"
#include "rpc/bridge/rpc-socket.h"

namespace ss::bridge {
namespace {

constexpr int RPC_FD = 3;

[[noreturn]] void usage(const char* message) {
  fprintf(stderr,
          "sandstorm-http-bridge: %s\nusage: sandstorm-http-bridge <port> -- <command...>\n",
          message);
  exit(2);
}

uint16_t parsePort(const char* text) {
  char* end;
  long port = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || port < 1 || port > 65535) usage("invalid port");
  return uint16_t(port);
}

kj::Duration portWait() {
  const char* ms = getenv("SANDSTORM_BRIDGE_PORT_WAIT_MS");
  if (ms == nullptr || *ms == '\0') return limits::DEFAULT_PORT_WAIT;
  char* end;
  long long value = strtoll(ms, &end, 10);
  if (*end != '\0' || value < 0) usage("SANDSTORM_BRIDGE_PORT_WAIT_MS must be milliseconds");
  return value * kj::MILLISECONDS;
}

class LogErrors final: public kj::TaskSet::ErrorHandler {
  // A body pump or WebSocket relay that fails (client gone, app died mid-body) affects that
  // stream only: log it and keep serving.
public:
  void taskFailed(kj::Exception&& exception) override {
    KJ_LOG(WARNING, "relay ended early", exception.getDescription());
  }
};

int run(int argc, char* argv[]) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) usage("expected <port> -- <command...>");
  uint16_t appPort = parsePort(argv[1]);
  const char* configPath = getenv("SANDSTORM_BRIDGE_CONFIG");
  if (configPath == nullptr) configPath = "/sandstorm-http-bridge-config";

  if (getpid() != 1) {
    // Not the sandbox's init (tests, dev mode): become the reaper of orphans anyway.
    KJ_SYSCALL(prctl(PR_SET_CHILD_SUBREAPER, 1));
  }
  AppProcess::captureSignals();
  // Each open WebSocket or streamed body costs us three descriptors (the app's socket and two
  // pipe ends): take the whole hard limit the sandbox grants, not the conservative soft one.
  // The app inherits it; it can only hit it with as many connections as it has clients.
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) KJ_LOG(WARNING, "cannot raise RLIMIT_NOFILE");
  }
  auto io = kj::setupAsyncIo();
  auto& timer = io.provider->getTimer();
  auto config = BridgeConfigFile::load(configPath);

  AppProcess app(io.unixEventPort,
                 kj::arrayPtr(const_cast<const char* const*>(argv + 3), size_t(argc - 3)));
  AppConnector connector(io.unixEventPort, timer, appPort, portWait());
  LogErrors logErrors;
  kj::TaskSet background(logErrors);
  Bridge bridge{connector, background, config->permissionNames()};

  // Our own stream rather than KJ's wrapUnixSocketFd: one recvmsg() per message and no EPOLLOUT
  // wakeup each time the platform reads a response (rpc-socket.h has the measurements).
  RpcSocket socket(io.unixEventPort, kj::AutoCloseFd(RPC_FD), limits::MAX_FDS_PER_MESSAGE);
  capnp::TwoPartyVatNetwork network(socket, limits::MAX_FDS_PER_MESSAGE,
                                    capnp::rpc::twoparty::Side::CLIENT);
  auto rpcSystem = capnp::makeRpcServer(
      network, rpc::MainView::Client(kj::heap<MainViewImpl>(bridge, *config)));
  // On the CLIENT side, TwoPartyVatNetwork creates the connection only when we connect to the
  // SERVER (the platform): bootstrap it now, or fd 3 is never read and our MainView never
  // served. (Sandstorm's bridge does the same to obtain SandstormApi.)
  capnp::MallocMessageBuilder vatIdMessage(8);
  auto platformVat = vatIdMessage.initRoot<capnp::rpc::twoparty::VatId>();
  platformVat.setSide(capnp::rpc::twoparty::Side::SERVER);
  auto platform = rpcSystem.bootstrap(platformVat);

  auto appExit = app.exited().then([&timer](int status) {
    // Let calls that failed because the app died send their errors first.
    return timer.afterDelay(limits::EXIT_FLUSH_DELAY).then([status]() { return status; });
  });
  auto platformGone = network.onDisconnect().then([&app, &timer]() {
    // Nobody can reach the grain any more: stop the app, politely first.
    app.signal(SIGTERM);
    return app.exited().exclusiveJoin(
        timer.afterDelay(limits::TERMINATE_GRACE).then([&app]() {
          app.signal(SIGKILL);
          return app.exited();
        }));
  });
  int status = appExit.exclusiveJoin(kj::mv(platformGone)).wait(io.waitScope);
  app.killStragglers();
  // No destructors: the RPC system would try to talk to a peer that may be gone, and there is
  // nothing left to flush (stderr is unbuffered).
  _exit(AppProcess::exitCodeFor(status));
}

}  // namespace
}  // namespace ss::bridge

int main(int argc, char* argv[]) {
  try {
    return ss::bridge::run(argc, argv);
  } catch (kj::Exception& e) {
    fprintf(stderr, "sandstorm-http-bridge: %s\n", kj::str(e).cStr());
    return 1;
  }
}
