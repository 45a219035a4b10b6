// One logging macro. Lines are structured and go to stderr (one write() each), in one of two
// formats (README "Monitoring"):
//   text: "2024-05-01T10:00:00.123Z info grain: started grain=abc pid=42"; under journald
//         (JOURNAL_STREAM names our stderr) the timestamp gives way to a "<6>" syslog priority
//         prefix, which journald turns into the entry's priority.
//   json: {"ts":"...","level":"info","subsystem":"grain","msg":"started","grain":"abc","pid":"42"}
// Value names come from the macro's argument text; grainId/appId/userId (also as x.grainId)
// become grain=, app=, user= so every line about one grain can be found with one filter.
// KJ_LOG and KJ's own warnings are routed through the same writer (LogBridge).
//
//   SS_LOG(INFO, "http", "listening", address, port);
//
// Values are printed with KJ's stringifier. Logging is not for the hot path: never log per
// request at INFO.
#pragma once

#include <kj/exception.h>
#include <kj/memory.h>
#include <kj/string.h>

namespace ss {

enum class LogLevel { DEBUG, INFO, WARNING, ERROR };

void setLogLevel(LogLevel level);
bool shouldLog(LogLevel level);

enum class LogFormat { TEXT, JSON };
void setLogFormat(LogFormat format);
void detectJournal();
// Turns on the "<N>" prefix when JOURNAL_STREAM matches stderr's device:inode (systemd sets it
// for a service whose stderr is the journal; a child with other stderr keeps the variable).

class LogBridge final: public kj::ExceptionCallback {
  // While it lives (on the stack, as KJ requires), KJ_LOG messages (and exceptions KJ logs) on
  // this thread go through writeLog() with subsystem "kj" and a where=file:line field.
public:
  void logMessage(kj::LogSeverity severity, const char* file, int line, int contextDepth,
                  kj::String&& text) override;
};

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
