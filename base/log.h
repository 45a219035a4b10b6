// One logging macro. Lines are structured ("level subsystem message key=value ...") and go to
// stderr, which systemd's journal captures as-is.
//
//   SS_LOG(INFO, "http", "listening", address, port);
//
// Values are printed with KJ's stringifier. Logging is not for the hot path: never log per
// request at INFO.
#pragma once

#include <kj/string.h>

namespace ss {

enum class LogLevel { DEBUG, INFO, WARNING, ERROR };

void setLogLevel(LogLevel level);
bool shouldLog(LogLevel level);

void writeLog(LogLevel level, const char* subsystem, kj::StringPtr message,
              const char* argumentNames, kj::ArrayPtr<const kj::String> values);
// `argumentNames` is the macro's argument text ("port, path"); it is split at top-level commas
// (as KJ_LOG does) to name each value.

template <typename... Values>
void logLine(LogLevel level, const char* subsystem, kj::StringPtr message,
             const char* argumentNames, Values&&... values) {
  kj::String strings[] = {kj::str(values)..., kj::String()};
  writeLog(level, subsystem, message, argumentNames, kj::arrayPtr(strings, sizeof...(Values)));
}

}  // namespace ss

#define SS_LOG(level, subsystem, message, ...)                                       \
  do {                                                                               \
    if (::ss::shouldLog(::ss::LogLevel::level)) {                                    \
      ::ss::logLine(::ss::LogLevel::level, subsystem, message,                       \
                    #__VA_ARGS__ __VA_OPT__(, ) __VA_ARGS__);                         \
    }                                                                                \
  } while (false)
