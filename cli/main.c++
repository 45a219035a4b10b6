// The only main(): `sandstorm <command> ...` dispatches to subcommands (Sandstorm's
// run-bundle.c++ pattern). Each subcommand has its own --help.
#include <kj/main.h>

#include "cli/admin-token-command.h"
#include "cli/spk-command.h"
#include "cli/dev-command.h"
#include "cli/run-command.h"
#include "config.h"

namespace ss::cli {

class SandstormMain {
public:
  explicit SandstormMain(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "A personal cloud server: apps run as sandboxed grains, reached "
                           "through a web shell. Run `sandstorm <command> --help` for details.")
        .addSubCommand("run", [this]() { return runCommand(context); },
                       "Run the server in the foreground (for systemd and terminals).")
        .addSubCommand("start", [this]() { return runCommand(context); },
                       "Run the server in the foreground (same as run, for now).")
        .addSubCommand("dev", [this]() { return devCommand(context); },
                       "Run one app directory as a live grain on a local port.")
        .addSubCommand("admin-token", [this]() { return adminTokenCommand(context); },
                       "Print a new link to create the first administrator account.")
        .addSubCommand("spk", [this]() { return spkCommand(context); },
                       "App developer tools: keygen, pack, verify, unpack .spk packages.")
        .build();
  }

private:
  kj::ProcessContext& context;
};

}  // namespace ss::cli

KJ_MAIN(ss::cli::SandstormMain)
