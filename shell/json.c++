#include "shell/json.h"

#include <capnp/compat/json.h>
#include <kj/debug.h>

namespace ss::shell {

void JsonWriter::separate() {
  if (needComma) out.add(',');
  needComma = false;
}

JsonWriter& JsonWriter::beginObject() { separate(); out.add('{'); return *this; }
JsonWriter& JsonWriter::endObject() { out.add('}'); needComma = true; return *this; }
JsonWriter& JsonWriter::beginArray() { separate(); out.add('['); return *this; }
JsonWriter& JsonWriter::endArray() { out.add(']'); needComma = true; return *this; }

JsonWriter& JsonWriter::key(kj::StringPtr name) {
  separate();
  out.addAll(jsonString(name));
  out.add(':');
  return *this;
}

JsonWriter& JsonWriter::value(kj::StringPtr text) {
  separate();
  out.addAll(jsonString(text));
  needComma = true;
  return *this;
}

JsonWriter& JsonWriter::value(int64_t number) {
  separate();
  out.addAll(kj::str(number));
  needComma = true;
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  separate();
  out.addAll(kj::StringPtr(flag ? "true" : "false"));
  needComma = true;
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out.addAll(kj::StringPtr("null"));
  needComma = true;
  return *this;
}

JsonWriter& JsonWriter::raw(kj::StringPtr json) {
  separate();
  out.addAll(json);
  needComma = true;
  return *this;
}

kj::String JsonWriter::finish() {
  out.add('\n');
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

kj::String jsonString(kj::StringPtr text) {
  kj::Vector<char> out(text.size() + 2);
  out.add('"');
  char prev = 0;
  for (char c: text) {
    switch (c) {
      case '"': out.addAll(kj::StringPtr("\\\"")); break;
      case '\\': out.addAll(kj::StringPtr("\\\\")); break;
      case '\n': out.addAll(kj::StringPtr("\\n")); break;
      case '\r': out.addAll(kj::StringPtr("\\r")); break;
      case '\t': out.addAll(kj::StringPtr("\\t")); break;
      case '/':
        // "</script>" must never appear in JSON that might be inlined into HTML.
        if (prev == '<') out.add('\\');
        out.add('/');
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.addAll(kj::str("\\u00", kj::hex(static_cast<uint8_t>(c)).size() == 1 ? "0" : "",
                             kj::hex(static_cast<uint8_t>(c))));
        } else {
          out.add(c);
        }
    }
    prev = c;
  }
  out.add('"');
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

JsonBody::JsonBody(kj::StringPtr text) {
  capnp::JsonCodec codec;
  codec.setMaxNestingDepth(16);
  auto value = message.initRoot<capnp::json::Value>();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { codec.decodeRaw(text, value); })) {
    throw ApiError(400, kj::str("the request body is not valid JSON"));
  }
  root = message.getRoot<capnp::json::Value>().asReader();
  if (!root.isObject()) throw ApiError(400, kj::str("the request body must be a JSON object"));
}

kj::Maybe<capnp::json::Value::Reader> JsonBody::get(kj::StringPtr name) const {
  for (auto field: root.getObject()) {
    if (field.getName() == name) return field.getValue();
  }
  return nullptr;
}

kj::String JsonBody::string(kj::StringPtr name) const {
  KJ_IF_MAYBE(s, optionalString(name)) return kj::mv(*s);
  throw ApiError(400, kj::str("missing \"", name, "\" in the request"));
}

kj::Maybe<kj::String> JsonBody::optionalString(kj::StringPtr name) const {
  KJ_IF_MAYBE(v, get(name)) {
    if (v->isNull()) return nullptr;
    if (!v->isString()) throw ApiError(400, kj::str("\"", name, "\" must be a string"));
    return kj::heapString(v->getString());
  }
  return nullptr;
}

int64_t JsonBody::integer(kj::StringPtr name) const {
  KJ_IF_MAYBE(v, get(name)) {
    if (v->isNumber()) {
      double d = v->getNumber();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    }
    throw ApiError(400, kj::str("\"", name, "\" must be a whole number"));
  }
  throw ApiError(400, kj::str("missing \"", name, "\" in the request"));
}

bool JsonBody::boolean(kj::StringPtr name, bool ifMissing) const {
  KJ_IF_MAYBE(v, get(name)) {
    if (v->isBoolean()) return v->getBoolean();
    throw ApiError(400, kj::str("\"", name, "\" must be true or false"));
  }
  return ifMissing;
}

}  // namespace ss::shell
