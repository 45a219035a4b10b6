// `sandstorm update <bundle>`: replaces an install.sh installation's binaries (see
// scripts/install.sh --update) and restarts the server; config and data stay as they are.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc updateCommand(kj::ProcessContext& context);

}  // namespace ss::cli
