// Grain origins: every open grain is served from its own origin, a port from a configurable
// range (default 7000-7099) bound while the grain has sessions and kept tied to that grain
// (table `ports`) so its origin, and the browser storage behind it, stay the same. When a port
// is handed to a different grain, the first response of the new session sends Clear-Site-Data
// for the origin's cache and storage.
//
// A grain session is created by the shell API (POST /api/grains/<id>/open, or a share link) for
// one person with fixed permissions. The iframe first loads /.sandstorm/start?t=<one-time token>
// on the grain's origin, which sets the session cookie `sandstorm-grain-<port>` (HttpOnly,
// SameSite=Lax) and redirects into the app. Every later request needs that cookie; without a
// live session: 403. Sessions end when the shell stops sending heartbeats (the tab closed), when
// the user leaves the grain, or at once when the share they came from is revoked.
//
// Cookies ignore ports, so the browser sends every grain's and the shell's cookies to every
// port: each port accepts only its own session cookie, and all "sandstorm-*" cookies are
// stripped before the request reaches the app.
#pragma once

#include <sqlite3.h>

#include <kj/function.h>
#include <kj/map.h>

#include "base/limits.h"
#include "http/server.h"
#include "reactor/reactor.h"
#include "shell/grain-gateway.h"
#include "shell/grain-host.h"

namespace ss::shell {

struct GrainIdentity {
  kj::String displayName;       // "Anonymous" for anonymous visitors
  kj::Array<kj::byte> identityId;  // stable per account (X-Sandstorm-User-Id); empty: anonymous
  kj::Array<bool> permissions;  // by the app's permission index
  bool readOnly = false;        // apps without permissions, "can view": no mutating methods
  kj::String role;              // "owner", "can view"...: shown in the UI
  int64_t accountId = 0;        // the shell user it belongs to (0: anonymous)
  int64_t shareId = 0;          // the share link it came from (0: the owner's own)
};

struct OriginsOptions {
  kj::String listenAddress = kj::str("127.0.0.1");
  uint16_t firstPort = 7000;
  uint16_t portCount = 100;
  uint64_t sessionTtlMs = 60'000;  // without a heartbeat or request for this long, it ends
  uint64_t grainResponseTimeoutMs = limits::GRAIN_RESPONSE_TIMEOUT_MS;  // then 504
  http::ServerOptions http;        // each grain port's HTTP limits (send timeout...)
  kj::String wildcardHost;
  // "*.example.com": behind a TLS proxy (docs/nginx-example.conf), grains are served at
  // https://grain-<port>.example.com/ instead of http://<shell host>:<port>/. Empty: ports mode.
};

class GrainOrigins {
public:
  GrainOrigins(reactor::Reactor& reactor, sqlite3* db, GrainHost& host, OriginsOptions options,
               kj::Function<GrainSpec(kj::StringPtr grainId)> specFor);
  ~GrainOrigins() noexcept(false);
  KJ_DISALLOW_COPY(GrainOrigins);

  struct Opened {
    kj::String url;        // the iframe's src
    kj::String sessionId;  // for heartbeats
  };
  Opened open(kj::StringPtr grainId, GrainIdentity identity, kj::StringPtr hostName,
              kj::StringPtr shellOrigin, kj::StringPtr path = "/");
  // Throws ApiError 503 when every port in the range is held by grains with live sessions.

  bool heartbeat(kj::StringPtr sessionId, int64_t accountId);
  void end(kj::StringPtr sessionId, int64_t accountId);
  void endShare(int64_t shareId);        // a revoked link: its sessions end now
  void endGrain(kj::StringPtr grainId);  // trashed, deleted or upgraded

  kj::Promise<void> drain();
  // Shutdown: closes every grain origin (in-flight requests get the server's grace period).

  size_t sessionCount() const;
  size_t boundPorts() const;

  kj::Function<void(kj::StringPtr grainId)> onOpened = [](kj::StringPtr) {};

private:
  struct Session;
  struct Port;
  class PortHandler;
  void sweep();
  kj::Promise<void> sweepLoop();
  Port& portFor(kj::StringPtr grainId);
  void serve(Port& port, http::Exchange& exchange);
  void startSession(Port& port, http::Exchange& exchange);
  kj::Promise<void> callGrain(http::Exchange* ex, Session* s, const GrainSpec& spec,
                              kj::String csp, bool mayRetry);
  // Acquires the grain and forwards the request; a safe request whose grain died under it is
  // sent once more to a fresh start (mayRetry).
  void closePort(uint16_t number);

  reactor::Reactor& reactor;
  sqlite3* db;
  GrainHost& host;
  OriginsOptions options;
  kj::Function<GrainSpec(kj::StringPtr grainId)> specFor;
  kj::HashMap<kj::String, kj::Own<Session>> sessions;  // by session id
  kj::HashMap<kj::String, kj::String> byCookie;        // cookie token -> session id
  kj::HashMap<kj::String, kj::String> byStartToken;    // one-time start token -> session id
  kj::HashMap<uint16_t, kj::Own<Port>> ports;          // bound ports
  kj::Promise<void> sweeper = nullptr;
};

}  // namespace ss::shell
