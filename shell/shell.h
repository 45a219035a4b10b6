// The shell's HTTP front: routes requests on the shell port. Today: a health endpoint and the
// static web UI; the JSON API, sessions and grain frames arrive with the shell issue.
#pragma once

#include "http/server.h"
#include "shell/static-files.h"

namespace ss::shell {

class Shell final: public http::Handler {
public:
  explicit Shell(StaticFiles& ui): ui(ui) {}
  void handle(http::Exchange& exchange) override;

private:
  StaticFiles& ui;
};

}  // namespace ss::shell
