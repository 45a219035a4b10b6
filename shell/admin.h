// Server status for administrators (shell/API.md "Admin").
#pragma once

#include <sqlite3.h>

#include "base/clock.h"
#include "shell/api.h"
#include "shell/grain-host.h"

namespace ss::shell {

class Admin final: public ApiModule {
public:
  Admin(sqlite3* db, GrainHost& host, kj::StringPtr dataDir);
  bool handleApi(ApiContext& context) override;

private:
  sqlite3* db;
  GrainHost& host;
  kj::String dataDir;
  int64_t startedAt;
};

}  // namespace ss::shell
