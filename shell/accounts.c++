#include "shell/accounts.h"

#include <sodium.h>

#include <kj/debug.h>
#include <kj/encoding.h>

#include "base/log.h"
#include "config.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

constexpr int64_t SESSION_SECONDS = 30 * 86400;
constexpr int64_t ADMIN_TOKEN_SECONDS = 86400;
constexpr int64_t INVITE_SECONDS = 7 * 86400;
constexpr uint32_t MAX_LOGIN_FAILURES = 5;       // per name, per window
constexpr int64_t LOGIN_WINDOW_SECONDS = 15 * 60;
constexpr size_t MIN_PASSWORD = 10;
constexpr size_t MAX_PASSWORD = 1024;

kj::String randomToken(size_t bytes) {
  auto raw = kj::heapArray<kj::byte>(bytes);
  randombytes_buf(raw.begin(), raw.size());
  return kj::encodeHex(raw);
}

kj::Array<kj::byte> tokenHash(kj::StringPtr token) {
  auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.begin(), token.asBytes().begin(), token.size());
  return out;
}

void checkName(kj::StringPtr name) {
  bool ok = name.size() >= 1 && name.size() <= 64;
  for (char c: name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    throw ApiError(400, kj::str("a user name is 1 to 64 letters, digits, dots, dashes or "
                                "underscores"));
  }
}

