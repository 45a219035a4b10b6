// `sandstorm spk ...`: the app developer's tools (keygen, listkeys, getkey, pack, verify,
// unpack). See pkg/README.md for a walk-through.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc spkCommand(kj::ProcessContext& context);

}  // namespace ss::cli
