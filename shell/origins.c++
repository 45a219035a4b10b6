#include "shell/origins.h"

#include <sodium.h>

#include <kj/debug.h>
#include <kj/encoding.h>
#include <kj/refcount.h>

#include "base/fd.h"
#include "base/limits.h"
#include "base/log.h"
#include "shell/api.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

constexpr uint64_t START_TOKEN_TTL_MS = 60'000;  // the iframe loads its start URL at once
constexpr uint64_t SWEEP_INTERVAL_MS = 5'000;

kj::String randomHex(size_t bytes) {
  auto buffer = kj::heapArray<kj::byte>(bytes);
  randombytes_buf(buffer.begin(), buffer.size());
  return kj::encodeHex(buffer);
}

bool isMutating(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "PROPFIND" &&
         method != "REPORT";
}

// Only a path on this origin: no scheme, no "//host", no backslash tricks.
kj::String safePath(kj::Maybe<kj::String> path) {
  KJ_IF_MAYBE(p, path) {
    if (p->startsWith("/") && !p->startsWith("//") && p->findFirst('\\') == nullptr &&
        p->findFirst('\r') == nullptr && p->findFirst('\n') == nullptr) {
      return kj::mv(*p);
    }
  }
  return kj::str("/");
}

kj::Maybe<kj::String> queryParam(std::string_view target, kj::StringPtr name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return nullptr;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    if (item.substr(0, eq) == std::string_view(name.begin(), name.size())) {
      auto value = item.substr(eq + 1);
      return percentDecode(kj::heapString(value.data(), value.size()), true);
    }
  }
  return nullptr;
}

}  // namespace

struct GrainOrigins::Session final: public kj::Refcounted {
  kj::String id;
  kj::String cookieToken;
  kj::String startToken;
  uint64_t startTokenExpires = 0;
  kj::String grainId;
  uint16_t port = 0;
  GrainIdentity identity;
  kj::String shellOrigin;
  kj::String basePath;
  uint64_t lastSeen = 0;
  bool ended = false;
  kj::Maybe<rpc::WebSession::Client> webSession;
  uint64_t generation = 0;
  kj::Array<kj::byte> tabId;
};

class GrainOrigins::PortHandler final: public http::Handler {
public:
  PortHandler(GrainOrigins& origins, uint16_t number): origins(origins), number(number) {}
  BodyPolicy bodyPolicy(const http::Request& request) override {
    return shouldStreamBody(request) ? BodyPolicy::STREAM : BodyPolicy::BUFFER;
  }
  void handle(http::Exchange& exchange) override {
    KJ_IF_MAYBE(port, origins.ports.find(number)) {
      origins.serve(**port, exchange);
    } else {
      respondGrainError(exchange, 403, "This grain is closed", "Open it again from Sandstorm.");
    }
  }

private:
  GrainOrigins& origins;
  uint16_t number;
};

struct GrainOrigins::Port {
  uint16_t number = 0;
  kj::String grainId;
  bool clearSiteData = false;
  uint64_t lastUsed = 0;
  kj::Own<PortHandler> handler;
  kj::Own<http::Server> server;
};

GrainOrigins::GrainOrigins(reactor::Reactor& reactor, sqlite3* db, GrainHost& host,
                           OriginsOptions options,
                           kj::Function<GrainSpec(kj::StringPtr grainId)> specFor)
    : reactor(reactor), db(db), host(host), options(kj::mv(options)),
      specFor(kj::mv(specFor)) {
  KJ_REQUIRE(this->options.portCount > 0 &&
             uint32_t(this->options.firstPort) + this->options.portCount <= 65536,
             "the grain port range does not fit in 1-65535");
  sweeper = sweepLoop().eagerlyEvaluate([](kj::Exception&& e) {
    SS_LOG(ERROR, "origins", "session sweep stopped", e.getDescription());
  });
}

GrainOrigins::~GrainOrigins() noexcept(false) {
  sweeper = nullptr;
  if (ports.size() > 0) ports.clear();  // (KJ 0.9.2 memsets a null table when empty)
}

