// The only main(): `sandstorm <command> ...` dispatches to subcommands (Sandstorm's
// run-bundle.c++ pattern). Each subcommand has its own --help.
#include <kj/main.h>

#include "cli/admin-token-command.h"
#include "cli/backup-command.h"
#include "cli/spk-command.h"
#include "cli/dev-command.h"
#include "cli/exit-codes.h"
#include "cli/run-command.h"
#include "cli/service-commands.h"
#include "cli/update-command.h"
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
        .addSubCommand("start", [this]() { return startCommand(context); },
                       "Start the server in the background; print its URL.")
        .addSubCommand("stop", [this]() { return stopCommand(context); },
                       "Stop the background server (SIGTERM, then wait up to 30 s).")
        .addSubCommand("status", [this]() { return statusCommand(context); },
                       "Print the server's pid and URL; exit 0 if running, 3 if not.")
        .addSubCommand("restart", [this]() { return restartCommand(context); },
                       "Stop and start the background server.")
        .addSubCommand("update", [this]() { return updateCommand(context); },
                       "Install a new bundle and restart; config and data are kept.")
        .addSubCommand("dev", [this]() { return devCommand(context); },
                       "Run one app directory as a live grain on a local port.")
        .addSubCommand("admin-token", [this]() { return adminTokenCommand(context); },
                       "Print a new link to create the first administrator account.")
        .addSubCommand("backup", [this]() { return backupCommand(context); },
                       "Write the whole server (store, packages, grains) to a .tar.zst, live.")
        .addSubCommand("restore", [this]() { return restoreCommand(context); },
                       "Restore a backup into a new or empty data directory.")
        .addSubCommand("spk", [this]() { return spkCommand(context); },
                       "App developer tools: keygen, pack, verify, unpack .spk packages.")
        .build();
  }

private:
  kj::ProcessContext& context;
};

}  // namespace ss::cli

int main(int argc, char* argv[]) {
  // KJ_MAIN, with a context whose usage errors exit 2 (cli/exit-codes.h).
  ss::cli::CliContext context(argv[0]);
  ss::cli::SandstormMain mainObject(context);
  return kj::runMainAndExit(context, mainObject.getMain(), argc, argv);
}
