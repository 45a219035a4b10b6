#include "cli/exit-codes.h"

#include <stdio.h>
#include <unistd.h>

namespace ss::cli {

void exitWith(int code) {
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}

void CliContext::exitError(kj::StringPtr message) {
  // MainBuilder's usage errors read "...\nTry '<program> --help' for more information.".
  if (message.endsWith("--help' for more information.") ||
      message.endsWith("--help' for more information.\n")) {
    inner.warning(message);
    exitWith(EXIT_USAGE);
  }
  inner.exitError(message);
}

}  // namespace ss::cli
