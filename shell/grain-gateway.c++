#include "shell/grain-gateway.h"

#include <fcntl.h>
#include <unistd.h>

#include <capnp/capability.h>
#include <kj/debug.h>
#include <kj/vector.h>

#include "base/fd.h"
#include "base/log.h"
#include "base/syscall.h"
#include "http/websocket-accept.h"
#include "shell/grain-response.h"
#include "rpc/util.capnp.h"

namespace ss::shell {

namespace {

// A capability that carries a file descriptor: Cap'n Proto attaches it to the message when the
// capability is sent (fd passing), and the grain reads it with Capability::Client::getFd().
class FdHandle final: public rpc::Handle::Server {
public:
  explicit FdHandle(AutoCloseFd fd): fd(kj::mv(fd)) {}
  kj::Maybe<int> getFd() override { return fd.get(); }

private:
  AutoCloseFd fd;
};

bool isHopByHop(std::string_view name, std::string_view connectionValue) {
  static constexpr std::string_view HOP[] = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
      "upgrade", "host", "content-length", "expect", "proxy-authorization",
  };
  for (auto hop: HOP) {
    if (http::equalsIgnoreCase(name, hop)) return true;
  }
  // The WebSocket handshake is ours with the browser; the bridge makes its own with the app.
  if (name.size() >= 14 && http::equalsIgnoreCase(name.substr(0, 14), "sec-websocket-")) {
    return true;
  }
  // Headers the client listed in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  return !connectionValue.empty() && http::hasToken(connectionValue, name);
}

std::string_view sv(const kj::String& s) { return std::string_view(s.begin(), s.size()); }

// The Cookie header without "sandstorm-*" cookies; empty when nothing remains.
kj::String appCookies(std::string_view value) {
  kj::Vector<kj::String> kept;
  while (!value.empty()) {
    size_t semi = value.find(';');
    auto item = value.substr(0, semi);
    value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.empty() || item.substr(0, 10) == "sandstorm-") continue;
    kept.add(kj::heapString(item.data(), item.size()));
  }
  return kj::strArray(kept, "; ");
}

template <typename Builder>
void fillContext(Builder context, const http::Request& request, bool stripCookies = false) {
  std::string_view connection;
  if (auto* c = request.find("Connection")) connection = c->value;
  kj::Vector<kj::String> cookieValues;  // filtered Cookie headers (kept alive until copied)
  size_t count = 0;
  for (auto& header: request) {
    if (isHopByHop(header.name, connection)) continue;
    if (stripCookies && http::equalsIgnoreCase(header.name, "Cookie")) {
      auto kept = appCookies(header.value);
      if (kept.size() == 0) continue;
      cookieValues.add(kj::mv(kept));
    }
    count++;
  }
  auto headers = context.initRawHeaders(count);
  size_t i = 0;
  size_t cookieIndex = 0;
  for (auto& header: request) {
    if (isHopByHop(header.name, connection)) continue;
    capnp::Text::Reader value(header.value.data(), header.value.size());
    if (stripCookies && http::equalsIgnoreCase(header.name, "Cookie")) {
      if (appCookies(header.value).size() == 0) continue;
      value = cookieValues[cookieIndex++];
    }
    auto out = headers[i++];
    auto name = out.initName(header.name.size());
    for (size_t j = 0; j < header.name.size(); j++) name.begin()[j] = tolower(header.name[j]);
    out.setValue(value);
  }
  context.setMethod(capnp::Text::Reader(request.method.data(), request.method.size()));
}

template <typename ContentBuilder, typename ContextBuilder>
void fillBody(http::Exchange& exchange, ContentBuilder content, ContextBuilder context) {
  auto& request = exchange.request();
  if (auto* type = request.find("Content-Type")) {
    content.setMimeType(capnp::Text::Reader(type->value.data(), type->value.size()));
  }
  if (auto* encoding = request.find("Content-Encoding")) {
    content.setEncoding(capnp::Text::Reader(encoding->value.data(), encoding->value.size()));
  }
  KJ_IF_MAYBE(pipe, exchange.takeBodyPipe()) {
    context.setRequestBody(kj::heap<FdHandle>(kj::mv(*pipe)));
    context.setRequestBodyLength(static_cast<int64_t>(request.contentLength));
  } else {
    auto body = exchange.body();
    content.setContent(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(body.data()),
                                           body.size()));
  }
}

