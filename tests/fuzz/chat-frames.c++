// The chat demo app's RFC 6455 frame parser (apps/chat/frames.h), on a client's byte stream.
// Oracles: the events are the same whether the stream arrives at once or in two input-chosen
// pieces (the server re-parses from its buffer after each read); messages are valid UTF-8 and
// within the cap; control payloads are at most 125 bytes; nothing is parsed after a failure.
#include <string>
#include <string_view>
#include <vector>

#include "apps/chat/frames.h"
#include "tests/fuzz/fuzz.h"

namespace {

// Small, so the fuzzer reaches the 1009 path without megabyte inputs; the server uses 1 MiB.
constexpr size_t MAX_MESSAGE = 4096;

struct Event {
  chat::FrameEvent::Kind kind;
  uint8_t opcode;
  std::string payload;
  uint16_t code;
  bool operator==(const Event& o) const {
    return kind == o.kind && opcode == o.opcode && payload == o.payload && code == o.code;
  }
};

// Feeds `stream` as the server does: appended to a buffer in the given pieces, parsing as far
// as possible after each, dropping what was consumed.
std::vector<Event> run(std::string_view stream, size_t split) {
  chat::FrameReader reader;
  std::vector<Event> events;
  std::string in;
  bool failed = false;
  for (auto piece: {stream.substr(0, split), stream.substr(split)}) {
    if (failed) break;
    in.append(piece);
    size_t pos = 0;
    for (;;) {
      auto e = chat::nextFrame(reader, std::string_view(in).substr(pos), MAX_MESSAGE);
      if (e.kind == chat::FrameEvent::NEED_MORE) break;
      if (e.kind == chat::FrameEvent::FAIL) {
        FUZZ_CHECK(e.closeCode == 1002 || e.closeCode == 1003 || e.closeCode == 1007 ||
                   e.closeCode == 1009);
        events.push_back({e.kind, 0, {}, e.closeCode});
        failed = true;
        break;
      }
      FUZZ_CHECK(e.consumed >= 6 && e.consumed <= in.size() - pos);
      pos += e.consumed;
      if (e.kind == chat::FrameEvent::CONTROL) {
        FUZZ_CHECK(e.payload.size() <= 125);
        FUZZ_CHECK(e.opcode >= 0x8 && e.opcode <= 0xA);
        uint16_t code = 0;
        if (e.opcode == 0x8) {
          auto reply = chat::replyToClose(e.payload);
          code = reply.code;
          FUZZ_CHECK(code == 0 || chat::validCloseCode(code));
        }
        events.push_back({e.kind, e.opcode, e.payload, code});
      } else if (e.kind == chat::FrameEvent::MESSAGE) {
        FUZZ_CHECK(e.payload.size() <= MAX_MESSAGE);
        FUZZ_CHECK(chat::validUtf8(e.payload));
        events.push_back({e.kind, 1, e.payload, 0});
      }
      FUZZ_CHECK(reader.message.size() <= MAX_MESSAGE);
    }
    in.erase(0, pos);
  }
  return events;
}

}  // namespace

SS_FUZZ_TARGET("chat-frames") {
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  size_t split = size == 0 ? 0 : data[size - 1] % (size + 1);
  FUZZ_CHECK(run(stream, size) == run(stream, split));
  chat::validUtf8(stream);
  return 0;
}
