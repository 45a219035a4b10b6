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

private:
  sqlite3* db;
  struct Attempts {
    uint32_t failures = 0;
    int64_t windowStart = 0;
  };
  kj::HashMap<kj::String, Attempts> loginAttempts;  // per user name and per client address
};

}  // namespace ss::shell