void GrainOrigins::sweep() {
  uint64_t now = reactor.now();
  kj::Vector<kj::String> expired;
  for (auto& entry: sessions) {
    auto& s = *entry.value;
    if (now - s.lastSeen > options.sessionTtlMs) expired.add(kj::heapString(s.id));
    if (s.startToken.size() > 0 && now > s.startTokenExpires) {
      byStartToken.erase(s.startToken);
      s.startToken = kj::str();
    }
  }
  for (auto& id: expired) end(id, -1);
  kj::Vector<uint16_t> idle;
  for (auto& entry: ports) {
    bool used = false;
    for (auto& s: sessions) used = used || s.value->port == entry.key;
    if (!used && now - entry.value->lastUsed > options.sessionTtlMs) idle.add(entry.key);
  }
  for (auto number: idle) closePort(number);
}

kj::Promise<void> GrainOrigins::sweepLoop() {
  // A chain, not a re-assigned member: a continuation must never destroy its own promise.
  return reactor.timer().afterDelay(SWEEP_INTERVAL_MS * kj::MILLISECONDS).then([this]() {
    sweep();
    return sweepLoop();
  });
}

void GrainOrigins::closePort(uint16_t number) {
  KJ_IF_MAYBE(port, ports.find(number)) {
    SS_LOG(DEBUG, "origins", "port closed", number, (*port)->grainId);
    // The server stops accepting now; connections still open are closed with it.
    auto owned = kj::mv(*port);
    ports.erase(number);
    auto drained = owned->server->drain(0);
    drained.attach(kj::mv(owned)).detach([](kj::Exception&&) {});
  }
}

GrainOrigins::Port& GrainOrigins::portFor(kj::StringPtr grainId) {
  for (auto& entry: ports) {
    if (entry.value->grainId == grainId) return *entry.value;
  }
  // Candidates, best first: this grain's own port; ports never used; then the least recently
  // assigned ports of other grains that are not bound now (reusing one clears its site data).
  kj::Vector<uint16_t> candidates;
  kj::Vector<bool> reassign;
  {
    Statement s(db, "SELECT port FROM ports WHERE grain_id = ?", {grainId});
    while (s.next()) {
      candidates.add(uint16_t(s.integer(0)));
      reassign.add(false);
    }
  }
  kj::HashMap<uint16_t, bool> known;
  {
    Statement s(db, "SELECT port FROM ports");
    while (s.next()) known.insert(uint16_t(s.integer(0)), true);
  }
  for (uint32_t p = options.firstPort; p < uint32_t(options.firstPort) + options.portCount; p++) {
    if (known.find(uint16_t(p)) == nullptr) {
      candidates.add(uint16_t(p));
      reassign.add(false);
    }
  }
  {
    Statement s(db, "SELECT port FROM ports WHERE grain_id != ? ORDER BY assigned_at",
                {grainId});
    while (s.next()) {
      uint16_t p = uint16_t(s.integer(0));
      if (p < options.firstPort || p >= uint32_t(options.firstPort) + options.portCount) continue;
      candidates.add(p);
      reassign.add(true);
    }
  }
  for (size_t i = 0; i < candidates.size(); i++) {
    uint16_t number = candidates[i];
    if (ports.find(number) != nullptr) continue;  // bound for another grain right now
    kj::Maybe<AutoCloseFd> listener;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
      listener = listenTcp(options.listenAddress, number, limits::LISTEN_BACKLOG);
    })) {
      SS_LOG(WARNING, "origins", "grain port unavailable", number, e->getDescription());
      continue;  // another program holds it: try the next one
    }
    auto port = kj::heap<Port>();
    port->number = number;
    port->grainId = kj::heapString(grainId);
    port->clearSiteData = reassign[i];
    port->lastUsed = reactor.now();
    port->handler = kj::heap<PortHandler>(*this, number);
    port->server = kj::heap<http::Server>(reactor, *port->handler, options.http);
    port->server->listen(KJ_ASSERT_NONNULL(kj::mv(listener)));
    sqlExec(db, "INSERT INTO ports (port, grain_id, assigned_at) VALUES (?, ?, ?) "
                "ON CONFLICT(port) DO UPDATE SET grain_id = excluded.grain_id, "
                "assigned_at = excluded.assigned_at",
            {int64_t(number), grainId, unixNow()});
    SS_LOG(INFO, "origins", "grain port bound", number, grainId, port->clearSiteData);
    auto& ref = *port;
    ports.insert(number, kj::mv(port));
    return ref;
  }
  // Last resort: a port bound for another grain that nobody has open any more changes hands in
  // place (no rebind), with its site data cleared on the new grain's first response.
  for (auto& entry: ports) {
    bool live = false;
    for (auto& s: sessions) live = live || s.value->port == entry.key;
    if (live) continue;
    auto& port = *entry.value;
    SS_LOG(INFO, "origins", "grain port reassigned", port.number, port.grainId, grainId);
    port.grainId = kj::heapString(grainId);
    port.clearSiteData = true;
    port.lastUsed = reactor.now();
    sqlExec(db, "UPDATE ports SET grain_id = ?, assigned_at = ? WHERE port = ?",
            {grainId, unixNow(), int64_t(port.number)});
    return port;
  }
  throw ApiError(503, kj::str("all ", options.portCount, " grain ports (", options.firstPort, "-",
                              options.firstPort + options.portCount - 1,
                              ") are in use by open grains; close some, or widen the range"));
}

