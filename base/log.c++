#include "base/log.h"

#include <kj/vector.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace ss {

namespace {
LogLevel minimumLevel = LogLevel::INFO;
LogFormat format = LogFormat::TEXT;
bool journalPrefix = false;

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::DEBUG: return "debug";
    case LogLevel::INFO: return "info";
    case LogLevel::WARNING: return "warning";
    case LogLevel::ERROR: return "error";
  }
  return "?";
}

const char* syslogPrefix(LogLevel level) {
  // sd-daemon(3): <3> err, <4> warning, <6> info, <7> debug.
  switch (level) {
    case LogLevel::DEBUG: return "<7>";
    case LogLevel::INFO: return "<6>";
    case LogLevel::WARNING: return "<4>";
    case LogLevel::ERROR: return "<3>";
  }
  return "<6>";
}

bool needsQuotes(kj::StringPtr value) {
  if (value.size() == 0) return true;
  for (char c: value) {
    if (c == ' ' || c == '"' || c == '=' || c < 0x20) return true;
  }
  return false;
}

void appendJsonString(kj::Vector<char>& line, kj::ArrayPtr<const char> text) {
  line.add('"');
  for (char c: text) {
    if (c == '"' || c == '\\') {
      line.add('\\');
      line.add(c);
    } else if (uint8_t(c) < 0x20) {
      char escaped[8];
      snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      line.addAll(kj::StringPtr(escaped));
    } else {
      line.add(c);
    }
  }
  line.add('"');
}

// A value's field name: the argument's text, its last member (`p.appId` -> appId), and the
// common identifiers under their short names.
kj::ArrayPtr<const char> fieldName(const char* begin, const char* end) {
  while (end > begin && end[-1] == ' ') end--;
  for (const char* p = end; p > begin; p--) {
    if (p[-1] == '.' || p[-1] == '>') {
      begin = p;
      break;
    }
  }
  kj::ArrayPtr<const char> name(begin, end);
  struct Alias { const char* from; const char* to; };
  static constexpr Alias ALIASES[] = {
      {"grainId", "grain"}, {"appId", "app"}, {"userId", "user"}, {"packageId", "package"}};
  for (auto& alias: ALIASES) {
    if (name == kj::StringPtr(alias.from)) return kj::StringPtr(alias.to).asArray();
  }
  return name;
}

void appendTimestamp(kj::Vector<char>& line) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char stamp[48];
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", now.tv_nsec / 1000000);
  line.addAll(kj::StringPtr(stamp));
}

}  // namespace

void setLogLevel(LogLevel level) { minimumLevel = level; }
bool shouldLog(LogLevel level) { return level >= minimumLevel; }
void setLogFormat(LogFormat f) { format = f; }

void detectJournal() {
  journalPrefix = false;
  const char* stream = getenv("JOURNAL_STREAM");
  if (stream == nullptr) return;
  unsigned long long device, inode;
  struct stat info;
  if (sscanf(stream, "%llu:%llu", &device, &inode) == 2 && fstat(STDERR_FILENO, &info) == 0 &&
      info.st_dev == device && info.st_ino == inode) {
    journalPrefix = true;
  }
}

void writeLog(LogLevel level, const char* subsystem, kj::StringPtr message,
              const char* argumentNames, kj::ArrayPtr<const kj::String> values) {
  kj::Vector<char> line(256);
  if (format == LogFormat::JSON) {
    line.addAll(kj::StringPtr("{\"ts\":\""));
    appendTimestamp(line);
    line.addAll(kj::str("\",\"level\":\"", levelName(level), "\",\"subsystem\":"));
    appendJsonString(line, kj::StringPtr(subsystem));
    line.addAll(kj::StringPtr(",\"msg\":"));
    appendJsonString(line, message);
  } else {
    if (journalPrefix) {
      line.addAll(kj::StringPtr(syslogPrefix(level)));  // journald adds its own time
    } else {
      appendTimestamp(line);
      line.add(' ');
    }
    line.addAll(kj::str(levelName(level), " ", subsystem, ": ", message));
  }
  const char* names = argumentNames;
  for (size_t i = 0; i < values.size(); i++) {
    // Next name: up to the next comma outside parentheses/brackets, spaces trimmed.
    while (*names == ' ' || *names == ',') names++;
    const char* end = names;
    for (int depth = 0; *end != '\0' && (depth > 0 || *end != ','); end++) {
      if (*end == '(' || *end == '[' || *end == '{') depth++;
      if (*end == ')' || *end == ']' || *end == '}') depth--;
    }
    auto name = fieldName(names, end);
    names = end;
    if (format == LogFormat::JSON) {
      line.add(',');
      appendJsonString(line, name);
      line.add(':');
      appendJsonString(line, values[i]);
      continue;
    }
    line.add(' ');
    line.addAll(name);
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
  if (format == LogFormat::JSON) line.add('}');
  line.add('\n');
  // One write() per line so concurrent writers (grain logs, tests) never interleave mid-line.
  ssize_t ignored = ::write(STDERR_FILENO, line.begin(), line.size());
  (void)ignored;
}

void LogBridge::logMessage(kj::LogSeverity severity, const char* file, int line,
                           int contextDepth, kj::String&& text) {
  LogLevel level = severity == kj::LogSeverity::ERROR || severity == kj::LogSeverity::FATAL
                       ? LogLevel::ERROR
                   : severity == kj::LogSeverity::WARNING ? LogLevel::WARNING
                   : severity == kj::LogSeverity::DBG     ? LogLevel::DEBUG
                                                          : LogLevel::INFO;
  if (!shouldLog(level)) return;
  size_t length = text.size();
  while (length > 0 && text[length - 1] == '\n') length--;
  kj::String fields[] = {kj::str(file, ":", line)};
  writeLog(level, "kj", kj::heapString(text.begin(), length), "where", kj::arrayPtr(fields, 1));
}

}  // namespace ss
