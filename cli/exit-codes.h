// Exit codes scripts can rely on (README "Running as a service"), the same for every command:
//   0 done, 1 it failed (the message says why), 2 bad usage (unknown option, bad value),
//   3 not running (`sandstorm status`, as LSB init scripts do).
#pragma once

#include <kj/main.h>

namespace ss::cli {

constexpr int EXIT_OK = 0;
constexpr int EXIT_FAILED = 1;
constexpr int EXIT_USAGE = 2;
constexpr int EXIT_NOT_RUNNING = 3;

[[noreturn]] void exitWith(int code);
// Flushes stdout and stderr and exits now (as kj's context.exit() does, without unwinding).

class CliContext final: public kj::ProcessContext {
  // kj::TopLevelProcessContext, except that MainBuilder's usage errors (which all end by
  // pointing at --help) exit 2 instead of 1.
public:
  explicit CliContext(kj::StringPtr programName): inner(programName) {}

  kj::StringPtr getProgramName() override { return inner.getProgramName(); }
  [[noreturn]] void exit() override { inner.exit(); }
  void warning(kj::StringPtr message) override { inner.warning(message); }
  void error(kj::StringPtr message) override { inner.error(message); }
  [[noreturn]] void exitError(kj::StringPtr message) override;
  [[noreturn]] void exitInfo(kj::StringPtr message) override { inner.exitInfo(message); }
  void increaseLoggingVerbosity() override { inner.increaseLoggingVerbosity(); }

private:
  kj::TopLevelProcessContext inner;
};

}  // namespace ss::cli
