#include "cli/dev-command.h"

#include "cli/errors.h"

#include <signal.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <kj/async.h>
#include <kj/debug.h>

#include "base/fd.h"
#include "base/limits.h"
#include "base/log.h"
#include "config.h"
#include "http/server.h"
#include "reactor/reactor.h"
#include "reactor/signals.h"
#include "rpc/package.capnp.h"
#include "pkg/keyring.h"
#include "pkg/pkgdef.h"
#include "pkg/reader.h"
#include "pkg/writer.h"
#include "pkg/unpack.h"
#include "shell/data-dir.h"
#include "shell/grain-gateway.h"
#include "shell/grain-host.h"

namespace ss::cli {

namespace {

kj::String selfDir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  KJ_REQUIRE(n > 0, "cannot find our own executable");
  self[n] = '\0';
  kj::StringPtr path(self);
  KJ_IF_MAYBE(slash, path.findLast('/')) return kj::heapString(path.slice(0, *slash));
  return kj::str(".");
}

bool exists(kj::StringPtr path) { return access(path.cStr(), F_OK) == 0; }

kj::String absolute(kj::StringPtr path) {
  char resolved[PATH_MAX];
  KJ_REQUIRE(realpath(path.cStr(), resolved) != nullptr, "no such file or directory", path);
  return kj::str(resolved);
}

struct AppCommand {
  kj::Array<kj::String> argv;
  kj::Array<kj::String> env;
  kj::String title;
};

AppCommand readManifest(kj::StringPtr packageDir, bool firstRun) {
  auto path = kj::str(packageDir, "/sandstorm-manifest");
  KJ_REQUIRE(exists(path), "not an app directory: it has neither sandstorm-pkgdef.capnp (an "
             "app's source, packed for you) nor sandstorm-manifest (an unpacked package); for "
             "the demo apps run `sandstorm dev build/apps/<name>.spk`", path);
  auto bytes = readFile(path);
  KJ_REQUIRE(bytes.size() % sizeof(capnp::word) == 0, "sandstorm-manifest is truncated", path);
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.begin(), bytes.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = ss::spk::Manifest::SIZE_LIMIT_IN_WORDS;
  capnp::FlatArrayMessageReader message(words, options);
  auto manifest = message.getRoot<ss::spk::Manifest>();

  ss::spk::Manifest::Command::Reader command;
  if (!firstRun && manifest.hasContinueCommand()) {
    command = manifest.getContinueCommand();
  } else {
    KJ_REQUIRE(manifest.getActions().size() > 0, "the manifest declares no action to start "
               "the app with", path);
    command = manifest.getActions()[0].getCommand();
  }
  AppCommand result;
  result.argv = KJ_MAP(a, command.getArgv()) { return kj::heapString(a); };
  result.env = KJ_MAP(kv, command.getEnviron()) {
    return kj::str(kv.getKey(), "=", kv.getValue());
  };
  result.title = kj::heapString(manifest.getAppTitle().getDefaultText());
  KJ_REQUIRE(result.argv.size() > 0, "the manifest's command is empty", path);
  return result;
}

class DevHandler final: public http::Handler {
public:
  DevHandler(shell::GrainHost& host, shell::GrainSpec& spec): host(host), spec(spec) {}
  BodyPolicy bodyPolicy(const http::Request& request) override {
    return shell::shouldStreamBody(request) ? BodyPolicy::STREAM : BodyPolicy::BUFFER;
  }
  void handle(http::Exchange& exchange) override {
    shell::forwardToGrain(exchange, host, spec);
  }

private:
  shell::GrainHost& host;
  shell::GrainSpec& spec;
};

class DevCommand {
public:
  explicit DevCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Runs the app in <app-dir> (an unpacked package: its root holds "
                           "sandstorm-manifest), or in <file.spk> (verified and unpacked into the "
                           "data directory first), as one live grain in a real sandbox and serves "
                           "it on a local port. Its data persists across runs in the data "
                           "directory. Stop with Ctrl-C.")
        .addOptionWithArg({'p', "port"}, KJ_BIND_METHOD(*this, setPort), "<port>",
                          "Port to serve the app on (default 6090; 0 picks a free one).")
        .addOptionWithArg({"listen"}, KJ_BIND_METHOD(*this, setListen), "<address>",
                          "Address to bind (default 127.0.0.1).")
        .addOptionWithArg({"data-dir"}, KJ_BIND_METHOD(*this, setDataDir), "<dir>",
                          "Where the dev grain keeps its /var and log (default: the server's "
                          "data directory, under dev/).")
        .addOptionWithArg({"bridge"}, KJ_BIND_METHOD(*this, setBridge), "<path>",
                          "Our sandstorm-http-bridge binary (default: found beside sandstorm).")
        .addOptionWithArg({"idle-timeout"}, KJ_BIND_METHOD(*this, setIdle), "<seconds>",
                          "Stop the grain after this long without requests (default 120).")
        .expectArg("<app-dir | file.spk>", KJ_BIND_METHOD(*this, setApp))
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

private:
  kj::MainBuilder::Validity setPort(kj::StringPtr value) {
    char* end;
    unsigned long n = strtoul(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n > 65535) return "port must be 0-65535";
    port = static_cast<uint16_t>(n);
    return true;
  }
  kj::MainBuilder::Validity setListen(kj::StringPtr value) {
    listen = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setDataDir(kj::StringPtr value) {
    dataDir = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setBridge(kj::StringPtr value) {
    bridge = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setIdle(kj::StringPtr value) {
    char* end;
    unsigned long n = strtoul(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n == 0) return "idle timeout must be > 0 seconds";
    idleSeconds = n;
    return true;
  }
  kj::MainBuilder::Validity setApp(kj::StringPtr value) {
    app = kj::heapString(value);
    return true;
  }

  kj::MainBuilder::Validity run() {
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { serve(); })) {
      failure = userMessage(*e);
    }
    KJ_IF_MAYBE(f, failure) context.exitError(kj::str("sandstorm dev: ", *f));
    context.exit();
    return true;
  }

  void serve() {
    signal(SIGPIPE, SIG_IGN);
    KJ_IF_MAYBE(why, reactor::probeIoUring()) KJ_FAIL_REQUIRE(kj::str("cannot start: ", *why));

    auto root = dataDir == nullptr ? kj::str(shell::DataDir::defaultPath(), "/dev")
                                   : kj::heapString(dataDir);
    auto packageDir = absolute(app);
    kj::String baseName;
    struct stat st;
    KJ_SYSCALL(stat(packageDir.cStr(), &st), packageDir);
    auto pkgdefPath = kj::str(packageDir, "/sandstorm-pkgdef.capnp");
    if (S_ISDIR(st.st_mode) && !exists(kj::str(packageDir, "/sandstorm-manifest")) &&
        exists(pkgdefPath)) {
      // An app's source directory, as for Sandstorm's `spk dev`: pack it (fast compression)
      // into the data directory and run that. Signed with the pkgdef's key if the keyring has
      // it, else with a throwaway key: a dev build need not be publishable.
      kj::StringPtr dirName = packageDir;
      KJ_IF_MAYBE(slash, dirName.findLast('/')) dirName = dirName.slice(*slash + 1);
      makeDirectories(root, 0711);  // grains must traverse it to their storage and packages
      auto spkDir = kj::str(root, "/dev-builds");
      makeDirectories(spkDir, 0700);
      auto spkPath = kj::str(spkDir, "/", dirName, ".spk");
      printf("Packing %s ...\n", pkgdefPath.cStr());
      fflush(stdout);
      auto pkgdef = pkg::loadPackageDefinition(pkgdefPath, {});
      auto key = pkg::findKey(pkg::defaultKeyringPath(), pkgdef.def.getId());
      pkg::WriteOptions options;
      options.level = 1;
      auto tree = pkg::buildPackageTree(pkgdef);
      KJ_IF_MAYBE(k, key) {
        pkg::writePackage(tree, *k, spkPath, options);
      } else {
        pkg::writePackage(tree, pkg::generateKeyPair(), spkPath, options);
      }
      packageDir = kj::mv(spkPath);
      KJ_SYSCALL(stat(packageDir.cStr(), &st), packageDir);
    }
    if (S_ISREG(st.st_mode)) {
      // A .spk: verified, then unpacked once into <data>/packages/<package-id>/ (the id is the
      // file's hash, so a rebuilt package gets a fresh directory and an unchanged one is reused).
      auto packagesDir = kj::str(root, "/packages");
      makeDirectories(packagesDir, 0711);
      int dirFd;
      KJ_SYSCALL(dirFd = open(packagesDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), packagesDir);
      AutoCloseFd packagesFd(dirFd);
      pkg::cleanStaleUnpacks(dirFd);
      printf("Verifying and unpacking %s ...\n", packageDir.cStr());
      fflush(stdout);
      auto package = pkg::readPackage(packageDir);
      pkg::installPackage(*package, dirFd);
      kj::StringPtr file = packageDir;
      KJ_IF_MAYBE(slash, file.findLast('/')) file = file.slice(*slash + 1);
      baseName = file.endsWith(".spk") ? kj::heapString(file.slice(0, file.size() - 4))
                                       : kj::heapString(file);
      packageDir = kj::str(packagesDir, "/", package->packageId);
    } else {
      kj::StringPtr base = packageDir;
      KJ_IF_MAYBE(slash, base.findLast('/')) base = base.slice(*slash + 1);
      baseName = kj::heapString(base);
    }
    kj::StringPtr base = baseName;
    auto grainDir = kj::str(root, "/", base);
    // 0711: the grain's own uid must be able to reach its /var below here (nothing is listable).
    makeDirectories(grainDir, 0711);
    auto varDir = kj::str(grainDir, "/var");
    bool firstRun = !exists(varDir);
    auto command = readManifest(packageDir, firstRun);

    shell::GrainSpec spec;
    // The id names the grain's cgroup, which is host-wide: two dev servers (or a dev server and
    // the real one) must never share it, so it carries a hash of this grain's storage path.
    uint32_t hash = 2166136261u;  // FNV-1a
    for (char c: grainDir) hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
    spec.grainId = kj::str("dev-", base.slice(0, kj::min(base.size(), size_t(40))), "-",
                           kj::hex(hash));
    for (auto& c: spec.grainId) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    }
    spec.packageDir = kj::heapString(packageDir);
    spec.varDir = kj::heapString(varDir);
    spec.argv = kj::mv(command.argv);
    spec.env = kj::mv(command.env);
    spec.logPath = kj::str(grainDir, "/log");

    shell::GrainHostOptions options;
    options.bridgePath = bridge == nullptr ? findBridge() : absolute(bridge);
    options.idleTimeoutMs = idleSeconds * 1000;

    reactor::Reactor reactor;
    kj::EventLoop loop(reactor);
    kj::WaitScope waitScope(loop);
    shell::GrainHost host(reactor, kj::mv(options));
    DevHandler handler(host, spec);
    http::Server server(reactor, handler);
    auto listener = listenTcp(listen, port, limits::LISTEN_BACKLOG);
    uint16_t actualPort = localPort(listener);
    server.listen(kj::mv(listener));

    auto stop = kj::newPromiseAndFulfiller<void>();
    bool stopping = false;
    reactor::SignalWatcher signals(reactor, {SIGTERM, SIGINT, SIGHUP}, [&](int) {
      if (!stopping) {
        stopping = true;
        stop.fulfiller->fulfill();
      }
    });
    SS_LOG(INFO, "dev", "serving", packageDir, spec.logPath);
    printf("Sandstorm dev: %s is running at http://%s:%u/ (log: %s)\n",
           command.title.size() > 0 ? command.title.cStr() : base.cStr(), listen.cStr(),
           actualPort, spec.logPath.cStr());
    fflush(stdout);
    stop.promise.wait(waitScope);
    server.drain(limits::SHUTDOWN_DRAIN_MS).wait(waitScope);
  }

  kj::ProcessContext& context;
  uint16_t port = 6090;
  kj::String listen = kj::str("127.0.0.1");
  kj::String dataDir;
  kj::String bridge;
  kj::String app;
  uint64_t idleSeconds = 120;
};

}  // namespace

kj::String findBridge() {
  auto dir = selfDir();
  auto beside = kj::str(dir, "/sandstorm-http-bridge");
  if (access(beside.cStr(), X_OK) == 0) return beside;
  auto installed = kj::str(dir, "/../lib/sandstorm/sandstorm-http-bridge");
  if (access(installed.cStr(), X_OK) == 0) return installed;
#ifdef SANDSTORM_BRIDGE_BUILD_PATH
  if (access(SANDSTORM_BRIDGE_BUILD_PATH, X_OK) == 0) return kj::str(SANDSTORM_BRIDGE_BUILD_PATH);
#endif
  KJ_FAIL_REQUIRE("cannot find sandstorm-http-bridge next to the sandstorm binary; pass --bridge",
                  dir);
}

kj::MainFunc devCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<DevCommand>(context));
}

}  // namespace ss::cli
