#include "base/log.h"

#include <kj/vector.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

namespace ss {

namespace {
LogLevel minimumLevel = LogLevel::INFO;

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::DEBUG: return "debug";
    case LogLevel::INFO: return "info";
    case LogLevel::WARNING: return "warning";
    case LogLevel::ERROR: return "error";
  }
  return "?";
}

bool needsQuotes(kj::StringPtr value) {
  if (value.size() == 0) return true;
  for (char c: value) {
    if (c == ' ' || c == '"' || c == '=' || c < 0x20) return true;
  }
  return false;
}
}  // namespace

void setLogLevel(LogLevel level) { minimumLevel = level; }
bool shouldLog(LogLevel level) { return level >= minimumLevel; }

void writeLog(LogLevel level, const char* subsystem, kj::StringPtr message,
              const char* argumentNames, kj::ArrayPtr<const kj::String> values) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);

  kj::Vector<char> line(256);
  char millis[24];
  snprintf(millis, sizeof(millis), ".%03ldZ ", now.tv_nsec / 1000000);
  line.addAll(kj::StringPtr(stamp));
  line.addAll(kj::StringPtr(millis));
  line.addAll(kj::str(levelName(level), " ", subsystem, ": ", message));
  const char* names = argumentNames;
  for (size_t i = 0; i < values.size(); i++) {
    // Next name: up to the next comma outside parentheses/brackets, spaces trimmed.
    while (*names == ' ' || *names == ',') names++;
    const char* end = names;
    for (int depth = 0; *end != '\0' && (depth > 0 || *end != ','); end++) {
      if (*end == '(' || *end == '[' || *end == '{') depth++;
      if (*end == ')' || *end == ']' || *end == '}') depth--;
    }
    line.add(' ');
    line.addAll(kj::arrayPtr(names, end));
    names = end;
    line.add('=');
    if (needsQuotes(values[i])) {
      line.add('"');
      for (char c: values[i]) {
        if (c == '"' || c == '\\') line.add('\\');
        if (c == '\n') { line.addAll(kj::StringPtr("\\n")); continue; }
        line.add(c);
      }
      line.add('"');
    } else {
      line.addAll(values[i]);
    }
  }
  line.add('\n');
  // One write() per line so concurrent writers (grain logs, tests) never interleave mid-line.
  ssize_t ignored = ::write(STDERR_FILENO, line.begin(), line.size());
  (void)ignored;
}

}  // namespace ss
