// `sandstorm run`: the server in the foreground (systemd's ExecStart, scripts/dev start, tests).
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc runCommand(kj::ProcessContext& context);

}  // namespace ss::cli