GrainOrigins::Opened GrainOrigins::open(kj::StringPtr grainId, GrainIdentity identity,
                                         kj::StringPtr hostName, kj::StringPtr shellOrigin,
                                         kj::StringPtr path) {
  auto& port = portFor(grainId);
  auto session = kj::refcounted<Session>();
  session->id = randomHex(16);
  session->cookieToken = randomHex(32);
  session->startToken = randomHex(32);
  session->startTokenExpires = reactor.now() + START_TOKEN_TTL_MS;
  session->grainId = kj::heapString(grainId);
  session->port = port.number;
  session->identity = kj::mv(identity);
  session->shellOrigin = kj::heapString(shellOrigin);
  if (options.wildcardHost.size() > 0) {
    // One host name per grain port under the wildcard, reached through the TLS proxy.
    // The proxy's port, if the shell is reached on a non-default one, applies to grains too.
    kj::StringPtr proxyPort = "";
    kj::StringPtr authority = shellOrigin;
    KJ_IF_MAYBE(scheme, authority.findFirst('/')) authority = authority.slice(*scheme + 2);
    if (!authority.startsWith("[")) {
      KJ_IF_MAYBE(colon, authority.findLast(':')) proxyPort = authority.slice(*colon);
    }
    session->basePath = kj::str("https://grain-", port.number, options.wildcardHost.slice(1),
                                proxyPort);
  } else {
    session->basePath = kj::str("http://", hostName, ":", port.number);
  }
  session->lastSeen = reactor.now();
  session->tabId = kj::heapArray<kj::byte>(16);
  randombytes_buf(session->tabId.begin(), session->tabId.size());
  port.lastUsed = reactor.now();

  Opened opened;
  opened.sessionId = kj::heapString(session->id);
  opened.url = kj::str(session->basePath, "/.sandstorm/start?t=", session->startToken,
                       "&path=", kj::encodeUriComponent(path));
  byStartToken.insert(kj::heapString(session->startToken), kj::heapString(session->id));
  byCookie.insert(kj::heapString(session->cookieToken), kj::heapString(session->id));
  auto key = kj::heapString(session->id);  // before the move: argument order is unspecified
  sessions.insert(kj::mv(key), kj::mv(session));
  onOpened(grainId);
  return opened;
}

bool GrainOrigins::heartbeat(kj::StringPtr sessionId, int64_t accountId) {
  KJ_IF_MAYBE(s, sessions.find(sessionId)) {
    if ((*s)->identity.accountId != accountId) return false;
    (*s)->lastSeen = reactor.now();
    KJ_IF_MAYBE(port, ports.find((*s)->port)) (*port)->lastUsed = reactor.now();
    return true;
  }
  return false;
}

void GrainOrigins::end(kj::StringPtr sessionId, int64_t accountId) {
  KJ_IF_MAYBE(s, sessions.find(sessionId)) {
    auto& session = **s;
    if (accountId >= 0 && session.identity.accountId != accountId) return;
    session.ended = true;
    byCookie.erase(session.cookieToken);
    if (session.startToken.size() > 0) byStartToken.erase(session.startToken);
    auto id = kj::heapString(session.id);
    sessions.erase(id);
  }
}

void GrainOrigins::endShare(int64_t shareId) {
  kj::Vector<kj::String> ids;
  for (auto& s: sessions) {
    if (s.value->identity.shareId == shareId) ids.add(kj::heapString(s.key));
  }
  for (auto& id: ids) end(id, -1);
}

void GrainOrigins::endGrain(kj::StringPtr grainId) {
  kj::Vector<kj::String> ids;
  for (auto& s: sessions) {
    if (s.value->grainId == grainId) ids.add(kj::heapString(s.key));
  }
  for (auto& id: ids) end(id, -1);
  kj::Vector<uint16_t> numbers;
  for (auto& p: ports) {
    if (p.value->grainId == grainId) numbers.add(p.key);
  }
  for (auto n: numbers) closePort(n);
}

