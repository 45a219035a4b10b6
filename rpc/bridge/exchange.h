// One HTTP request/response exchange with the app, for one WebSession call.
//
//   acquire a connection (waiting for the app's port, bounded) -> write head (+ inline body)
//   -> splice a piped request body, while reading the response head (bounded, 1xx skipped)
//   -> body: none | inline bytes (Content-Length <= 64 KiB) | a pipe pumped in the background
//   -> connection back to the pool, unless anything about its framing is in doubt
//
// Outcomes the app caused are values (ExchangeResult::Kind) that become a serverError response;
// an app that dies mid-exchange (EOF or reset) makes the call throw DISCONNECTED.
#pragma once

#include <stdint.h>

#include <kj/async.h>
#include <kj/string.h>

#include "rpc/bridge/http-client.h"
#include "rpc/bridge/response-head.h"
#include "rpc/util.capnp.h"

namespace ss::bridge {

struct ExchangeRequest {
  kj::Array<kj::byte> headAndBody;    // the request head, then the inline body if any
  kj::Maybe<kj::AutoCloseFd> bodyPipe;  // read end of the platform's request-body pipe
  int64_t bodyPipeLength = -1;        // -1: chunked until EOF
  bool isHead = false;                // HEAD: the response has no body
};

struct ExchangeResult {
  enum Kind : uint8_t {
    RESPONSE,          // `head` and the body below are the app's
    PORT_NOT_OPEN,     // the app did not listen within the port wait
    BAD_RESPONSE,      // malformed or oversized head: `message` says why
    HEAD_TIMEOUT,      // no response head within limits::RESPONSE_HEAD_TIMEOUT
  };
  Kind kind = RESPONSE;
  kj::String message;
  ResponseHead head;
  kj::Array<kj::byte> inlineBody;             // when `pipe` is null
  kj::Maybe<rpc::Handle::Client> pipe;        // Handle whose getFd() is the body's read end
  int64_t bodyLength = -1;                    // Content-Length if known (also for HEAD)
};

kj::Promise<ExchangeResult> performExchange(AppConnector& connector, kj::TaskSet& background,
                                            ExchangeRequest request);
// Piped response bodies keep flowing in `background` after the promise resolves; the
// connection goes back to the pool when the body is done.

enum class HeadOutcome : uint8_t { COMPLETE, BAD, EOF_BEFORE_ANY_BYTE };

kj::Promise<HeadOutcome> readResponseHead(Connection& connection, ResponseHead& head,
                                          const char*& reason, bool allowSwitchingProtocols);
// Reads and parses one final response head (skipping 100/102/103 interim responses) and
// consumes it from the connection's buffer. EOF after some bytes throws DISCONNECTED. 101 is
// final when `allowSwitchingProtocols` (WebSocket), else BAD.

class PipeHandle final: public rpc::Handle::Server {
  // A Util.Handle carrying one end of a pipe (Cap'n Proto fd passing). The bridge keeps its copy
  // of the fd until the platform drops the Handle; the platform should drop it when done with
  // the pipe, so that closing its own copy is seen (EPIPE/POLLERR) by the pump.
public:
  explicit PipeHandle(kj::AutoCloseFd fd): fd(kj::mv(fd)) {}
  kj::Maybe<int> getFd() override { return fd.get(); }

private:
  kj::AutoCloseFd fd;
};

}  // namespace ss::bridge
