// The shell's JSON API (shell/API.md): one request's context, and the interface the modules
// (accounts, apps, grains, sharing, admin) implement. Shell routes /api/* to each module in
// turn until one handles it; cross-site and CSRF checks run before any module sees a
// mutating request.
#pragma once

#include <stdint.h>

#include <initializer_list>

#include <kj/async.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "http/server.h"
#include "shell/json.h"

namespace ss::shell {

struct User {
  int64_t id = 0;
  kj::String name;
  bool isAdmin = false;
  kj::String csrf;  // this login session's CSRF token
};

class ApiContext {
public:
  ApiContext(http::Exchange& exchange, kj::Maybe<User> user);

  http::Exchange& exchange;
  const http::Request& request() const { return exchange.request(); }
  kj::StringPtr method() const { return methodText; }

  bool route(kj::StringPtr method, std::initializer_list<const char*> pattern);
  // True if the method matches and the path after /api/ has exactly these segments, where "*"
  // matches any one segment (captured in arg(0), arg(1)... in order).
  kj::StringPtr arg(size_t i) const { return args[i]; }
  kj::Maybe<kj::String> query(kj::StringPtr name) const;  // percent-decoded

  kj::Maybe<const User&> user() const;
  const User& requireUser() const;   // else ApiError 401
  const User& requireAdmin() const;  // else 401/403

  const JsonBody& json();
  // The request body as a JSON object (parsed once). ApiError 400 when it is not one.

  void respondJson(uint16_t status, kj::StringPtr json);
  void respondText(uint16_t status, kj::StringPtr text);
  void respondNoContent();
  void respondError(uint16_t status, kj::StringPtr message);
  // {"error": message}. Inside deferred work use this (ApiError is only caught synchronously).
  void addHeader(kj::String name, kj::String value);
  // Extra headers for the response (Set-Cookie...), sent by the respond*() calls.

  void defer(kj::Promise<void> work);
  // Answers later (exchange.defer); this context stays alive until `work` completes. Throwing
  // ApiError inside `work` answers with its status and message, like a synchronous throw.

  kj::String shellOrigin() const;
  // "http://host:port" as the browser sees the shell (Host header; https when the request came
  // through a TLS proxy that said so with X-Forwarded-Proto from loopback).
  kj::String hostName() const;  // Host without the port
  bool secure() const;          // the browser talks https

  kj::Maybe<kj::Own<ApiContext>> self;  // set by Shell; taken by defer()

private:
  kj::String methodText;
  kj::Vector<kj::String> segments;
  kj::Vector<kj::StringPtr> args;
  kj::String rawQuery;
  kj::Maybe<User> currentUser;
  kj::Maybe<kj::Own<JsonBody>> body;
  kj::Vector<kj::String> extraHeaderStorage;
  kj::Vector<http::HeaderOut> extraHeaders;
};

class ApiModule {
public:
  virtual ~ApiModule() noexcept(false) = default;
  virtual bool handleApi(ApiContext& context) = 0;
  // Answers the request and returns true if it is one of this module's routes (it may
  // context.exchange.defer() the answer; the context then lives until that completes).
  // Throwing ApiError answers with its status and message.
  virtual http::Handler::BodyPolicy bodyPolicy(const http::Request& request) {
    return http::Handler::BodyPolicy::BUFFER;
  }
};

kj::String percentDecode(kj::StringPtr text, bool plusIsSpace = false);
kj::Maybe<kj::String> cookieValue(const http::Request& request, kj::StringPtr name);
// The value of cookie `name` from the Cookie header(s), or null.

}  // namespace ss::shell
