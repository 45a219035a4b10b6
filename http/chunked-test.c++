#include "http/chunked.h"

#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "tests/test-support.h"

namespace ss::http {
namespace {

using namespace std::string_view_literals;
using State = ChunkedDecoder::State;

std::string escape(std::string_view s) {
  std::string out;
  for (char c: s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

struct Decoded {
  State state;
  size_t consumed;  // total over all feeds
  std::string body;
  std::string reason;
};

// Feeds `input` in pieces cut at `cuts` (increasing offsets), like reads from a socket, and
// stops at the first DONE or ERROR. The decoder must consume each piece fully while it says MORE.
Decoded decodeInPieces(std::string_view input, const std::vector<size_t>& cuts) {
  ChunkedDecoder decoder;
  Decoded out{State::MORE, 0, {}, {}};
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); i++) {
    size_t end = i < cuts.size() ? cuts[i] : input.size();
    std::string_view piece = input.substr(start, end - start);
    auto step = decoder.feed(piece, [&](std::string_view data) {
      // Views point into the piece given: no copy was made.
      CHECK(data.data() >= piece.data());
      CHECK(data.data() + data.size() <= piece.data() + piece.size());
      out.body.append(data);
    });
    out.state = step.state;
    out.consumed += step.consumed;
    out.reason = step.reason;
    if (step.state != State::MORE) break;
    CHECK(step.consumed == piece.size());
    start = end;
  }
  CHECK(decoder.bodyBytes() == out.body.size());
  return out;
}

Decoded decode(std::string_view input) { return decodeInPieces(input, {}); }

void requireError(std::string_view input) {
  Decoded whole = decode(input);
  CAPTURE(escape(input), whole.reason);
  CHECK(whole.state == State::ERROR);
  CHECK(!whole.reason.empty());

  // Byte by byte, the error must be the same.
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); i++) cuts.push_back(i);
  Decoded bytewise = decodeInPieces(input, cuts);
  CHECK(bytewise.state == State::ERROR);
  CHECK(bytewise.consumed == whole.consumed);
}

// A multi-chunk body with extensions (token, quoted, BWS) and trailers, then the next request.
const std::string BODY =
    "5;name=value;q=\"quoted \\\" str\"\r\nhello\r\n"
    "6 ; a = b ;c\r\n world\r\n"
    "1a\r\n, and twenty-six bytes...!\r\n"
    "0;last\r\nX-Trailer: yes\r\nY:\tz \r\n\r\n";
const std::string DECODED = "hello world, and twenty-six bytes...!";
const std::string NEXT = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

TEST_CASE("a chunked body with extensions and trailers decodes, and DONE stops at its end",
          "[http]") {
  Decoded out = decode(BODY + NEXT);
  CAPTURE(out.reason);
  REQUIRE(out.state == State::DONE);
  CHECK(out.body == DECODED);
  CHECK(out.consumed == BODY.size());
}

TEST_CASE("a chunked body decodes the same at every split point", "[http]") {
  std::string input = BODY + NEXT;
  for (size_t cut = 0; cut <= input.size(); cut++) {
    CAPTURE(cut);
    Decoded out = decodeInPieces(input, {cut});
    REQUIRE(out.state == State::DONE);
    CHECK(out.body == DECODED);
    CHECK(out.consumed == BODY.size());
  }
  for (size_t a = 1; a < BODY.size(); a += 7) {
    for (size_t b = a; b < BODY.size(); b += 5) {
      CAPTURE(a, b);
      Decoded out = decodeInPieces(input, {a, b});
      REQUIRE(out.state == State::DONE);
      CHECK(out.body == DECODED);
      CHECK(out.consumed == BODY.size());
    }
  }
}

TEST_CASE("a chunked body decodes when fed one byte at a time", "[http]") {
  std::string input = BODY + NEXT;
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); i++) cuts.push_back(i);
  Decoded out = decodeInPieces(input, cuts);
  REQUIRE(out.state == State::DONE);
  CHECK(out.body == DECODED);
  CHECK(out.consumed == BODY.size());
}

TEST_CASE("an incomplete chunked body asks for more", "[http]") {
  for (size_t i = 0; i < BODY.size(); i++) {
    CAPTURE(i);
    Decoded out = decode(std::string_view(BODY).substr(0, i));
    REQUIRE(out.state == State::MORE);
    CHECK(out.consumed == i);
  }
}

TEST_CASE("chunk sizes are hex, case-insensitive, with leading zeros allowed", "[http]") {
  Decoded out = decode("000A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n");
  REQUIRE(out.state == State::DONE);
  CHECK(out.body == "0123456789abcdefghijk");

  out = decode("0\r\n\r\n");
  REQUIRE(out.state == State::DONE);
  CHECK(out.body.empty());

  // 2^60 - 1 is a (huge) size we still parse; the caller's body limit refuses it later.
  out = decode("FFFFFFFFFFFFFFF\r\nabc");
  CHECK(out.state == State::MORE);
  CHECK(out.body == "abc");
}

