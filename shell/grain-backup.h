// Grain backups (shell/API.md "Grains"): download a grain as one file and restore it as a new
// grain. The file is a zstd-compressed tar of `grain.json` (app ID, title, action) and the
// grain's `var/`, made with Debian's GNU tar while the grain is stopped (so it is consistent).
// Restores are extracted by tar running as the grains' unprivileged uid into a fresh directory:
// it cannot create device nodes or setuid files, cannot write outside that directory (GNU tar
// refuses `..` and defers symlinks), and only `grain.json` and `var/` are taken.
#pragma once

#include <sqlite3.h>

#include "reactor/reactor.h"
#include "shell/api.h"
#include "shell/apps.h"
#include "shell/grain-host.h"
#include "shell/grains.h"

namespace ss::shell {

class GrainBackups final: public ApiModule {
public:
  GrainBackups(sqlite3* db, reactor::Reactor& reactor, kj::StringPtr dataDir, Apps& apps,
               Grains& grains, GrainHost& host);
  bool handleApi(ApiContext& context) override;
  http::Handler::BodyPolicy bodyPolicy(const http::Request& request) override;

private:
  void download(ApiContext& context, kj::StringPtr grainId);
  void restore(ApiContext& context);
  kj::Promise<void> finishRestore(ApiContext& context, kj::String upload, int64_t userId);

  sqlite3* db;
  reactor::Reactor& reactor;
  kj::String dataDir;
  Apps& apps;
  Grains& grains;
  GrainHost& host;
  uint64_t counter = 0;
};

}  // namespace ss::shell
