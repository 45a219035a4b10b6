// `sandstorm dev <app-dir>`: run one app as a live grain and serve it on a local port, for app
// developers (the original's `spk dev`), without installing anything.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc devCommand(kj::ProcessContext& context);

kj::String findBridge();
// Our sandstorm-http-bridge: beside the sandstorm binary when installed, else the build tree's.

}  // namespace ss::cli