kj::Promise<void> GrainOrigins::drain() {
  sweeper = nullptr;
  kj::Vector<kj::Promise<void>> drains;
  for (auto& entry: ports) {
    drains.add(entry.value->server->drain(limits::SHUTDOWN_DRAIN_MS));
  }
  return kj::joinPromises(drains.releaseAsArray()).then([this]() {
    if (ports.size() > 0) ports.clear();  // (KJ 0.9.2 memsets a null table when empty)
  });
}

size_t GrainOrigins::sessionCount() const { return sessions.size(); }
size_t GrainOrigins::boundPorts() const { return ports.size(); }

void GrainOrigins::startSession(Port& port, http::Exchange& exchange) {
  auto target = exchange.request().target;
  kj::Maybe<kj::Own<Session>> found;
  KJ_IF_MAYBE(token, queryParam(target, "t")) {
    KJ_IF_MAYBE(id, byStartToken.find(*token)) {
      KJ_IF_MAYBE(s, sessions.find(*id)) found = kj::addRef(**s);
      byStartToken.erase(*token);
    }
  }
  KJ_IF_MAYBE(s, found) {
    auto& session = **s;
    if (session.port != port.number || reactor.now() > session.startTokenExpires) {
      found = nullptr;
    }
  }
  auto* sessionPtr = found == nullptr ? nullptr : KJ_ASSERT_NONNULL(found).get();
  if (sessionPtr == nullptr) {
    respondGrainError(exchange, 403, "This link to the grain has expired",
                      "Open the grain again from Sandstorm.");
    return;
  }
  auto& session = *sessionPtr;
  session.startToken = kj::str();
  session.lastSeen = reactor.now();
  auto location = safePath(queryParam(target, "path"));
  auto cookie = kj::str("sandstorm-grain-", port.number, "=", session.cookieToken,
                        "; Path=/; HttpOnly; SameSite=Lax",
                        options.wildcardHost.size() > 0 ? "; Secure" : "");
  kj::Vector<http::HeaderOut> headers;
  headers.add(http::HeaderOut{"Location", std::string_view(location.begin(), location.size())});
  headers.add(http::HeaderOut{"Set-Cookie", std::string_view(cookie.begin(), cookie.size())});
  headers.add(http::HeaderOut{"Cache-Control", "no-store"});
  headers.add(http::HeaderOut{"Referrer-Policy", "no-referrer"});  // the token is in our URL
  if (port.clearSiteData) {
    // This origin served another grain before: its storage and cache must not leak into this
    // one. ("cookies" would clear the whole host's cookies, the shell's included: cookies
    // ignore ports, which is why grain cookies are filtered per port instead.)
    headers.add(http::HeaderOut{"Clear-Site-Data", "\"cache\", \"storage\""});
    port.clearSiteData = false;
  }
  exchange.respond(303, headers.asPtr(), "");
}

void GrainOrigins::serve(Port& port, http::Exchange& exchange) {
  auto& request = exchange.request();
  port.lastUsed = reactor.now();
  if (request.target.substr(0, 18) == "/.sandstorm/start?") {
    startSession(port, exchange);
    return;
  }
  kj::Own<Session> session;
  KJ_IF_MAYBE(token, cookieValue(request, kj::str("sandstorm-grain-", port.number))) {
    KJ_IF_MAYBE(id, byCookie.find(*token)) {
      KJ_IF_MAYBE(s, sessions.find(*id)) session = kj::addRef(**s);
    }
  }
  if (session.get() == nullptr || session->grainId != port.grainId) {
    respondGrainError(exchange, 403, "This grain session has ended",
                      "Open the grain again from Sandstorm (sessions end when the tab is closed "
                      "or when access is revoked).");
    return;
  }
  if (session->identity.readOnly && isMutating(request.method) && !request.websocketUpgrade) {
    respondGrainError(exchange, 403, "You can view this grain but not change it",
                      "The link you opened gives view-only access.");
    return;
  }
  session->lastSeen = reactor.now();

  GrainSpec spec;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { spec = specFor(session->grainId); })) {
    respondGrainError(exchange, 404, "This grain no longer exists", e->getDescription());
    return;
  }
  http::Exchange* ex = &exchange;
  Session* s = session.get();
  auto csp = kj::str("Content-Security-Policy: frame-ancestors ", s->shellOrigin,
                     "; connect-src 'self'\r\n");
  exchange.defer(callGrain(ex, s, spec, kj::mv(csp), true).attach(kj::mv(session)));
}

