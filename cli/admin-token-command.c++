#include "cli/admin-token-command.h"

#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include <kj/debug.h>

#include "cli/errors.h"
#include "cli/pid-file.h"
#include "cli/server-options.h"
#include "config.h"
#include "shell/accounts.h"
#include "shell/data-dir.h"

namespace ss::cli {

namespace {

class AdminTokenCommand {
public:
  explicit AdminTokenCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Prints a new one-time link (valid 24 hours) that creates the first "
                           "administrator account. Safe to run while the server is running.");
    builder
        .addOptionWithArg({'p', "port"}, KJ_BIND_METHOD(*this, setPort), "<port>",
                          "The shell port, for the printed link (default: the running "
                          "server's URL, BASE_URL, else 6080).")
        .addOption({'q', "quiet"}, [this]() { quiet = true; return true; },
                   "Print only the token.");
    options.addLocating(builder);
    return builder.callAfterParsing(KJ_BIND_METHOD(*this, run)).build();
  }

private:
  kj::MainBuilder::Validity setPort(kj::StringPtr value) {
    port = kj::heapString(value);
    portGiven = true;
    return true;
  }

  kj::MainBuilder::Validity run() {
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { issue(); })) failure = userMessage(*e);
    KJ_IF_MAYBE(f, failure) context.exitError(kj::str("sandstorm admin-token: ", *f));
    context.exit();
    return true;
  }

  void issue() {
    Config config = options.resolve("admin-token");
    auto dir = dataDirOf(config);
    auto path = kj::str(dir, "/sandstorm.sqlite3");
    KJ_REQUIRE(access(path.cStr(), F_OK) == 0,
               "no server data here: start the server once (`sandstorm start`), or pass the "
               "--data-dir it uses", dir);
    // The running server holds the data directory's lock; SQLite's own locking (WAL) is enough
    // for this one small write, so we open the store directly.
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.cStr(), &db, SQLITE_OPEN_READWRITE, nullptr);
    KJ_DEFER(sqlite3_close(db));
    KJ_REQUIRE(rc == SQLITE_OK, "cannot open the store", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    shell::Accounts accounts(db);
    KJ_REQUIRE(accounts.needsSetup(),
               "an administrator account exists already: log in, or ask an administrator for an "
               "invite link");
    auto token = accounts.createAdminToken();
    if (quiet) {
      printf("%s\n", token.cStr());
    } else {
      // The link's base: what the person was told at start (BASE_URL or the running server's
      // URL), unless they name a port.
      kj::String base = kj::str("http://127.0.0.1:", port, "/");
      if (!portGiven) {
        KJ_IF_MAYBE(url, config.baseUrl) {
          base = kj::str(*url, "/");
        } else KJ_IF_MAYBE(running, runningServerUrl(dir)) {
          base = kj::mv(*running);
        }
      }
      printf("Open %s#/setup/%s to create the first administrator account\n", base.cStr(),
             token.cStr());
    }
    fflush(stdout);  // context.exit() does not flush stdio
  }

  kj::ProcessContext& context;
  ServerOptions options;
  kj::String port = kj::str("6080");
  bool portGiven = false;
  bool quiet = false;
};

}  // namespace

kj::MainFunc adminTokenCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<AdminTokenCommand>(context));
}

}  // namespace ss::cli
