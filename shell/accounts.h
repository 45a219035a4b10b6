// Accounts: the first administrator (one-time setup token), invites, argon2id passwords, login
// sessions in an HttpOnly cookie with a CSRF token each, rate-limited logins, log out (here or
// everywhere). Endpoints: shell/API.md "Session and accounts".
#pragma once

#include <sqlite3.h>

#include <kj/map.h>

#include "shell/api.h"

namespace ss::shell {

constexpr char SESSION_COOKIE[] = "sandstorm-session";

class Accounts final: public ApiModule {
public:
  explicit Accounts(sqlite3* db);

  kj::Maybe<User> authenticate(const http::Request& request);
  // The user whose valid, unexpired session cookie this request carries, or null.

  bool needsSetup();
  // No user exists yet.

  kj::String createAdminToken();
  // A new one-time setup token (valid 24 h; only its hash is stored). Printed by `sandstorm
  // start` on first start and by `sandstorm admin-token`.

  bool handleApi(ApiContext& context) override;

  sqlite3* database() const { return db; }  // for /api/health (shell/health.h)

private:
  void logIn(ApiContext& context, int64_t userId);
  void handleLogin(ApiContext& context);
  kj::Maybe<uint64_t> lockedForMs(kj::StringPtr key, uint64_t nowMs);
  void recordFailure(kj::StringPtr key, uint64_t nowMs);
  bool verifyPassword(kj::Maybe<kj::StringPtr> storedHash, kj::StringPtr password);

  sqlite3* db;
  struct Attempts {
    uint32_t failures = 0;
    uint64_t windowStartMs = 0;  // monotonic: wall-clock jumps neither lock out nor unlock
  };
  kj::HashMap<kj::String, Attempts> loginAttempts;
  // Failed logins per window, keyed "name:<name, lower case>" and "addr:<client address>".
  uint64_t lastPruneMs = 0;
  kj::String dummyHash;
  // A password hash verified against when the name does not exist, so that a login's timing
  // does not tell which names exist. Made on first need (it costs one argon2id hash).
};

}  // namespace ss::shell
