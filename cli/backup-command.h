// `sandstorm backup FILE` and `sandstorm restore FILE --data-dir DIR`: the whole server (store,
// packages, grains' data) as one .tar.zst, taken while the server runs (README "Backup and
// restore").
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc backupCommand(kj::ProcessContext& context);
kj::MainFunc restoreCommand(kj::ProcessContext& context);

}  // namespace ss::cli
