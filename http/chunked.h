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
    return feedImpl(input, &onData, [](void* f, std::string_view data) {
      (*static_cast<Func*>(f))(data);
    });
  }

  uint64_t bodyBytes() const { return total; }  // decoded bytes so far

private:
  Step feedImpl(std::string_view input, void* ctx, void (*onData)(void*, std::string_view));

  enum class Phase : uint8_t { SIZE, SIZE_LF, EXT, DATA, DATA_CR, DATA_LF, TRAILER, TRAILER_LF };
  Phase phase = Phase::SIZE;
  uint64_t remaining = 0;      // bytes left in the current chunk's data
  uint64_t total = 0;
  size_t lineBytes = 0;        // bytes in the current size/extension/trailer line
  size_t trailerBytes = 0;     // bytes in the whole trailer section
  bool sawDigit = false;
  bool trailerLineEmpty = true;
};

}  // namespace ss::http