TEST_CASE("feeding after DONE or ERROR repeats the result without consuming", "[http]") {
  ChunkedDecoder decoder;
  auto ignore = [](std::string_view) {};
  auto step = decoder.feed("0\r\n\r\nmore", ignore);
  REQUIRE(step.state == State::DONE);
  CHECK(step.consumed == 5);
  step = decoder.feed("more", ignore);
  CHECK(step.state == State::DONE);
  CHECK(step.consumed == 0);

  ChunkedDecoder bad;
  step = bad.feed("x", ignore);
  REQUIRE(step.state == State::ERROR);
  CHECK(step.consumed == 0);
  step = bad.feed("0\r\n\r\n", ignore);
  CHECK(step.state == State::ERROR);
  CHECK(std::string_view(step.reason) != "");
}

// ---- facts/security.md §3.1 -------------------------------------------------------------------

TEST_CASE("§3.1 junk instead of CRLF after chunk data is refused", "[http]") {
  // llhttp 8.1.0 accepts this as a complete message.
  requireError("1\r\nAXX0\r\n\r\n");
  requireError("1\r\nA\rX0\r\n\r\n");
  requireError("1\r\nA\n0\r\n\r\n");
  requireError("3\r\nabcd\r\n0\r\n\r\n");  // data longer than its size
}

TEST_CASE("§3.1 a chunk line ended by CR and another byte is refused", "[http]") {
  requireError("5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n");  // HTTP Garden "Node.js bug 2"
  requireError("5;a\rX\r\nhello\r\n0\r\n\r\n");
}

TEST_CASE("§3.1 malformed chunk sizes are refused", "[http]") {
  requireError("FFFFFFFFFFFFFFFFFF\r\n");  // overflows 64 bits
  requireError("1000000000000001\r\n");    // just over 2^60
  requireError("0x1\r\nA\r\n0\r\n\r\n");
  requireError("1 \r\nA\r\n0\r\n\r\n");     // trailing space without an extension
  requireError("1\nA\r\n0\r\n\r\n");        // bare LF after the size
  requireError("-1\r\n");
  requireError("+1\r\n");
  requireError("\r\n");                    // empty size line
  requireError(";a\r\n");                  // extension without a size
  requireError(" 1\r\n");
  requireError("g\r\n");
  requireError("1\r\nA\r\n\r\n0\r\n\r\n");  // extra CRLF between chunks
  requireError("1\0\r\n"sv);
}

TEST_CASE("§3.1 malformed chunk extensions are refused", "[http]") {
  requireError("1;\r\nA\r\n0\r\n\r\n");
  requireError("1;=v\r\nA\r\n0\r\n\r\n");
  requireError("1;a=\r\nA\r\n0\r\n\r\n");
  requireError("1;a=\"open\r\nA\r\n0\r\n\r\n");
  requireError("1;a=b c\r\nA\r\n0\r\n\r\n");
  requireError("1;a\nA\r\n0\r\n\r\n");
  requireError("1;a=\"\0\"\r\nA\r\n0\r\n\r\n"sv);
}

TEST_CASE("§3.1 chunk lines longer than MAX_CHUNK_LINE are refused before they end", "[http]") {
  // Node's CVE-2024-22019: unbounded extensions. No CRLF is ever sent here.
  std::string endless = "1;a=" + std::string(limits::MAX_CHUNK_LINE, 'x');
  Decoded out = decode(endless);
  CHECK(out.state == State::ERROR);
  CHECK(out.consumed <= limits::MAX_CHUNK_LINE);

  // Leading zeros count too.
  requireError(std::string(limits::MAX_CHUNK_LINE + 1, '0'));

  // Exactly at the limit is fine.
  std::string line = "1;a=";
  line += std::string(limits::MAX_CHUNK_LINE - line.size(), 'x');
  out = decode(line + "\r\nA\r\n0\r\n\r\n");
  CHECK(out.state == State::DONE);
  requireError(line + "x\r\nA\r\n0\r\n\r\n");
}

TEST_CASE("§3.1 malformed or oversized trailers are refused", "[http]") {
  requireError("0\r\nX: a\r\n folded\r\n\r\n");  // obs-fold
  requireError("0\r\n:x\r\n\r\n");                // empty name
  requireError("0\r\nX a\r\n\r\n");               // no colon
  requireError("0\r\nX : a\r\n\r\n");             // space before the colon
  requireError("0\r\nX: a\rb\r\n\r\n");           // bare CR
  requireError("0\r\nX: a\n\r\n");                // bare LF
  requireError("0\r\n\rX");                       // final CR then junk
  requireError("0\r\n\n");
  requireError("0\r\nX: a\0\r\n\r\n"sv);

  std::string longLine = "0\r\nX: " + std::string(limits::MAX_HEADER_LINE, 'v');
  requireError(longLine);

  std::string many = "0\r\n";
  while (many.size() <= limits::MAX_HEAD_BYTES) many += "X: " + std::string(1000, 'v') + "\r\n";
  requireError(many);
}

}  // namespace
}  // namespace ss::http
