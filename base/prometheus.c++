#include "base/prometheus.h"

#include <math.h>
#include <stdio.h>

namespace ss {

namespace {
void append(kj::Vector<char>& out, kj::StringPtr text) { out.addAll(text); }
}  // namespace

void PrometheusWriter::family(kj::StringPtr name, kj::StringPtr type, kj::StringPtr help) {
  // HELP text escapes only backslash and newline (the format's rule for HELP lines).
  append(out, "# HELP ");
  append(out, name);
  out.add(' ');
  for (char c: help) {
    if (c == '\\') append(out, "\\\\");
    else if (c == '\n') append(out, "\\n");
    else out.add(c);
  }
  append(out, "\n# TYPE ");
  append(out, name);
  out.add(' ');
  append(out, type);
  out.add('\n');
}

void PrometheusWriter::appendValue(double value) {
  char text[40];
  if (isinf(value)) {
    snprintf(text, sizeof(text), value > 0 ? "+Inf" : "-Inf");
  } else if (value == double(int64_t(value)) && fabs(value) < 1e15) {
    snprintf(text, sizeof(text), "%lld", (long long)value);  // counters print as integers
  } else {
    snprintf(text, sizeof(text), "%.15g", value);  // a Unix time keeps its milliseconds
  }
  append(out, text);
}

void PrometheusWriter::sample(kj::StringPtr name, double value) { sample(name, {}, value); }

void PrometheusWriter::sample(kj::StringPtr name, std::initializer_list<Label> labels,
                              double value) {
  append(out, name);
  if (labels.size() > 0) {
    out.add('{');
    bool first = true;
    for (auto& label: labels) {
      if (!first) out.add(',');
      first = false;
      append(out, label.name);
      append(out, "=\"");
      for (char c: label.value) {
        if (c == '\\') append(out, "\\\\");
        else if (c == '"') append(out, "\\\"");
        else if (c == '\n') append(out, "\\n");
        else out.add(c);
      }
      out.add('"');
    }
    out.add('}');
  }
  out.add(' ');
  appendValue(value);
  out.add('\n');
}

void PrometheusWriter::histogram(kj::StringPtr name, kj::StringPtr help, const Histogram& h) {
  family(name, "histogram", help);
  auto bucket = kj::str(name, "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bucketCount(); i++) {
    cumulative += h.inBucket(i);
    char le[32];
    snprintf(le, sizeof(le), "%g", h.bound(i));
    sample(bucket, {{"le", le}}, double(cumulative));
  }
  cumulative += h.inBucket(h.bucketCount());
  sample(bucket, {{"le", "+Inf"}}, double(cumulative));
  sample(kj::str(name, "_sum"), h.sumSeconds());
  sample(kj::str(name, "_count"), double(cumulative));
}

kj::String PrometheusWriter::finish() {
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace ss
