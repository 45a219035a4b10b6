// RFC 6455 frames from clients, parsed without I/O: the chat server feeds its input buffer in,
// and the fuzz target (tests/fuzz/chat-frames.c++) feeds arbitrary bytes. Everything a client
// sends is checked here: reserved bits and opcodes, masking, lengths (the 64-bit MSB, control
// frames over 125 bytes, fragmented control frames), fragmentation order, the message cap
// (checked from the header, before the payload arrives), text-only messages and their UTF-8.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

namespace chat {

size_t utf8Sequence(const uint8_t* p, size_t n);
// Length of the well-formed UTF-8 sequence at p (at most n bytes, n >= 1), or 0 if it is not
// one: no overlongs, no surrogates, nothing above U+10FFFF (what RFC 6455 §8.1 asks of text).

bool validUtf8(std::string_view s);

bool validCloseCode(uint16_t code);
// Codes a peer may send (RFC 6455 §7.4 and the IANA registry).

struct FrameReader {
  // One client's message in progress, across calls.
  std::string message;     // unmasked fragments of the message being received
  bool inMessage = false;
  uint8_t messageOpcode = 0;
};

struct FrameEvent {
  enum Kind : uint8_t {
    NEED_MORE,  // no complete frame at the front of the input yet
    CONTROL,    // a ping, pong or close frame: `opcode`, unmasked `payload`
    FRAGMENT,   // a data frame that did not finish its message (kept in the reader)
    MESSAGE,    // a complete, valid UTF-8 text message in `payload`
    FAIL,       // close the connection with `closeCode` and `reason`
  };
  Kind kind = NEED_MORE;
  size_t consumed = 0;  // input bytes the frame used (CONTROL, FRAGMENT, MESSAGE)
  uint8_t opcode = 0;
  std::string payload;
  uint16_t closeCode = 0;
  const char* reason = "";
};

FrameEvent nextFrame(FrameReader& reader, std::string_view input, size_t maxMessage);
// Parses the frame at the front of `input`. After FAIL nothing more may be parsed.

struct CloseReply {
  uint16_t code;  // 0: answer with an empty close frame (the peer gave no code, §5.5.1)
  const char* reason;
};

CloseReply replyToClose(std::string_view payload);
// What to answer a client's close frame with: its own code echoed, or 1002/1007 when the code
// or the reason is invalid.

}  // namespace chat
