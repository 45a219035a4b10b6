// JSON for the shell's API: a small streaming writer (our responses), and parsing of request
// bodies with Cap'n Proto's JsonCodec into a JsonValue tree with checked accessors.
#pragma once

#include <stdint.h>

#include <capnp/compat/json.capnp.h>
#include <capnp/message.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ss::shell {

class JsonWriter {
public:
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(kj::StringPtr name);
  JsonWriter& value(kj::StringPtr text);
  JsonWriter& value(const char* text) { return value(kj::StringPtr(text)); }
  JsonWriter& value(int64_t number);
  JsonWriter& value(int number) { return value(int64_t(number)); }
  JsonWriter& value(uint64_t number) { return value(int64_t(number)); }
  JsonWriter& value(bool flag);
  JsonWriter& null();
  JsonWriter& raw(kj::StringPtr json);  // an already-encoded value
  // Shorthands for "name": value.
  template <typename T>
  JsonWriter& field(kj::StringPtr name, T&& v) { key(name); return value(kj::fwd<T>(v)); }
  JsonWriter& nullField(kj::StringPtr name) { key(name); return null(); }

  kj::String finish();

private:
  void separate();
  kj::Vector<char> out;
  bool needComma = false;
};

kj::String jsonString(kj::StringPtr text);
// `text` as a quoted JSON string (control characters, quotes, backslashes and </ escaped).

class JsonBody {
public:
  explicit JsonBody(kj::StringPtr text);
  // Parses; throws a kj::Exception whose description is a readable "invalid JSON ..." message.
  // The top level must be an object.

  kj::Maybe<capnp::json::Value::Reader> get(kj::StringPtr name) const;
  kj::String string(kj::StringPtr name) const;                     // required
  kj::Maybe<kj::String> optionalString(kj::StringPtr name) const;
  int64_t integer(kj::StringPtr name) const;                       // required
  bool boolean(kj::StringPtr name, bool ifMissing = false) const;

private:
  capnp::MallocMessageBuilder message;
  capnp::json::Value::Reader root;
};

template <typename T, typename Func>
T valueOr(kj::Maybe<T>&& maybe, Func&& otherwise) {
  // KJ 0.9.2 has no KJ_UNWRAP_OR: the value, or whatever `otherwise` returns (or throws).
  KJ_IF_MAYBE(v, maybe) return kj::mv(*v);
  return otherwise();
}

class ApiError {
public:
  // Thrown by API handlers for answers that are the user's problem (4xx): the message is shown
  // to the person as is.
  ApiError(uint16_t status, kj::String message): status(status), message(kj::mv(message)) {}
  uint16_t status;
  kj::String message;
};

}  // namespace ss::shell
