#include "cli/update-command.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kj/debug.h>

#include "cli/errors.h"
#include "cli/exit-codes.h"
#include "cli/server-options.h"
#include "config.h"

namespace ss::cli {

namespace {

kj::String parentOf(kj::StringPtr path) {
  KJ_IF_MAYBE(slash, path.findLast('/')) return kj::heapString(path.slice(0, *slash == 0 ? 1 : *slash));
  return kj::str(".");
}

class UpdateCommand {
public:
  explicit UpdateCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Installs a bundle (made by scripts/make-bundle) beside the running "
                           "version, switches DIR/latest to it in one rename and restarts the "
                           "server (systemctl restart under systemd, else stop + start). The "
                           "config and the data are not touched; a bad bundle changes nothing. "
                           "Exits 0 when the new version runs.")
        .addOptionWithArg({"dir"}, KJ_BIND_METHOD(*this, setDir), "<dir>",
                          "The installation (default: the one this sandstorm belongs to).")
        .expectArg("<bundle>", KJ_BIND_METHOD(*this, setBundle))
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

private:
  kj::MainBuilder::Validity setDir(kj::StringPtr value) {
    dir = absolutePath(value);
    return true;
  }
  kj::MainBuilder::Validity setBundle(kj::StringPtr value) {
    bundle = absolutePath(value);
    return true;
  }

  kj::MainBuilder::Validity run() {
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { update(); })) failure = userMessage(*e);
    KJ_IF_MAYBE(f, failure) {
      fprintf(stderr, "sandstorm update: %s\n", f->cStr());
      exitWith(EXIT_FAILED);
    }
    exitWith(EXIT_OK);
  }

  void update() {
    // This binary is DIR/sandstorm-<version>/bin/sandstorm; install.sh beside it does the work.
    char self[4096];
    ssize_t n;
    KJ_SYSCALL(n = readlink("/proc/self/exe", self, sizeof(self) - 1));
    auto exe = kj::heapString(self, n);
    auto versionDir = parentOf(parentOf(exe));
    if (dir == nullptr) dir = parentOf(versionDir);
    auto script = kj::str(versionDir, "/share/sandstorm/install.sh");
    KJ_REQUIRE(access(kj::str(dir, "/sandstorm.conf").cStr(), R_OK) == 0 &&
                   access(script.cStr(), R_OK) == 0,
               kj::str("this sandstorm (", exe, ") is not part of an installation made by "
                       "install.sh; pass --dir <installation>"));
    fflush(stdout);
    execl("/bin/bash", "bash", script.cStr(), "--update", bundle.cStr(), "--dir", dir.cStr(),
          static_cast<char*>(nullptr));
    KJ_FAIL_SYSCALL("execl(/bin/bash)", errno, script);
  }

  kj::ProcessContext& context;
  kj::String dir;
  kj::String bundle;
};

}  // namespace

kj::MainFunc updateCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<UpdateCommand>(context));
}

}  // namespace ss::cli