kj::String hashPassword(kj::StringPtr password) {
  if (password.size() < MIN_PASSWORD) {
    throw ApiError(400, kj::str("the password must be at least ", MIN_PASSWORD, " characters"));
  }
  if (password.size() > MAX_PASSWORD) throw ApiError(400, kj::str("the password is too long"));
  char out[crypto_pwhash_STRBYTES];
  // argon2id, libsodium's interactive cost (~64 MiB, tens of ms): runs on the daemon's thread.
  if (crypto_pwhash_str(out, password.cStr(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    KJ_FAIL_REQUIRE("out of memory hashing a password");
  }
  return kj::str(out);
}

kj::String userJson(const User& user) {
  JsonWriter w;
  w.beginObject()
      .field("id", user.id)
      .field("name", user.name)
      .field("isAdmin", user.isAdmin)
      .endObject();
  return w.finish();
}

}  // namespace

Accounts::Accounts(sqlite3* db): db(db) {
  sqlExec(db, "DELETE FROM sessions WHERE expires_at < ?", {unixNow()});
}

bool Accounts::needsSetup() { return sqlInteger(db, "SELECT COUNT(*) FROM users") == 0; }

kj::String Accounts::createAdminToken() {
  auto token = randomToken(24);
  auto hash = tokenHash(token);
  sqlExec(db, "INSERT INTO admin_tokens (token_hash, expires_at) VALUES (?, ?)",
          {hash.asPtr(), unixNow() + ADMIN_TOKEN_SECONDS});
  return token;
}

kj::Maybe<User> Accounts::authenticate(const http::Request& request) {
  KJ_IF_MAYBE(token, cookieValue(request, SESSION_COOKIE)) {
    if (token->size() != 64) return nullptr;
    auto hash = tokenHash(*token);
    Statement s(db, "SELECT u.id, u.name, u.is_admin, s.csrf FROM sessions s "
                    "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
                {hash.asPtr(), unixNow()});
    if (s.next()) {
      User user;
      user.id = s.integer(0);
      user.name = s.text(1);
      user.isAdmin = s.integer(2) != 0;
      user.csrf = s.text(3);
      return kj::mv(user);
    }
  }
  return nullptr;
}

namespace {

// Starts a login session: the cookie goes out with the response.
void logIn(sqlite3* db, ApiContext& context, int64_t userId) {
  auto token = randomToken(32);
  auto hash = tokenHash(token);
  auto csrf = randomToken(16);
  int64_t now = unixNow();
  sqlExec(db, "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) "
              "VALUES (?, ?, ?, ?, ?)", {hash.asPtr(), userId, csrf, now, now + SESSION_SECONDS});
  context.addHeader(kj::str("Set-Cookie"),
                    kj::str(SESSION_COOKIE, "=", token, "; Path=/; HttpOnly; SameSite=Lax; "
                            "Max-Age=", SESSION_SECONDS, context.secure() ? "; Secure" : ""));
}

User loadUser(sqlite3* db, int64_t id) {
  Statement s(db, "SELECT id, name, is_admin FROM users WHERE id = ?", {id});
  KJ_REQUIRE(s.next());
  User user;
  user.id = s.integer(0);
  user.name = s.text(1);
  user.isAdmin = s.integer(2) != 0;
  return user;
}

void clearCookie(ApiContext& context) {
  context.addHeader(kj::str("Set-Cookie"),
                    kj::str(SESSION_COOKIE, "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
                            context.secure() ? "; Secure" : ""));
}

}  // namespace

bool Accounts::handleApi(ApiContext& context) {
  if (context.route("GET", {"session"})) {
    JsonWriter w;
    w.beginObject();
    KJ_IF_MAYBE(user, context.user()) {
      w.key("user").raw(userJson(*user)).field("csrf", user->csrf);
    } else {
      w.nullField("user").nullField("csrf");
    }
    w.field("setupNeeded", needsSetup()).field("version", SANDSTORM_VERSION).endObject();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("POST", {"setup"})) {
    auto& body = context.json();
    auto token = body.string("token");
    auto name = body.string("name");
    auto password = body.string("password");
    checkName(name);
    auto hash = hashPassword(password);
    int64_t id = sqlTransaction(db, [&]() -> int64_t {
      if (!needsSetup()) {
        throw ApiError(409, kj::str("this server is already set up; log in instead"));
      }
      auto tokenHashed = tokenHash(token);
      if (sqlInteger(db, "SELECT COUNT(*) FROM admin_tokens WHERE token_hash = ? AND "
                         "expires_at > ?", {tokenHashed.asPtr(), unixNow()}) == 0) {
        throw ApiError(403, kj::str("this setup link is not valid (it expires after 24 hours); "
                                    "run `sandstorm admin-token` for a new one"));
      }
      sqlExec(db, "DELETE FROM admin_tokens");
      sqlExec(db, "INSERT INTO users (name, password_hash, is_admin, created_at) "
                  "VALUES (?, ?, 1, ?)", {name, hash, unixNow()});
      return sqlLastInsertId(db);
    });
    SS_LOG(INFO, "accounts", "administrator created", name);
    logIn(db, context, id);
    context.respondJson(200, kj::str("{\"user\":", userJson(loadUser(db, id)), "}\n"));
    return true;
  }
  if (context.route("POST", {"login"})) {
    auto& body = context.json();
    auto name = body.string("name");
    auto password = body.string("password");
    int64_t now = unixNow();
    auto key = kj::str(name);
    for (auto& c: key) c = tolower(c);
    auto& attempts = loginAttempts.findOrCreate(key, [&]() {
      return decltype(loginAttempts)::Entry{kj::heapString(key), Attempts{}};
    });
    if (now - attempts.windowStart > LOGIN_WINDOW_SECONDS) attempts = Attempts{0, now};
    if (attempts.failures >= MAX_LOGIN_FAILURES) {
      int64_t wait = attempts.windowStart + LOGIN_WINDOW_SECONDS - now;
      context.addHeader(kj::str("Retry-After"), kj::str(wait));
      throw ApiError(429, kj::str("too many failed logins for this name; try again in ",
                                  (wait + 59) / 60, " minutes"));
    }
    Statement s(db, "SELECT id, password_hash FROM users WHERE name = ?", {name});
    bool ok = false;
    int64_t id = 0;
    if (s.next() && password.size() <= MAX_PASSWORD) {
      id = s.integer(0);
      auto stored = s.text(1);
      ok = crypto_pwhash_str_verify(stored.cStr(), password.cStr(), password.size()) == 0;
    }
    if (!ok) {
      attempts.failures++;
      throw ApiError(401, kj::str("wrong user name or password"));
    }
    loginAttempts.erase(key);
    logIn(db, context, id);
    context.respondJson(200, kj::str("{\"user\":", userJson(loadUser(db, id)), "}\n"));
    return true;
  }
  if (context.route("POST", {"logout"})) {
    KJ_IF_MAYBE(token, cookieValue(context.request(), SESSION_COOKIE)) {
      auto hash = tokenHash(*token);
      sqlExec(db, "DELETE FROM sessions WHERE token_hash = ?", {hash.asPtr()});
    }
    clearCookie(context);
    context.respondNoContent();
    return true;
  }
  if (context.route("POST", {"logout-everywhere"})) {
    auto& user = context.requireUser();
    sqlExec(db, "DELETE FROM sessions WHERE user_id = ?", {user.id});
    clearCookie(context);
    context.respondNoContent();
    return true;
  }
  if (context.route("POST", {"invites"})) {
    auto& user = context.requireAdmin();
    auto token = randomToken(24);
    auto hash = tokenHash(token);
    sqlExec(db, "INSERT INTO invites (token_hash, created_by, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)", {hash.asPtr(), user.id, unixNow(),
                                        unixNow() + INVITE_SECONDS});
    JsonWriter w;
    w.beginObject()
        .field("token", token)
        .field("url", kj::str(context.shellOrigin(), "/#/invite/", token))
        .field("expiresAt", unixNow() + INVITE_SECONDS)
        .endObject();
    context.respondJson(201, w.finish());
    return true;
  }
  if (context.route("GET", {"invites", "*"})) {
    auto hash = tokenHash(context.arg(0));
    bool valid = sqlInteger(db, "SELECT COUNT(*) FROM invites WHERE token_hash = ? AND "
                                "used_by IS NULL AND expires_at > ?",
                            {hash.asPtr(), unixNow()}) > 0;
    context.respondJson(200, kj::str("{\"valid\":", valid ? "true" : "false", "}\n"));
    return true;
  }
  if (context.route("POST", {"signup"})) {
    auto& body = context.json();
    auto invite = body.string("invite");
    auto name = body.string("name");
    checkName(name);
    auto hash = hashPassword(body.string("password"));
    auto inviteHash = tokenHash(invite);
    int64_t id = sqlTransaction(db, [&]() -> int64_t {
      if (sqlInteger(db, "SELECT COUNT(*) FROM invites WHERE token_hash = ? AND used_by IS NULL "
                         "AND expires_at > ?", {inviteHash.asPtr(), unixNow()}) == 0) {
        throw ApiError(403, kj::str("this invite link is not valid any more; ask for a new one"));
      }
      if (sqlInteger(db, "SELECT COUNT(*) FROM users WHERE name = ?", {name}) > 0) {
        throw ApiError(409, kj::str("that name is taken; choose another"));
      }
      sqlExec(db, "INSERT INTO users (name, password_hash, is_admin, created_at) "
                  "VALUES (?, ?, 0, ?)", {name, hash, unixNow()});
      int64_t newId = sqlLastInsertId(db);
      sqlExec(db, "UPDATE invites SET used_by = ? WHERE token_hash = ?",
              {newId, inviteHash.asPtr()});
      return newId;
    });
    SS_LOG(INFO, "accounts", "user created", name);
    logIn(db, context, id);
    context.respondJson(200, kj::str("{\"user\":", userJson(loadUser(db, id)), "}\n"));
    return true;
  }
  if (context.route("GET", {"users"})) {
    context.requireAdmin();
    Statement s(db, "SELECT id, name, is_admin, created_at FROM users ORDER BY id");
    JsonWriter w;
    w.beginArray();
    while (s.next()) {
      w.beginObject()
          .field("id", s.integer(0))
          .field("name", s.text(1))
          .field("isAdmin", s.integer(2) != 0)
          .field("createdAt", s.integer(3))
          .endObject();
    }
    w.endArray();
    context.respondJson(200, w.finish());
    return true;
  }
  return false;
}

}  // namespace ss::shell