kj::Promise<void> writeResponse(http::Exchange& exchange,
                                capnp::Response<rpc::WebSession::Response> response,
                                kj::String extra) {
  // Checked and filtered before anything reaches the connection (grain-response.h).
  auto out = translateResponse(response, exchange.request().isHead());
  switch (out.body) {
    case GrainResponse::Body::INLINE:
      exchange.respond(out.status, out.headers.asPtr(), out.inlineBody, sv(extra));
      return kj::READY_NOW;
    case GrainResponse::Body::HEAD_ONLY:
      exchange.respondWithPipe(out.status, out.headers.asPtr(), nullptr, out.length, sv(extra));
      return kj::READY_NOW;
    case GrainResponse::Body::PIPE:
      break;
  }
  rpc::WebSession::Response::Reader reader = response;
  auto pipe = reader.getContent().getBody().getPipe();
  http::Exchange* ex = &exchange;
  return pipe.getFd().then(
      [ex, out = kj::mv(out), extra = kj::mv(extra),
       response = kj::mv(response)](kj::Maybe<int> maybeFd) mutable {
    int received = KJ_REQUIRE_NONNULL(maybeFd, "grain sent a body pipe without a descriptor");
    int fd;
    KJ_SYSCALL(fd = fcntl(received, F_DUPFD_CLOEXEC, 3));
    AutoCloseFd owned(fd);
    setNonblocking(fd);
    ex->respondWithPipe(out.status, out.headers.asPtr(), kj::mv(owned), out.length, sv(extra));
  });
}

