#include "rpc/bridge/web-session.h"

#include <string.h>

#include <kj/debug.h>

#include "rpc/bridge/async-fd.h"
#include "rpc/bridge/exchange.h"
#include "rpc/bridge/websocket.h"

namespace ss::bridge {

using rpc::WebSession;

struct WebSessionImpl::Call {
  kj::StringPtr method;
  kj::StringPtr path;
  WebSession::Context::Reader context;
  bool sendsBody = false;                 // inline body (even empty) when no requestBody pipe
  kj::ArrayPtr<const kj::byte> inlineBody;
  kj::Vector<HeaderField> defaults;       // added unless rawHeaders has the name
  bool isHead = false;
  kj::String lockToken;                   // UNLOCK's header value, owned here

  void addDefault(kj::StringPtr name, kj::StringPtr value) {
    if (value.size() > 0) defaults.add(HeaderField{kj::heapString(name), kj::heapString(value)});
  }
  template <typename Content>
  void setContent(Content content) {
    sendsBody = true;
    inlineBody = content.getContent();
    addDefault("Content-Type", content.getMimeType());
    addDefault("Content-Encoding", content.getEncoding());
  }
  void setXml(kj::StringPtr xml) {
    sendsBody = xml.size() > 0;
    inlineBody = xml.asBytes();
    if (sendsBody) addDefault("Content-Type", "application/xml; charset=utf-8");
  }
};

namespace {

kj::Own<WebSessionImpl::Call> newCall(kj::StringPtr method, kj::StringPtr path,
                                      WebSession::Context::Reader context) {
  auto call = kj::heap<WebSessionImpl::Call>();
  call->method = method;
  call->path = path;
  call->context = context;
  return call;
}

void setETag(WebSession::ETag::Builder out, kj::StringPtr value) {
  bool weak = value.startsWith("W/");
  if (weak) value = value.slice(2);
  if (value.size() >= 2 && value[0] == '"' && value[value.size() - 1] == '"') {
    out.setValue(kj::heapString(value.slice(1, value.size() - 1)));
  } else {
    out.setValue(value);
  }
  out.setWeak(weak);
}

kj::String bodyText(ExchangeResult& r) {
  // A copy: the body is not NUL-terminated, and a StringPtr(ptr, size) requires ptr[size] == 0
  // (ASan caught the read past the end).
  return kj::heapString(reinterpret_cast<const char*>(r.inlineBody.begin()), r.inlineBody.size());
}

void ownError(WebSession::Response::Builder out, uint16_t status, kj::StringPtr message) {
  out.setRawStatus(status);
  auto headers = out.initRawHeaders(1);
  headers[0].setName("Content-Type");
  headers[0].setValue("text/plain; charset=utf-8");
  out.initServerError().setNonHtmlBody(message);
}

void fillContent(ExchangeResult& r, WebSession::Response::Builder out) {
  auto& head = r.head;
  auto content = out.initContent();
  content.setStatusCode(head.status);
  KJ_IF_MAYBE(v, head.find("content-type")) { content.setMimeType(*v); }
  KJ_IF_MAYBE(v, head.find("content-encoding")) { content.setEncoding(*v); }
  KJ_IF_MAYBE(v, head.find("content-language")) { content.setLanguage(*v); }
  KJ_IF_MAYBE(v, head.find("etag")) { setETag(content.initETag(), *v); }
  KJ_IF_MAYBE(v, head.find("content-disposition")) {
    // Sandstorm's field holds just the filename of an attachment; the full header is in
    // rawHeaders for callers that want it.
    if (startsWithIgnoreCase(*v, "attachment")) {
      auto lowered = kj::heapString(*v);
      for (char& c : lowered) c = (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
      kj::String name;
      const char* found = strstr(lowered.cStr(), "filename=");
      if (found != nullptr) {
        auto rest = v->slice(found - lowered.cStr() + 9);
        size_t end = rest.findFirst(';').orDefault(rest.size());
        name = kj::heapString(rest.slice(0, end).begin(), end);
      } else {
        name = kj::heapString("");
      }
      if (name.size() >= 2 && name[0] == '"' && name[name.size() - 1] == '"') {
        name = kj::heapString(name.slice(1, name.size() - 1).begin(), name.size() - 2);
      }
      content.getDisposition().setDownload(name);
    }
  }
  content.setBodyLength(r.bodyLength);
  KJ_IF_MAYBE(pipe, r.pipe) {
    content.getBody().setPipe(kj::mv(*pipe));
  } else {
    content.getBody().setBytes(r.inlineBody);
  }
}

}  // namespace

void fillResponse(ExchangeResult& r, WebSession::Response::Builder out) {
  switch (r.kind) {
    case ExchangeResult::PORT_NOT_OPEN: return ownError(out, 503, r.message);
    case ExchangeResult::BAD_RESPONSE: return ownError(out, 502, r.message);
    case ExchangeResult::HEAD_TIMEOUT: return ownError(out, 504, r.message);
    case ExchangeResult::RESPONSE: break;
  }
  auto& head = r.head;
  uint16_t status = head.status;
  out.setRawStatus(status);
  size_t kept = 0;
  for (auto& h : head.headers) kept += !head.isHopByHop(h.name);
  auto raw = out.initRawHeaders(kept);
  size_t i = 0;
  for (auto& h : head.headers) {
    if (head.isHopByHop(h.name)) continue;
    raw[i].setName(h.name);
    raw[i].setValue(h.value);
    ++i;
  }

  bool piped = r.pipe != nullptr;
  bool hasBody = piped || r.inlineBody.size() > 0;
  kj::Maybe<kj::StringPtr> etag = head.find("etag");
  if (status == 204 || status == 205) {
    auto noContent = out.initNoContent();
    noContent.setShouldResetForm(status == 205);
    KJ_IF_MAYBE(e, etag) { setETag(noContent.initETag(), *e); }
  } else if (status == 304 || (status == 412 && !hasBody)) {
    auto failed = out.initPreconditionFailed();
    KJ_IF_MAYBE(e, etag) { setETag(failed.initMatchingETag(), *e); }
  } else if ((status == 301 || status == 302 || status == 303 || status == 307 ||
              status == 308) && !hasBody) {
    auto redirect = out.initRedirect();
    redirect.setIsPermanent(status == 301 || status == 308);
    redirect.setSwitchToGet(status == 301 || status == 302 || status == 303);
    KJ_IF_MAYBE(l, head.find("location")) { redirect.setLocation(*l); }
  } else if (status >= 400 && status <= 599 && !piped) {
    bool html = false;
    KJ_IF_MAYBE(t, head.find("content-type")) { html = startsWithIgnoreCase(*t, "text/html"); }
    if (status < 500) {
      auto e = out.initClientError();
      e.setStatusCode(status);
      if (html) e.setDescriptionHtml(bodyText(r)); else if (hasBody) e.setNonHtmlBody(bodyText(r));
    } else {
      auto e = out.initServerError();
      if (html) e.setDescriptionHtml(bodyText(r)); else if (hasBody) e.setNonHtmlBody(bodyText(r));
    }
  } else {
    fillContent(r, out);
  }
}

kj::Promise<void> WebSessionImpl::relay(kj::Own<Call> call,
                                        WebSession::Response::Builder results) {
  auto context = call->context;
  kj::Promise<kj::Maybe<kj::AutoCloseFd>> pipe = kj::Maybe<kj::AutoCloseFd>(nullptr);
  if (context.hasRequestBody()) {
    pipe = context.getRequestBody().getFd().then([](kj::Maybe<int> fd) {
      KJ_IF_MAYBE(f, fd) { return kj::Maybe<kj::AutoCloseFd>(dupReceivedFd(*f)); }
      KJ_FAIL_REQUIRE("Context.requestBody carries no file descriptor");
    });
  }
  return pipe.then([this, call = kj::mv(call), results](
                       kj::Maybe<kj::AutoCloseFd> fd) mutable {
    auto callContext = call->context;
    BodyHeader body;
    if (fd != nullptr) {
      int64_t length = callContext.getRequestBodyLength();
      body = length >= 0 ? BodyHeader{BodyHeader::LENGTH, uint64_t(length)}
                         : BodyHeader{BodyHeader::CHUNKED, 0};
    } else if (call->sendsBody) {
      body = BodyHeader{BodyHeader::LENGTH, call->inlineBody.size()};
    }
    auto head = buildRequestHead(call->method, call->path, callContext, headers, call->defaults,
                                 body);
    ExchangeRequest request;
    size_t inlineSize = fd == nullptr ? call->inlineBody.size() : 0;
    request.headAndBody = kj::heapArray<kj::byte>(head.size() + inlineSize);
    memcpy(request.headAndBody.begin(), head.begin(), head.size());
    if (inlineSize > 0) {
      memcpy(request.headAndBody.begin() + head.size(), call->inlineBody.begin(), inlineSize);
    }
    request.bodyPipe = kj::mv(fd);
    request.bodyPipeLength = callContext.getRequestBodyLength();
    request.isHead = call->isHead;
    return performExchange(bridge.connector, bridge.background, kj::mv(request))
        .then([results](ExchangeResult r) mutable { fillResponse(r, results); });
  });
}

kj::Promise<void> WebSessionImpl::get(GetContext context) {
  auto params = context.getParams();
  bool head = params.getIgnoreBody();
  auto call = newCall(head ? "HEAD" : "GET", params.getPath(), params.getContext());
  call->isHead = head;
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::post(PostContext context) {
  auto params = context.getParams();
  auto call = newCall("POST", params.getPath(), params.getContext());
  call->setContent(params.getContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::put(PutContext context) {
  auto params = context.getParams();
  auto call = newCall("PUT", params.getPath(), params.getContext());
  call->setContent(params.getContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::patch(PatchContext context) {
  auto params = context.getParams();
  auto call = newCall("PATCH", params.getPath(), params.getContext());
  call->setContent(params.getContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::delete_(DeleteContext context) {
  auto params = context.getParams();
  return relay(newCall("DELETE", params.getPath(), params.getContext()), context.getResults());
}

kj::Promise<void> WebSessionImpl::request(RequestContext context) {
  auto params = context.getParams();
  auto call = newCall(params.getMethod(), params.getPath(), params.getContext());
  if (params.hasContent()) call->setContent(params.getContent());
  call->isHead = params.getMethod() == "HEAD";
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::options(OptionsContext context) {
  // Sandstorm's OPTIONS result holds only the DAV classes, not a response: callers that need
  // the app's real answer (CORS preflights) use request("OPTIONS", ...) instead.
  auto params = context.getParams();
  auto call = newCall("OPTIONS", params.getPath(), params.getContext());
  auto head = buildRequestHead(call->method, call->path, call->context, headers, nullptr, {});
  ExchangeRequest request;
  request.headAndBody = kj::heapArray<kj::byte>(head.asBytes());
  return performExchange(bridge.connector, bridge.background, kj::mv(request))
      .then([context](ExchangeResult r) mutable {
        auto out = context.getResults();
        if (r.kind != ExchangeResult::RESPONSE) return;
        kj::Vector<kj::String> extensions;
        KJ_IF_MAYBE(dav, r.head.find("dav")) {
          kj::Vector<kj::StringPtr> tokens;
          kj::StringPtr rest = *dav;
          while (rest.size() > 0) {
            size_t comma = rest.findFirst(',').orDefault(rest.size());
            auto token = kj::str(rest.slice(0, comma));
            size_t b = 0, e = token.size();
            while (b < e && token[b] == ' ') ++b;
            while (e > b && token[e - 1] == ' ') --e;
            auto t = kj::heapString(token.slice(b, e).begin(), e - b);
            if (t == "1") out.setDavClass1(true);
            else if (t == "2") out.setDavClass2(true);
            else if (t == "3") out.setDavClass3(true);
            else if (t.size() > 0) extensions.add(kj::mv(t));
            rest = comma < rest.size() ? rest.slice(comma + 1) : kj::StringPtr("");
          }
        }
        auto list = out.initDavExtensions(extensions.size());
        for (size_t i = 0; i < extensions.size(); ++i) list.set(i, extensions[i]);
      });
}

kj::Promise<void> WebSessionImpl::propfind(PropfindContext context) {
  auto params = context.getParams();
  auto call = newCall("PROPFIND", params.getPath(), params.getContext());
  call->setXml(params.getXmlContent());
  uint8_t depth = params.getDepth();
  call->addDefault("Depth", depth == 0 ? "0" : depth == 1 ? "1" : "infinity");
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::proppatch(ProppatchContext context) {
  auto params = context.getParams();
  auto call = newCall("PROPPATCH", params.getPath(), params.getContext());
  call->setXml(params.getXmlContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::mkcol(MkcolContext context) {
  auto params = context.getParams();
  auto call = newCall("MKCOL", params.getPath(), params.getContext());
  if (params.hasContent()) call->setContent(params.getContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::copy(CopyContext context) {
  auto params = context.getParams();
  auto call = newCall("COPY", params.getPath(), params.getContext());
  call->addDefault("Destination", params.getDestination());
  call->addDefault("Overwrite", params.getNoOverwrite() ? "F" : "T");
  call->addDefault("Depth", params.getShallow() ? "0" : "infinity");
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::move(MoveContext context) {
  auto params = context.getParams();
  auto call = newCall("MOVE", params.getPath(), params.getContext());
  call->addDefault("Destination", params.getDestination());
  call->addDefault("Overwrite", params.getNoOverwrite() ? "F" : "T");
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::lock(LockContext context) {
  auto params = context.getParams();
  auto call = newCall("LOCK", params.getPath(), params.getContext());
  call->setXml(params.getXmlContent());
  call->addDefault("Depth", params.getShallow() ? "0" : "infinity");
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::unlock(UnlockContext context) {
  auto params = context.getParams();
  auto call = newCall("UNLOCK", params.getPath(), params.getContext());
  call->lockToken = kj::str("<", params.getLockToken(), ">");
  call->addDefault("Lock-Token", call->lockToken);
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::acl(AclContext context) {
  auto params = context.getParams();
  auto call = newCall("ACL", params.getPath(), params.getContext());
  call->setXml(params.getXmlContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::report(ReportContext context) {
  auto params = context.getParams();
  auto call = newCall("REPORT", params.getPath(), params.getContext());
  if (params.hasContent()) call->setContent(params.getContent());
  return relay(kj::mv(call), context.getResults());
}

kj::Promise<void> WebSessionImpl::openWebSocket(OpenWebSocketContext context) {
  auto params = context.getParams();
  KJ_REQUIRE(params.hasUpstream() && params.hasDownstream(),
             "openWebSocket needs the upstream and downstream pipes (WebSocketStream is not "
             "supported by this bridge)");
  auto up = params.getUpstream().getFd();
  auto down = params.getDownstream().getFd();
  return up.then([down = kj::mv(down)](kj::Maybe<int> upFd) mutable {
             return down.then([upFd](kj::Maybe<int> downFd) {
               KJ_IF_MAYBE(u, upFd) {
                 KJ_IF_MAYBE(d, downFd) {
                   return kj::tuple(dupReceivedFd(*u), dupReceivedFd(*d));
                 }
               }
               KJ_FAIL_REQUIRE("openWebSocket's pipes carry no file descriptors");
             });
           })
      .then([this, context](kj::Tuple<kj::AutoCloseFd, kj::AutoCloseFd> fds) mutable {
        auto callParams = context.getParams();
        auto key = newWebSocketKey();
        kj::Vector<HeaderField> defaults;
        auto add = [&defaults](kj::StringPtr name, kj::String value) {
          defaults.add(HeaderField{kj::heapString(name), kj::mv(value)});
        };
        add("Upgrade", kj::str("websocket"));
        add("Connection", kj::str("Upgrade"));
        add("Sec-WebSocket-Key", kj::str(key));
        add("Sec-WebSocket-Version", kj::str("13"));
        if (callParams.getProtocol().size() > 0) {
          add("Sec-WebSocket-Protocol", kj::strArray(callParams.getProtocol(), ", "));
        }
        WebSocketRequest request;
        request.head = buildRequestHead("GET", callParams.getPath(), callParams.getContext(),
                                        headers, defaults, {});
        request.key = kj::mv(key);
        request.upstream = kj::mv(kj::get<0>(fds));
        request.downstream = kj::mv(kj::get<1>(fds));
        return ss::bridge::openWebSocket(bridge.connector, bridge.background, kj::mv(request));
      })
      .then([context](kj::Array<kj::String> protocols) mutable {
        auto list = context.getResults().initProtocol(protocols.size());
        for (size_t i = 0; i < protocols.size(); ++i) list.set(i, protocols[i]);
      });
}

}  // namespace ss::bridge
