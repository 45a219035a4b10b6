#include "frames.h"

namespace chat {

size_t utf8Sequence(const uint8_t* p, size_t n) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

bool validUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8Sequence(p + i, s.size() - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool validCloseCode(uint16_t code) {
  // 1004-1006 and 1015 never go on the wire.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

namespace {
FrameEvent fail(uint16_t code, const char* reason) {
  FrameEvent e;
  e.kind = FrameEvent::FAIL;
  e.closeCode = code;
  e.reason = reason;
  return e;
}
}  // namespace

FrameEvent nextFrame(FrameReader& r, std::string_view buf, size_t maxMessage) {
  if (buf.size() < 2) return {};
  uint8_t b0 = buf[0], b1 = buf[1];
  bool fin = b0 & 0x80, control = b0 & 0x08;
  uint8_t opcode = b0 & 0x0f;
  if (b0 & 0x70) return fail(1002, "reserved bits set");  // no extension agreed
  if (opcode > 0x2 && (opcode < 0x8 || opcode > 0xA)) return fail(1002, "unknown opcode");
  if (!(b1 & 0x80)) return fail(1002, "client frames must be masked");
  uint64_t len = b1 & 0x7f;
  size_t headerLen = 2;
  if (len == 126) {
    if (buf.size() < 4) return {};
    len = uint64_t(uint8_t(buf[2])) << 8 | uint8_t(buf[3]);
    headerLen = 4;
  } else if (len == 127) {
    if (buf.size() < 10) return {};
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | uint8_t(buf[2 + i]);
    headerLen = 10;
    if (len >> 63) return fail(1002, "bad length");
  }
  if (control && (!fin || len > 125)) return fail(1002, "bad control frame");
  if (!control) {
    if (opcode == 0 && !r.inMessage) return fail(1002, "continuation without a message");
    if (opcode != 0 && r.inMessage) return fail(1002, "message inside a message");
    // Checked before the payload arrives: a huge claimed length costs us nothing.
    if (len > maxMessage - r.message.size()) return fail(1009, "message over 1 MiB");
  }
  headerLen += 4;  // the mask
  // len <= maxMessage (data) or 125 (control) here: no overflow.
  if (buf.size() < headerLen + len) return {};
  const char* mask = buf.data() + headerLen - 4;
  std::string_view payload = buf.substr(headerLen, len);
  FrameEvent e;
  e.consumed = headerLen + len;
  e.opcode = opcode;
  if (control) {
    e.kind = FrameEvent::CONTROL;
    e.payload.assign(payload);
    for (size_t i = 0; i < e.payload.size(); i++) e.payload[i] ^= mask[i & 3];
    return e;
  }
  if (opcode != 0) {
    r.inMessage = true;
    r.messageOpcode = opcode;
    r.message.clear();
  }
  size_t base = r.message.size();
  r.message.append(payload);
  for (size_t i = 0; i < payload.size(); i++) r.message[base + i] ^= mask[i & 3];
  if (!fin) {
    e.kind = FrameEvent::FRAGMENT;
    return e;
  }
  r.inMessage = false;
  e.payload = std::move(r.message);
  r.message.clear();
  if (r.messageOpcode != 0x1) return fail(1003, "only text messages");
  if (!validUtf8(e.payload)) return fail(1007, "text is not UTF-8");
  e.kind = FrameEvent::MESSAGE;
  return e;
}

CloseReply replyToClose(std::string_view payload) {
  if (payload.empty()) return {0, ""};
  uint16_t code = payload.size() >= 2 ? uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]))
                                      : 0;
  if (payload.size() < 2 || !validCloseCode(code)) return {1002, "bad close code"};
  if (!validUtf8(payload.substr(2))) return {1007, "close reason is not UTF-8"};
  return {code, ""};  // echo the code, then close
}

}  // namespace chat
