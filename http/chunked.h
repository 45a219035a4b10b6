// Strict decoder for Transfer-Encoding: chunked request bodies (RFC 9112 §7.1).
//
// llhttp 8.1.0 does not check the CRLF after chunk data and accepts a chunk-size line ended by
// "\rX" (facts/security.md §3.1), so we frame chunked bodies ourselves. Rejected: anything but
// 1*HEXDIG for the size (no spaces, no "0x", no sign), sizes over 2^60, bare CR or bare LF,
// missing CRLF after chunk data, chunk lines (with extensions) over limits::MAX_CHUNK_LINE,
// trailer fields that are malformed (same rules as header lines), too many trailer bytes.
// Chunk extensions and trailer fields are validated and then ignored.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string_view>
#include <type_traits>

namespace ss::http {

class ChunkedDecoder {
public:
  enum class State : uint8_t { MORE, DONE, ERROR };

  struct Step {
    State state;
    size_t consumed;          // bytes of `input` used (all of it unless DONE or ERROR)
    const char* reason = "";  // ERROR: why
  };

  // Feeds the next bytes. Each run of body data is passed to `onData` as a view into `input`
  // (no copy). Returns DONE after the last-chunk and trailer section's final CRLF, with
  // `consumed` pointing just past it (the rest of `input` belongs to the next request).
  template <typename Func>
  Step feed(std::string_view input, Func&& onData) {
    // remove_reference: Func is `L&` when an lvalue is passed, and a pointer to a reference
    // does not exist.
    using F = std::remove_reference_t<Func>;
    return feedImpl(input, const_cast<void*>(static_cast<const void*>(&onData)),
                    [](void* f, std::string_view data) { (*static_cast<F*>(f))(data); });
  }

  uint64_t bodyBytes() const { return total; }  // decoded bytes so far

private:
  Step feedImpl(std::string_view input, void* ctx, void (*onData)(void*, std::string_view));

  // Order matters: feedImpl() bounds SIZE..EXT_AFTER_VALUE as one chunk line and
  // TRAILER_START..FINAL_LF as the trailer section.
  enum class Phase : uint8_t {
    SIZE,             // chunk-size digits
    SIZE_WS,          // BWS after the size: only ';' may follow
    EXT_NAME_START,   // after ';', BWS then a token
    EXT_NAME,
    EXT_AFTER_NAME,   // BWS, then '=', ';' or CR
    EXT_VALUE_START,  // after '=', BWS then a token or a quoted-string
    EXT_TOKEN,
    EXT_QUOTED,
    EXT_QUOTED_PAIR,
    EXT_AFTER_VALUE,  // BWS, then ';' or CR
    SIZE_LF,          // the LF ending a chunk line
    DATA,
    DATA_CR,          // the CRLF every chunk's data must end with
    DATA_LF,
    TRAILER_START,    // start of a trailer field line, or the final CRLF
    TRAILER_NAME,
    TRAILER_VALUE,
    TRAILER_LF,
    FINAL_LF,
    DONE,
    FAILED,
  };
  Phase phase = Phase::SIZE;
  uint64_t remaining = 0;      // size being parsed, then bytes left in the current chunk's data
  uint64_t total = 0;
  size_t lineBytes = 0;        // bytes in the current chunk or trailer line, CRLF excluded
  size_t trailerBytes = 0;     // bytes in the whole trailer section
  bool sawDigit = false;       // the chunk-size has at least one HEXDIG
  const char* failure = "";    // reason of the ERROR, repeated if fed again
};

}  // namespace ss::http