namespace {

// A request that may be sent again when the grain died under it: a safe method without a body
// (RFC 9110 §9.2.2), so a second delivery changes nothing even if the first reached the app.
bool retryable(const kj::Exception& e, const http::Request& request) {
  return e.getType() == kj::Exception::Type::DISCONNECTED && !request.websocketUpgrade &&
         (request.method == "GET" || request.method == "HEAD") &&
         request.framing == http::BodyFraming::NONE;
}

}  // namespace

kj::Promise<void> GrainOrigins::callGrain(http::Exchange* ex, Session* s, const GrainSpec& spec,
                                     kj::String csp, bool mayRetry) {
  auto logPath = kj::heapString(spec.logPath);
  auto grainId = kj::heapString(spec.grainId);
  return kj::evalNow([&]() { return host.acquire(spec); }).then(
      [this, ex, s, csp = kj::mv(csp), mayRetry, grainId = kj::mv(grainId)](
          kj::Own<GrainHost::Lease> lease) mutable -> kj::Promise<void> {
        GrainHost::Lease* leasePtr = lease.get();
        uint64_t generation = lease->generation();
        kj::Maybe<kj::Promise<rpc::WebSession::Client>> cached;
        KJ_IF_MAYBE(existing, s->webSession) {
          if (s->generation == generation) {
            cached = kj::Promise<rpc::WebSession::Client>(*existing);
          }
        }
        kj::Promise<rpc::WebSession::Client> client = nullptr;
        KJ_IF_MAYBE(c, cached) {
          client = kj::mv(*c);
        } else {
          auto fill = [s](rpc::UserInfo::Builder user) {
            user.setDisplayName(s->identity.displayName);
            if (s->identity.identityId.size() > 0) {
              user.setIdentityId(s->identity.identityId);
            }
            auto bits = user.initPermissions(s->identity.permissions.size());
            for (uint i = 0; i < s->identity.permissions.size(); i++) {
              bits.set(i, s->identity.permissions[i]);
            }
          };
          client = lease->newWebSession(kj::mv(fill), s->basePath, s->tabId)
              .then([s, generation](rpc::WebSession::Client fresh) {
            s->webSession = fresh;
            s->generation = generation;
            return fresh;
          });
        }
        auto headers = kj::str(csp);
        return client.then([this, ex, headers = kj::mv(headers)](
                               rpc::WebSession::Client c) mutable {
          GatewayOptions options;
          options.responseHeaders = kj::mv(headers);
          options.stripPlatformCookies = true;
          options.timer = &reactor.timer();
          options.responseTimeoutMs = this->options.grainResponseTimeoutMs;
          return callWebSession(*ex, kj::mv(c), kj::mv(options));
        }).catch_([this, ex, s, leasePtr, generation, mayRetry, grainId = kj::mv(grainId),
                   csp = kj::mv(csp)](kj::Exception&& e) mutable -> kj::Promise<void> {
          if (ex->responded()) kj::throwFatalException(kj::mv(e));
          if (mayRetry && retryable(e, ex->request())) {
            // The app or the bridge was killed (or crashed) and its exit is not seen yet: the
            // person should get the page from a fresh start, not an error page.
            SS_LOG(WARNING, "grain", "gone under a request; restarting it once", grainId,
                   e.getDescription());
            host.stopDeadRun(grainId, generation);
            GrainSpec again;
            KJ_IF_MAYBE(gone, kj::runCatchingExceptions([&]() { again = specFor(grainId); })) {
              respondGrainError(*ex, 404, "This grain no longer exists", gone->getDescription());
              return kj::READY_NOW;
            }
            return callGrain(ex, s, again, kj::mv(csp), false);
          }
          respondGrainError(*ex, 502, "The app failed to answer",
                            kj::str(e.getDescription(), "\n\nLast lines of the app's log:\n",
                                    leasePtr->logTail(4096)));
          return kj::READY_NOW;
        }).attach(kj::mv(lease));
      },
      [ex, logPath = kj::mv(logPath)](kj::Exception&& e) {
        respondGrainError(*ex, 503, "The app could not be started",
                          kj::str(e.getDescription(), "\n\nLast lines of the app's log:\n",
                                  readLogTail(logPath, 4096)));
      });
}

}  // namespace ss::shell
