// Strict parsing of an HTTP/1.1 request head.
//
// llhttp 8.1.0 (Debian) tokenises, but it accepts several request-smuggling inputs
// (facts/security.md §0 and §3.1), so a strict layer runs around it:
//   before llhttp: find the end of the head ourselves and reject any CR not followed by LF, any
//     bare LF, obs-fold (a field line starting with SP/HT), empty field names, over-long request
//     lines / field lines / heads, too many fields;
//   llhttp: request line and field tokenising with no lenient flags;
//   after llhttp: semantic checks (Host exactly once; HTTP/1.0 or 1.1 only; Content-Length
//     digits only and not repeated; no Content-Length together with Transfer-Encoding; TE only
//     as a single final "chunked", and never on HTTP/1.0; origin-form target, or absolute-form
//     whose authority equals Host, or "*" for OPTIONS; no CONNECT).
// Also refused: control bytes other than HT anywhere in the head (NUL, DEL...), raw 0x80+ bytes
// or a '#' in the target, and any Upgrade other than "websocket" on an HTTP/1.1 GET (h2c
// smuggling, §3.1). A well-formed method llhttp does not know gets 501. Leading empty lines
// count towards MAX_HEAD_BYTES.
// Only the head is ever given to llhttp; body framing is ours (BodyFraming + ChunkedDecoder).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string_view>

#include "http/request.h"

namespace ss::http {

struct HeadResult {
  enum Kind : uint8_t {
    INCOMPLETE,  // no complete head yet and no violation so far: read more bytes
    COMPLETE,    // `request` is filled; the head is input[0, headBytes)
    ERROR,       // reply `status` (400, 414, 431, 501, 505) and close the connection
  };
  Kind kind = INCOMPLETE;
  size_t headBytes = 0;       // COMPLETE: bytes of the head including the final CRLFCRLF
  uint16_t status = 0;        // ERROR: the status to answer with
  const char* reason = "";    // ERROR: short human-readable cause, for logs and the 400 body
};

// Parses `input`, which starts at the first byte of a request (leading CRLFs between pipelined
// requests, allowed by RFC 9112 §2.2, are skipped and counted in headBytes). Call again with
// the longer input after INCOMPLETE; the scan is cheap (memchr-based), so re-scanning a short
// prefix is fine. On COMPLETE the views in `request` point into `input`.
HeadResult parseHead(std::string_view input, Request& request);

}  // namespace ss::http