kj::String htmlEscape(kj::StringPtr text) {
  kj::Vector<char> out(text.size() + 16);
  for (char c: text) {
    switch (c) {
      case '<': out.addAll(kj::StringPtr("&lt;")); break;
      case '>': out.addAll(kj::StringPtr("&gt;")); break;
      case '&': out.addAll(kj::StringPtr("&amp;")); break;
      case '"': out.addAll(kj::StringPtr("&quot;")); break;
      default: out.add(c);
    }
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace

void respondGrainError(http::Exchange& exchange, uint16_t status, kj::StringPtr what,
                       kj::StringPtr detail) {
  auto page = kj::str(
      "<!doctype html><meta charset=utf-8><title>", htmlEscape(what), "</title>"
      "<h1>", htmlEscape(what), "</h1><pre>", htmlEscape(detail), "</pre>\n");
  exchange.respond(status, {{"Content-Type", "text/html; charset=utf-8"},
                            {"Cache-Control", "no-store"}},
                   std::string_view(page.begin(), page.size()));
}

namespace {

// Browser <-> daemon handshake checked here; the grain's bridge repeats it with the app. Frames
// then travel unparsed through two pipes passed to the grain: spliced on both sides.
kj::Promise<void> openWebSocket(http::Exchange& exchange, rpc::WebSession::Client session,
                                capnp::Text::Reader path, bool stripCookies) {
  auto& request = exchange.request();
  auto handshake = http::checkWebSocketHandshake(request);
  if (handshake.status == 426) {
    exchange.respond(426, {{"Sec-WebSocket-Version", "13"}, {"Content-Type", "text/plain"}},
                     handshake.reason);
    return kj::READY_NOW;
  }
  if (handshake.status != 0) {
    exchange.respond(handshake.status, {{"Content-Type", "text/plain"}}, handshake.reason);
    return kj::READY_NOW;
  }
  auto accept = kj::mv(handshake.accept);
  auto offered = kj::mv(handshake.offered);

  auto up = makePipe();    // client -> app: we write, the grain reads
  auto down = makePipe();  // app -> client: the grain writes, we read
  auto call = session.openWebSocketRequest();
  call.setPath(path);
  fillContext(call.initContext(), request, stripCookies);
  auto protocols = call.initProtocol(offered.size());
  for (size_t i = 0; i < offered.size(); i++) protocols.set(i, offered[i]);
  call.setUpstream(kj::heap<FdHandle>(kj::mv(up.first)));
  call.setDownstream(kj::heap<FdHandle>(kj::mv(down.second)));

  http::Exchange* ex = &exchange;
  return call.send().then(
      [ex, accept = kj::mv(accept), offered = kj::mv(offered), toApp = kj::mv(up.second),
       fromApp = kj::mv(down.first)](capnp::Response<rpc::WebSession::OpenWebSocketResults>&&
                                         response) mutable {
    kj::Vector<http::HeaderOut> headers(4);
    headers.add(http::HeaderOut{"Upgrade", "websocket"});
    headers.add(http::HeaderOut{"Connection", "Upgrade"});
    headers.add(http::HeaderOut{"Sec-WebSocket-Accept", std::string_view(accept.begin(),
                                                                          accept.size())});
    auto chosen = response.getProtocol();
    kj::String protocol;
    if (chosen.size() > 0) {
      // The app may only pick one of the protocols the browser offered (RFC 6455 §4.2.2).
      bool known = false;
      for (auto& o: offered) known = known || o == chosen[0];
      KJ_REQUIRE(chosen.size() == 1 && known,
                 "the app chose a WebSocket subprotocol the browser did not offer");
      protocol = kj::heapString(chosen[0]);
      headers.add(http::HeaderOut{"Sec-WebSocket-Protocol",
                                  std::string_view(protocol.begin(), protocol.size())});
    }
    ex->upgradeToTunnel(headers.asPtr(), kj::mv(toApp), kj::mv(fromApp));
  });
}

}  // namespace

bool shouldStreamBody(const http::Request& request) {
  return request.framing == http::BodyFraming::LENGTH &&
         request.contentLength > INLINE_BODY_LIMIT;
}

namespace {

kj::Promise<void> callUntimed(http::Exchange& exchange, rpc::WebSession::Client session,
                              GatewayOptions options) {
  auto& request = exchange.request();
  std::string_view target = request.target;
  // Sandstorm paths have no leading '/'. The rest (query included) is relayed as sent.
  if (!target.empty() && target[0] == '/') target.remove_prefix(1);
  capnp::Text::Reader path(target.data(), target.size());
  auto method = request.method;

  http::Exchange* ex = &exchange;
  bool strip = options.stripPlatformCookies;
  auto finish = [ex, extra = kj::mv(options.responseHeaders)](
                    capnp::Response<rpc::WebSession::Response>&& response) mutable {
    return writeResponse(*ex, kj::mv(response), kj::mv(extra));
  };
  if (request.websocketUpgrade) {
    return openWebSocket(exchange, kj::mv(session), path, strip);
  } else if (method == "GET" || method == "HEAD") {
    auto call = session.getRequest();
    call.setPath(path);
    call.setIgnoreBody(method == "HEAD");
    fillContext(call.initContext(), request, strip);
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  } else if (method == "POST") {
    auto call = session.postRequest();
    call.setPath(path);
    fillContext(call.initContext(), request, strip);
    fillBody(exchange, call.initContent(), call.getContext());
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  } else if (method == "PUT") {
    auto call = session.putRequest();
    call.setPath(path);
    fillContext(call.initContext(), request, strip);
    fillBody(exchange, call.initContent(), call.getContext());
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  } else if (method == "DELETE") {
    auto call = session.deleteRequest();
    call.setPath(path);
    fillContext(call.initContext(), request, strip);
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  } else if (method == "PATCH") {
    auto call = session.patchRequest();
    call.setPath(path);
    fillContext(call.initContext(), request, strip);
    fillBody(exchange, call.initContent(), call.getContext());
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  } else {
    // OPTIONS, WebDAV and anything else: relayed by name so the app answers it itself.
    auto call = session.requestRequest();
    call.setMethod(capnp::Text::Reader(method.data(), method.size()));
    call.setPath(path);
    fillContext(call.initContext(), request, strip);
    fillBody(exchange, call.initContent(), call.getContext());
    return call.send().then(kj::mv(finish));  // by value: KJ keeps an lvalue by reference
  }
}

}  // namespace

kj::Promise<void> callWebSession(http::Exchange& exchange, rpc::WebSession::Client session,
                                 GatewayOptions options) {
  kj::Timer* timer = options.timer;
  uint64_t timeoutMs = options.responseTimeoutMs;
  auto call = callUntimed(exchange, kj::mv(session), kj::mv(options));
  if (timer == nullptr || timeoutMs == 0) return call;
  // The call resolves once the response head is handed to the HTTP layer (bodies stream on
  // after that, bounded by the send timeout), so this bounds only the wait for the grain.
  http::Exchange* ex = &exchange;
  return call.exclusiveJoin(timer->afterDelay(timeoutMs * kj::MILLISECONDS).then(
      [ex, timeoutMs]() {
    if (ex->responded()) return;
    SS_LOG(WARNING, "grain", "no response from the grain in time; 504", timeoutMs);
    respondGrainError(*ex, 504, "The app did not answer in time",
                      kj::str("No response within ", timeoutMs / 1000.0, " s."));
  }));
}

void forwardToGrain(http::Exchange& exchange, GrainHost& host, const GrainSpec& spec) {
  // Capture the exchange by pointer: nested lambdas that capture a captured reference by
  // reference end up pointing into the (already destroyed) outer lambda.
  http::Exchange* ex = &exchange;
  auto logPath = kj::heapString(spec.logPath);
  // evalNow: a grain that fails to start synchronously becomes the same error page as one that
  // fails later, not a 500.
  exchange.defer(kj::evalNow([&]() { return host.acquire(spec); }).then(
      [ex](kj::Own<GrainHost::Lease> lease) {
        GrainHost::Lease* leasePtr = lease.get();
        return lease->webSession().then([ex](rpc::WebSession::Client session) {
          return callWebSession(*ex, kj::mv(session));
        }).catch_([ex, leasePtr](kj::Exception&& e) {
          if (ex->responded()) kj::throwFatalException(kj::mv(e));
          respondGrainError(*ex, 502, "The app failed to answer",
                            kj::str(e.getDescription(), "\n\nLast lines of the app's log:\n",
                                    leasePtr->logTail(4096)));
        }).attach(kj::mv(lease));
      },
      [ex, logPath = kj::mv(logPath)](kj::Exception&& e) {
        respondGrainError(*ex, 503, "The app could not be started",
                          kj::str(e.getDescription(), "\n\nLast lines of the app's log:\n",
                                  readLogTail(logPath, 4096)));
      }));
}

}  // namespace ss::shell
