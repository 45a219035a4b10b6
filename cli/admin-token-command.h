// `sandstorm admin-token`: a new one-time link to create the first administrator account,
// for when the one printed at first start is lost or expired. Works while the server runs.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc adminTokenCommand(kj::ProcessContext& context);

}  // namespace ss::cli
