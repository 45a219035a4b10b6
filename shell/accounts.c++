#include "shell/accounts.h"

#include <sodium.h>

#include <kj/debug.h>

#include "base/clock.h"
#include "base/log.h"
#include "config.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

constexpr int64_t SESSION_SECONDS = 30 * 86400;
constexpr int64_t ADMIN_TOKEN_SECONDS = 86400;
constexpr int64_t INVITE_SECONDS = 7 * 86400;
constexpr size_t TOKEN_BYTES = 32;  // sessions, setup links, invites
constexpr size_t CSRF_BYTES = 16;
constexpr size_t MAX_TOKEN_TEXT = 128;  // longer presented tokens are refused without hashing

// Login rate limit: this many failures per user name, and per client address, in a window
// that starts at the first failure. Then 429 with Retry-After until the window ends.
constexpr uint32_t MAX_LOGIN_FAILURES = 5;
constexpr uint64_t LOGIN_WINDOW_MS = 15 * 60 * 1000;
constexpr size_t PRUNE_ABOVE = 1024;  // tracked keys before expired windows are dropped

constexpr size_t MIN_PASSWORD_CHARS = 10;
constexpr size_t MAX_PASSWORD_BYTES = 1024;
constexpr size_t MAX_NAME = 64;

kj::String base64Url(kj::ArrayPtr<const kj::byte> bytes) {
  size_t size = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  auto out = kj::heapArray<char>(size);  // includes the NUL
  sodium_bin2base64(out.begin(), out.size(), bytes.begin(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return kj::String(kj::mv(out));
}

kj::String randomToken(size_t bytes) {
  auto raw = kj::heapArray<kj::byte>(bytes);
  randombytes_buf(raw.begin(), raw.size());
  auto text = base64Url(raw);
  sodium_memzero(raw.begin(), raw.size());
  return text;
}

// Secrets are stored and looked up only as SHA-256 hashes: a copy of the database logs nobody
// in, and the lookup's timing depends on the hash, not on how much of the secret was right.
kj::Array<kj::byte> tokenHash(kj::StringPtr token) {
  auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.begin(), token.asBytes().begin(), token.size());
  return out;
}

bool validName(kj::StringPtr name) {
  if (name.size() < 1 || name.size() > MAX_NAME) return false;
  for (char c: name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void checkName(kj::StringPtr name) {
  if (!validName(name)) {
    throw ApiError(400, kj::str("a user name is 1 to 64 letters, digits, dots, dashes or "
                                "underscores"));
  }
}

void checkPassword(kj::StringPtr password) {
  size_t chars = 0;  // UTF-8 code points: continuation bytes do not count
  for (char c: password) chars += (static_cast<kj::byte>(c) & 0xc0) != 0x80;
  if (chars < MIN_PASSWORD_CHARS) {
    throw ApiError(400, kj::str("the password must be at least ", MIN_PASSWORD_CHARS,
                                " characters"));
  }
  if (password.size() > MAX_PASSWORD_BYTES) {
    throw ApiError(400, kj::str("the password is too long (at most ", MAX_PASSWORD_BYTES,
                                " bytes)"));
  }
}

kj::String hashPassword(kj::StringPtr password) {
  char out[crypto_pwhash_STRBYTES];
  // argon2id at libsodium's interactive cost (64 MiB, ~50-100 ms). It runs on the daemon's one
  // thread, so each setup, signup and login stalls every other request for that long.
  if (crypto_pwhash_str(out, password.cStr(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    KJ_FAIL_REQUIRE("out of memory hashing a password");
  }
  return kj::str(out);
}

kj::String asciiLower(kj::StringPtr text) {
  auto out = kj::heapString(text);
  for (auto& c: out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The client address to rate-limit by, when known. http::Request carries no peer address, so
// this is the last X-Forwarded-For hop: the one a reverse proxy in front of us appends, which the
// client behind it cannot forge. A client talking to us directly can send any value; that only
// moves it to another per-address counter (the per-name limit still holds) — nobody legitimate
// sends the header then.
kj::Maybe<kj::String> clientAddress(const http::Request& request) {
  auto* forwarded = request.find("X-Forwarded-For");
  if (forwarded == nullptr) return nullptr;
  std::string_view hop = forwarded->value;
  size_t comma = hop.rfind(',');
  if (comma != std::string_view::npos) hop = hop.substr(comma + 1);
  while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t')) hop.remove_prefix(1);
  while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t')) hop.remove_suffix(1);
  if (hop.empty() || hop.size() > 64) return nullptr;
  return kj::heapString(hop.data(), hop.size());
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

User loadUser(sqlite3* db, int64_t id) {
  Statement s(db, "SELECT id, name, is_admin FROM users WHERE id = ?", {id});
  KJ_REQUIRE(s.next(), "user vanished", id);
  User user;
  user.id = s.integer(0);
  user.name = s.text(1);
  user.isAdmin = s.integer(2) != 0;
  return user;
}

kj::String sessionCookie(ApiContext& context, kj::StringPtr value, int64_t maxAge) {
  return kj::str(SESSION_COOKIE, "=", value, "; HttpOnly; SameSite=Lax; Path=/; Max-Age=",
                 maxAge, context.secure() ? "; Secure" : "");
}

bool inviteValid(sqlite3* db, kj::ArrayPtr<const kj::byte> hash) {
  return sqlInteger(db, "SELECT COUNT(*) FROM invites WHERE token_hash = ? AND used_by IS NULL "
                        "AND expires_at > ?", {hash, unixNow()}) > 0;
}

bool adminTokenValid(sqlite3* db, kj::ArrayPtr<const kj::byte> hash) {
  return sqlInteger(db, "SELECT COUNT(*) FROM admin_tokens WHERE token_hash = ? AND "
                        "expires_at > ?", {hash, unixNow()}) > 0;
}

}  // namespace

Accounts::Accounts(sqlite3* db): db(db) {
  if (sodium_init() < 0) KJ_FAIL_REQUIRE("libsodium failed to initialise");
  sqlExec(db, "DELETE FROM sessions WHERE expires_at < ?", {unixNow()});
}

bool Accounts::needsSetup() { return sqlInteger(db, "SELECT COUNT(*) FROM users") == 0; }

kj::String Accounts::createAdminToken() {
  auto token = randomToken(TOKEN_BYTES);
  auto hash = tokenHash(token);
  sqlExec(db, "DELETE FROM admin_tokens WHERE expires_at < ?", {unixNow()});
  sqlExec(db, "INSERT INTO admin_tokens (token_hash, expires_at) VALUES (?, ?)",
          {hash.asPtr(), unixNow() + ADMIN_TOKEN_SECONDS});
  return token;
}

kj::Maybe<User> Accounts::authenticate(const http::Request& request) {
  KJ_IF_MAYBE(token, cookieValue(request, SESSION_COOKIE)) {
    // Our tokens are base64url of TOKEN_BYTES; anything else (e.g. an old hex token) is no
    // session, and is not worth a hash.
    if (token->size() != sodium_base64_ENCODED_LEN(TOKEN_BYTES,
                                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1) {
      return nullptr;
    }
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

// Starts a login session: the cookie goes out with the response.
void Accounts::logIn(ApiContext& context, int64_t userId) {
  auto token = randomToken(TOKEN_BYTES);
  auto hash = tokenHash(token);
  auto csrf = randomToken(CSRF_BYTES);
  int64_t now = unixNow();
  sqlExec(db, "DELETE FROM sessions WHERE expires_at < ?", {now});
  sqlExec(db, "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) "
              "VALUES (?, ?, ?, ?, ?)", {hash.asPtr(), userId, csrf, now, now + SESSION_SECONDS});
  context.addHeader(kj::str("Set-Cookie"), sessionCookie(context, token, SESSION_SECONDS));
}

kj::Maybe<uint64_t> Accounts::lockedForMs(kj::StringPtr key, uint64_t nowMs) {
  KJ_IF_MAYBE(a, loginAttempts.find(key)) {
    uint64_t end = a->windowStartMs + LOGIN_WINDOW_MS;
    if (nowMs < end && a->failures >= MAX_LOGIN_FAILURES) return end - nowMs;
  }
  return nullptr;
}

void Accounts::recordFailure(kj::StringPtr key, uint64_t nowMs) {
  if (loginAttempts.size() > PRUNE_ABOVE && nowMs - lastPruneMs > 60 * 1000) {
    lastPruneMs = nowMs;
    loginAttempts.eraseAll([&](const kj::String&, const Attempts& a) {
      return nowMs >= a.windowStartMs + LOGIN_WINDOW_MS;
    });
  }
  auto& a = loginAttempts.findOrCreate(key, [&]() {
    return decltype(loginAttempts)::Entry{kj::heapString(key), Attempts{0, nowMs}};
  });
  if (nowMs >= a.windowStartMs + LOGIN_WINDOW_MS) a = Attempts{0, nowMs};
  a.failures++;
}

bool Accounts::verifyPassword(kj::Maybe<kj::StringPtr> storedHash, kj::StringPtr password) {
  KJ_IF_MAYBE(stored, storedHash) {
    return crypto_pwhash_str_verify(stored->cStr(), password.cStr(), password.size()) == 0;
  }
  // No such user: spend the same time on a hash that matches nothing anyone can send.
  if (dummyHash.size() == 0) dummyHash = hashPassword(randomToken(TOKEN_BYTES));
  int ignored = crypto_pwhash_str_verify(dummyHash.cStr(), password.cStr(), password.size());
  (void)ignored;
  return false;
}

void Accounts::handleLogin(ApiContext& context) {
  auto& body = context.json();
  auto name = body.string("name");
  auto password = body.string("password");
  uint64_t now = monotonicNowMs();

  kj::Vector<kj::String> keys;
  if (validName(name)) keys.add(kj::str("name:", asciiLower(name)));  // names are NOCASE
  KJ_IF_MAYBE(address, clientAddress(context.request())) keys.add(kj::str("addr:", *address));

  uint64_t waitMs = 0;
  for (auto& key: keys) {
    KJ_IF_MAYBE(ms, lockedForMs(key, now)) waitMs = kj::max(waitMs, *ms);
  }
  if (waitMs > 0) {
    uint64_t seconds = (waitMs + 999) / 1000;
    context.addHeader(kj::str("Retry-After"), kj::str(seconds));
    // respondError, not ApiError: the dispatcher's error path drops extra headers.
    context.respondError(429, kj::str("too many failed logins; try again in ",
                                      (seconds + 59) / 60, " minutes"));
    return;
  }

  bool ok = false;
  int64_t id = 0;
  if (validName(name) && password.size() <= MAX_PASSWORD_BYTES) {
    kj::Maybe<kj::String> stored;
    {
      Statement s(db, "SELECT id, password_hash FROM users WHERE name = ?", {name});
      if (s.next()) {
        id = s.integer(0);
        stored = s.text(1);
      }
    }
    kj::Maybe<kj::StringPtr> storedPtr;
    KJ_IF_MAYBE(h, stored) storedPtr = kj::StringPtr(*h);
    ok = verifyPassword(storedPtr, password);
  }
  if (!ok) {
    for (auto& key: keys) recordFailure(key, now);
    throw ApiError(401, kj::str("wrong user name or password"));
  }
  // Success clears the name's count, never the address's: otherwise one working account would
  // let its owner keep guessing at the others.
  loginAttempts.erase(keys[0]);
  logIn(context, id);
  context.respondJson(200, kj::str("{\"user\":", userJson(loadUser(db, id)), "}\n"));
}

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
    if (!needsSetup()) {
      throw ApiError(409, kj::str("this server already has an administrator; log in instead"));
    }
    // The token first: nobody without it gets to spend an argon2id hash of our time.
    auto hashed = tokenHash(token);
    auto badToken = []() {
      return ApiError(403, kj::str("this setup link is not valid (it expires after 24 hours); "
                                   "run `sandstorm admin-token` for a new one"));
    };
    if (token.size() > MAX_TOKEN_TEXT || !adminTokenValid(db, hashed)) throw badToken();
    checkName(name);
    checkPassword(password);
    auto passwordHash = hashPassword(password);
    int64_t id = sqlTransaction(db, [&]() -> int64_t {
      // Again inside the write lock: another setup may have finished meanwhile.
      if (!needsSetup()) {
        throw ApiError(409, kj::str("this server already has an administrator; log in instead"));
      }
      if (!adminTokenValid(db, hashed)) throw badToken();
      sqlExec(db, "DELETE FROM admin_tokens");
      sqlExec(db, "INSERT INTO users (name, password_hash, is_admin, created_at) "
                  "VALUES (?, ?, 1, ?)", {name, passwordHash, unixNow()});
      return sqlLastInsertId(db);
    });
    SS_LOG(INFO, "accounts", "administrator created", name);
    logIn(context, id);
    context.respondJson(200, kj::str("{\"user\":", userJson(loadUser(db, id)), "}\n"));
    return true;
  }

  if (context.route("POST", {"login"})) {
    handleLogin(context);
    return true;
  }

  if (context.route("POST", {"logout"})) {
    KJ_IF_MAYBE(token, cookieValue(context.request(), SESSION_COOKIE)) {
      auto hash = tokenHash(*token);
      sqlExec(db, "DELETE FROM sessions WHERE token_hash = ?", {hash.asPtr()});
    }
    context.addHeader(kj::str("Set-Cookie"), sessionCookie(context, "", 0));
    context.respondNoContent();
    return true;
  }

  if (context.route("POST", {"logout-everywhere"})) {
    auto& user = context.requireUser();
    sqlExec(db, "DELETE FROM sessions WHERE user_id = ?", {user.id});
    context.addHeader(kj::str("Set-Cookie"), sessionCookie(context, "", 0));
    context.respondNoContent();
    return true;
  }

  if (context.route("POST", {"invites"})) {
    auto& user = context.requireAdmin();
    auto token = randomToken(TOKEN_BYTES);
    auto hash = tokenHash(token);
    int64_t now = unixNow();
    sqlExec(db, "INSERT INTO invites (token_hash, created_by, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)", {hash.asPtr(), user.id, now, now + INVITE_SECONDS});
    JsonWriter w;
    w.beginObject()
        .field("token", token)
        .field("url", kj::str(context.shellOrigin(), "/#/invite/", token))
        .field("expiresAt", now + INVITE_SECONDS)
        .endObject();
    context.respondJson(201, w.finish());
    return true;
  }

  if (context.route("GET", {"invites", "*"})) {
    auto invite = context.arg(0);
    bool valid = invite.size() <= MAX_TOKEN_TEXT && inviteValid(db, tokenHash(invite));
    context.respondJson(200, kj::str("{\"valid\":", valid ? "true" : "false", "}\n"));
    return true;
  }

  if (context.route("POST", {"signup"})) {
    auto& body = context.json();
    auto invite = body.string("invite");
    auto name = body.string("name");
    auto password = body.string("password");
    auto inviteHash = tokenHash(invite);
    auto badInvite = []() {
      return ApiError(403, kj::str("this invite link is not valid any more; ask for a new one"));
    };
    auto nameTaken = [&]() {
      return sqlInteger(db, "SELECT COUNT(*) FROM users WHERE name = ?", {name}) > 0;
    };
    if (invite.size() > MAX_TOKEN_TEXT || !inviteValid(db, inviteHash)) throw badInvite();
    checkName(name);
    checkPassword(password);
    if (nameTaken()) throw ApiError(409, kj::str("that name is taken; choose another"));
    auto passwordHash = hashPassword(password);
    int64_t id = sqlTransaction(db, [&]() -> int64_t {
      if (!inviteValid(db, inviteHash)) throw badInvite();
      if (nameTaken()) throw ApiError(409, kj::str("that name is taken; choose another"));
      sqlExec(db, "INSERT INTO users (name, password_hash, is_admin, created_at) "
                  "VALUES (?, ?, 0, ?)", {name, passwordHash, unixNow()});
      int64_t newId = sqlLastInsertId(db);
      sqlExec(db, "UPDATE invites SET used_by = ? WHERE token_hash = ?",
              {newId, inviteHash.asPtr()});
      return newId;
    });
    SS_LOG(INFO, "accounts", "user created", name);
    logIn(context, id);
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
