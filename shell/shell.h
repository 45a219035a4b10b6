// The shell's HTTP front on the shell port: the JSON API (shell/API.md) with its cross-site and
// CSRF checks, /api/health, and the static web UI.
#pragma once

#include <kj/array.h>

#include "http/server.h"
#include "shell/accounts.h"
#include "shell/api.h"
#include "shell/static-files.h"

namespace ss::shell {

class Shell final: public http::Handler {
public:
  Shell(StaticFiles& ui, Accounts& accounts, kj::Array<ApiModule*> modules)
      : ui(ui), accounts(accounts), modules(kj::mv(modules)) {}
  BodyPolicy bodyPolicy(const http::Request& request) override;
  void handle(http::Exchange& exchange) override;

private:
  void handleApi(http::Exchange& exchange);
  StaticFiles& ui;
  Accounts& accounts;
  kj::Array<ApiModule*> modules;  // accounts first
};

}  // namespace ss::shell
