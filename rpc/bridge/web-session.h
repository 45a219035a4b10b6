// WebSession (rpc/web-session.capnp) served by the bridge: each call is replayed to the app as
// one HTTP/1.1 request (request-head.h), its response mapped back (below), bodies piped when
// large (exchange.h), WebSockets relayed (websocket.h).
//
// Response mapping. Always: rawStatus = the app's exact status, rawHeaders = every end-to-end
// header it sent (ResponseHead::isHopByHop() removed), in order and spelled as sent. The union
// keeps Sandstorm's categories (facts/sandstorm.md §3.3) for callers that only know those:
//   2xx (but 204/205)  -> content (statusCode = the status; body bytes or pipe; bodyLength)
//   204, 205           -> noContent (shouldResetForm for 205)
//   304, bodiless 412  -> preconditionFailed (matchingETag from ETag)
//   301/302/303/307/308 without a body -> redirect (isPermanent 301/308; switchToGet 301-303)
//   4xx / 5xx with a body of at most 64 KiB (Content-Length) or none -> clientError /
//     serverError; the body goes to descriptionHtml when the Content-Type is text/html, else to
//     nonHtmlBody (exactly one is set)
//   anything else (a redirect with a body, an error page too big to inline or of unknown length,
//     1xx/3xx Sandstorm did not know) -> content with statusCode = the status, so no body the
//     app sent is ever dropped.
// So a caller reads the body from content.body when the union is `content`, from the error
// text when it is clientError/serverError, and otherwise there is none.
// Failures the app caused without crashing (port never opened: 503; malformed or oversized
// response head: 502; no response head in time: 504) are serverError responses whose
// nonHtmlBody says what happened. An app that closes the connection mid-exchange (crashed)
// fails the call with an exception.
#pragma once

#include <kj/async.h>

#include "rpc/bridge/http-client.h"
#include "rpc/bridge/request-head.h"
#include "rpc/web-session.capnp.h"

namespace ss::bridge {

struct Bridge {
  // What every session shares; owned by main().
  AppConnector& connector;
  kj::TaskSet& background;               // body pumps and WebSocket relays
  kj::ArrayPtr<const kj::String> permissionNames;  // ViewInfo.permissions[i].name
};

class WebSessionImpl final: public rpc::WebSession::Server {
public:
  WebSessionImpl(Bridge& bridge, SessionHeaders headers)
      : bridge(bridge), headers(kj::mv(headers)) {}

protected:
  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> post(PostContext context) override;
  kj::Promise<void> put(PutContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> patch(PatchContext context) override;
  kj::Promise<void> options(OptionsContext context) override;
  kj::Promise<void> request(RequestContext context) override;
  kj::Promise<void> propfind(PropfindContext context) override;
  kj::Promise<void> proppatch(ProppatchContext context) override;
  kj::Promise<void> mkcol(MkcolContext context) override;
  kj::Promise<void> copy(CopyContext context) override;
  kj::Promise<void> move(MoveContext context) override;
  kj::Promise<void> lock(LockContext context) override;
  kj::Promise<void> unlock(UnlockContext context) override;
  kj::Promise<void> acl(AclContext context) override;
  kj::Promise<void> report(ReportContext context) override;
  kj::Promise<void> openWebSocket(OpenWebSocketContext context) override;

public:
  struct Call;  // one relayed request (web-session.c++)

protected:
  // postStreaming/putStreaming: left to the generated default ("unimplemented"), which
  // Sandstorm's callers answer by falling back to post/put; ours use Context.requestBody.

private:
  Bridge& bridge;
  SessionHeaders headers;

  kj::Promise<void> relay(kj::Own<Call> call, rpc::WebSession::Response::Builder results);
};

struct ExchangeResult;
void fillResponse(ExchangeResult& result, rpc::WebSession::Response::Builder out);
// The mapping described above (exposed for unit tests).

}  // namespace ss::bridge
