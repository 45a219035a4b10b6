// `sandstorm start|stop|status|restart`: the server as a background daemon.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc startCommand(kj::ProcessContext& context);
kj::MainFunc stopCommand(kj::ProcessContext& context);
kj::MainFunc statusCommand(kj::ProcessContext& context);
kj::MainFunc restartCommand(kj::ProcessContext& context);

}  // namespace ss::cli
