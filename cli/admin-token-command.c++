#include "cli/admin-token-command.h"

#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include <kj/debug.h>

#include "cli/errors.h"
#include "config.h"
#include "shell/accounts.h"
#include "shell/data-dir.h"

namespace ss::cli {

namespace {

class AdminTokenCommand {
public:
  explicit AdminTokenCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Prints a new one-time link (valid 24 hours) that creates the first "
                           "administrator account. Safe to run while the server is running.")
        .addOptionWithArg({"data-dir"}, KJ_BIND_METHOD(*this, setDataDir), "<dir>",
                          "The server's data directory (default as for `sandstorm start`).")
        .addOptionWithArg({'p', "port"}, KJ_BIND_METHOD(*this, setPort), "<port>",
                          "The shell port, for the printed link (default 6080).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

private:
  kj::MainBuilder::Validity setDataDir(kj::StringPtr value) {
    dataDir = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setPort(kj::StringPtr value) {
    port = kj::heapString(value);
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
    auto dir = dataDir == nullptr ? shell::DataDir::defaultPath() : kj::heapString(dataDir);
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
    printf("Open http://127.0.0.1:%s/#/setup/%s to create the first administrator account\n",
           port.cStr(), token.cStr());
    fflush(stdout);  // context.exit() does not flush stdio
  }

  kj::ProcessContext& context;
  kj::String dataDir;
  kj::String port = kj::str("6080");
};

}  // namespace

kj::MainFunc adminTokenCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<AdminTokenCommand>(context));
}

}  // namespace ss::cli
