// `sandstorm start`: run the server in the foreground.
#pragma once

#include <kj/main.h>

namespace ss::cli {

kj::MainFunc startCommand(kj::ProcessContext& context);

}  // namespace ss::cli
