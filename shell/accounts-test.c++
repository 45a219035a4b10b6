// Accounts through the real stack: raw HTTP to an http::Server on the reactor, the Shell
// dispatcher (cross-site and CSRF checks) and the Accounts module on a real data directory.
#include "shell/accounts.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "http/test-server.h"
#include "shell/data-dir.h"
#include "shell/shell.h"
#include "shell/sql.h"
#include "tests/test-support.h"

namespace ss::shell {
namespace {

constexpr char PASSWORD[] = "correct horse battery";

struct Reply {
  int status = 0;
  std::string head;
  std::string body;

  std::string header(const std::string& name) const {
    auto pos = head.find("\r\n" + name + ": ");
    if (pos == std::string::npos) return "";
    pos += name.size() + 4;
    return head.substr(pos, head.find("\r\n", pos) - pos);
  }
  // The session cookie's value from Set-Cookie ("" when none was set).
  std::string cookie() const {
    auto c = header("Set-Cookie");
    std::string prefix = std::string(SESSION_COOKIE) + "=";
    if (c.compare(0, prefix.size(), prefix) != 0) return "";
    return c.substr(prefix.size(), c.find(';') - prefix.size());
  }
  // A top-level string field of a flat JSON object (enough for these tests).
  std::string field(const std::string& name) const {
    auto key = "\"" + name + "\":";
    auto pos = body.find(key);
    if (pos == std::string::npos) return "";
    pos += key.size();
    if (body[pos] != '"') return body.substr(pos, body.find_first_of(",}", pos) - pos);
    return body.substr(pos + 1, body.find('"', pos + 1) - pos - 1);
  }
};

struct Call {
  std::string cookie;
  std::string csrf;
  std::string extra;  // more header lines, each ending in \r\n
  std::string contentType = "application/json";
};

void writeFile(const kj::String& path, std::string_view content) {
  int fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, content.data(), content.size()) == (ssize_t)content.size());
  close(fd);
}

struct UiDir {
  UiDir() { writeFile(dir.file("index.html"), "<!doctype html><title>Sandstorm</title>"); }
  test::TempDir dir;
};

struct Fixture {
  Fixture()
      : files(ui.dir.path()), store(dataDir.path()), accounts(store.db()),
        shell(files, accounts, kj::heapArray<ApiModule*>({&accounts})), server(shell) {}

  Reply api(const std::string& method, const std::string& path, const std::string& body = "",
            const Call& r = {}) {
    std::string raw = method + " " + path + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n";
    if (!r.cookie.empty()) raw += std::string("Cookie: ") + SESSION_COOKIE + "=" + r.cookie + "\r\n";
    if (!r.csrf.empty()) raw += "X-CSRF-Token: " + r.csrf + "\r\n";
    if (method != "GET") {
      if (!r.contentType.empty()) raw += "Content-Type: " + r.contentType + "\r\n";
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += r.extra + "\r\n" + body;
    auto text = server.roundTrip(raw);
    Reply reply;
    auto end = text.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    reply.head = text.substr(0, end + 2);
    reply.body = text.substr(end + 4);
    REQUIRE(text.compare(0, 9, "HTTP/1.1 ") == 0);
    reply.status = std::stoi(text.substr(9, 3));
    return reply;
  }

  // A logged-in session: its cookie and CSRF token.
  struct Session {
    std::string cookie;
    std::string csrf;
    Call with() const { return Call{cookie, csrf, "", "application/json"}; }
  };
  Session session(const std::string& cookie) {
    auto s = api("GET", "/api/session", "", Call{cookie, "", "", ""});
    REQUIRE(s.status == 200);
    return Session{cookie, s.field("csrf")};
  }
  Session login(const std::string& name, const std::string& password = PASSWORD,
                const std::string& extra = "") {
    auto r = api("POST", "/api/login",
                 "{\"name\":\"" + name + "\",\"password\":\"" + password + "\"}",
                 Call{"", "", extra, "application/json"});
    CAPTURE(r.head, r.body);
    REQUIRE(r.status == 200);
    return session(r.cookie());
  }
  Session setUp(const std::string& name = "admin") {
    auto token = accounts.createAdminToken();
    auto r = api("POST", "/api/setup",
                 "{\"token\":\"" + std::string(token.cStr()) + "\",\"name\":\"" + name +
                 "\",\"password\":\"" + PASSWORD + "\"}");
    CAPTURE(r.head, r.body);
    REQUIRE(r.status == 200);
    return session(r.cookie());
  }
  // An invited, non-admin user, logged in.
  Session invite(const Session& admin, const std::string& name) {
    auto inv = api("POST", "/api/invites", "{}", admin.with());
    REQUIRE(inv.status == 201);
    auto r = api("POST", "/api/signup",
                 "{\"invite\":\"" + inv.field("token") + "\",\"name\":\"" + name +
                 "\",\"password\":\"" + PASSWORD + "\"}");
    CAPTURE(r.body);
    REQUIRE(r.status == 200);
    return session(r.cookie());
  }

  UiDir ui;
  StaticFiles files;
  test::TempDir dataDir;
  DataDir store;
  Accounts accounts;
  Shell shell;
  http::test::TestServer server;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("accounts: first-run setup needs the admin token and works once", "[shell]") {
  Fixture f;
  auto s = f.api("GET", "/api/session");
  CHECK(s.status == 200);
  CHECK(s.field("setupNeeded") == "true");
  CHECK(s.field("user") == "null");
  CHECK(s.field("csrf") == "null");
  CHECK(f.accounts.needsSetup());

  auto token = std::string(f.accounts.createAdminToken().cStr());
  auto other = std::string(f.accounts.createAdminToken().cStr());
  CHECK(token.size() == 43);  // 32 random bytes, base64url
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        == std::string::npos);
  auto setup = [&](const std::string& tok, const std::string& name, const std::string& pw) {
    return f.api("POST", "/api/setup",
                 "{\"token\":\"" + tok + "\",\"name\":\"" + name + "\",\"password\":\"" + pw +
                 "\"}");
  };
  auto bad = setup("not-the-token", "admin", PASSWORD);
  CHECK(bad.status == 403);
  CHECK(contains(bad.body, "admin-token"));
  CHECK(bad.header("Set-Cookie").empty());
  CHECK(setup(token, "admin", "short").status == 400);
  CHECK(setup(token, "admin", std::string(1025, 'x')).status == 400);
  CHECK(setup(token, "bad name", PASSWORD).status == 400);
  CHECK(setup(token, std::string(65, 'a'), PASSWORD).status == 400);
  CHECK(setup(token, "", PASSWORD).status == 400);
  CHECK(f.accounts.needsSetup());

  auto ok = setup(token, "Admin.One_2-x", PASSWORD);
  CAPTURE(ok.head, ok.body);
  REQUIRE(ok.status == 200);
  CHECK(contains(ok.body, "\"name\":\"Admin.One_2-x\""));
  CHECK(contains(ok.body, "\"isAdmin\":true"));
  CHECK(!f.accounts.needsSetup());
  // All admin tokens are gone, including the unused one.
  CHECK(sqlInteger(f.store.db(), "SELECT COUNT(*) FROM admin_tokens") == 0);

  auto me = f.api("GET", "/api/session", "", Call{ok.cookie(), "", "", ""});
  CHECK(me.field("setupNeeded") == "false");
  CHECK(contains(me.body, "\"isAdmin\":true"));
  CHECK(me.field("csrf").size() == 22);  // 16 random bytes, base64url
  CHECK(me.field("version").size() > 0);

  // Once a user exists, setup is refused even with a fresh token.
  auto again = setup(std::string(f.accounts.createAdminToken().cStr()), "second", PASSWORD);
  CHECK(again.status == 409);
  CHECK(contains(again.body, "already has an administrator"));
  CHECK(setup(other, "second", PASSWORD).status == 409);
  CHECK(sqlInteger(f.store.db(), "SELECT COUNT(*) FROM users") == 1);
}

TEST_CASE("accounts: session tokens and passwords are stored only as hashes", "[shell]") {
  Fixture f;
  auto admin = f.setUp();
  CHECK(admin.cookie.size() == 43);
  Statement s(f.store.db(), "SELECT token_hash, csrf FROM sessions");
  REQUIRE(s.next());
  CHECK(s.blob(0).size() == 32);
  CHECK(std::string(s.text(1).cStr()) == admin.csrf);
  CHECK(sqlInteger(f.store.db(), "SELECT COUNT(*) FROM users WHERE password_hash LIKE "
                                 "'$argon2id$%'") == 1);
  CHECK(sqlInteger(f.store.db(), "SELECT COUNT(*) FROM users WHERE password_hash LIKE "
                                 "'%horse%'") == 0);
}

TEST_CASE("accounts: login, cookie flags, and Secure behind an https proxy", "[shell]") {
  Fixture f;
  f.setUp("alice");

  auto wrong = f.api("POST", "/api/login", "{\"name\":\"alice\",\"password\":\"not it at all\"}");
  CHECK(wrong.status == 401);
  CHECK(wrong.header("Set-Cookie").empty());
  auto nobody = f.api("POST", "/api/login", "{\"name\":\"bob\",\"password\":\"not it at all\"}");
  CHECK(nobody.status == 401);
  CHECK(nobody.body == wrong.body);  // no hint which names exist
  CHECK(f.api("POST", "/api/login", "{\"name\":\"alice\"}").status == 400);

  auto ok = f.api("POST", "/api/login",
                  std::string("{\"name\":\"ALICE\",\"password\":\"") + PASSWORD + "\"}");
  CAPTURE(ok.head);
  REQUIRE(ok.status == 200);
  CHECK(contains(ok.body, "\"name\":\"alice\""));
  auto cookie = ok.header("Set-Cookie");
  CHECK(contains(cookie, "; HttpOnly"));
  CHECK(contains(cookie, "; SameSite=Lax"));
  CHECK(contains(cookie, "; Path=/"));
  CHECK(contains(cookie, "; Max-Age=2592000"));
  CHECK(!contains(cookie, "Secure"));
  CHECK(ok.header("Cache-Control") == "no-store");
  auto me = f.api("GET", "/api/session", "", Call{ok.cookie(), "", "", ""});
  CHECK(contains(me.body, "\"name\":\"alice\""));

  auto tls = f.api("POST", "/api/login",
                   std::string("{\"name\":\"alice\",\"password\":\"") + PASSWORD + "\"}",
                   Call{"", "", "X-Forwarded-Proto: https\r\n", "application/json"});
  REQUIRE(tls.status == 200);
  CHECK(contains(tls.header("Set-Cookie"), "; Secure"));

  // Garbage, unknown and expired session cookies are no session.
  for (auto c: {"x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""}) {
    CAPTURE(c);
    CHECK(f.api("GET", "/api/session", "", Call{c, "", "", ""}).field("user") == "null");
  }
  sqlExec(f.store.db(), "UPDATE sessions SET expires_at = 1");
  CHECK(f.api("GET", "/api/session", "", Call{ok.cookie(), "", "", ""}).field("user") ==
        "null");
}

TEST_CASE("accounts: mutating calls need the CSRF token, our Origin and a JSON type", "[shell]") {
  Fixture f;
  auto admin = f.setUp();
  auto noCsrf = admin.with();
  noCsrf.csrf = "";
  auto r = f.api("POST", "/api/logout", "{}", noCsrf);
  CHECK(r.status == 403);
  CHECK(contains(r.body, "CSRF"));

  auto wrongCsrf = admin.with();
  wrongCsrf.csrf = "AAAAAAAAAAAAAAAAAAAAAA";
  CHECK(f.api("POST", "/api/logout", "{}", wrongCsrf).status == 403);
  // Another session's CSRF token is not this one's.
  auto other = f.login("admin");
  wrongCsrf.csrf = other.csrf;
  CHECK(f.api("POST", "/api/logout", "{}", wrongCsrf).status == 403);

  auto evil = admin.with();
  evil.extra = "Origin: http://evil.example\r\n";
  r = f.api("POST", "/api/logout", "{}", evil);
  CHECK(r.status == 403);
  CHECK(contains(r.body, "cross-site"));

  auto plain = admin.with();
  plain.contentType = "text/plain";
  CHECK(f.api("POST", "/api/logout", "{}", plain).status == 403);
  auto form = admin.with();
  form.contentType = "application/x-www-form-urlencoded";
  CHECK(f.api("POST", "/api/invites", "{}", form).status == 403);
  // Logged out, a text/plain login (a form post from another site) is refused as well.
  CHECK(f.api("POST", "/api/login",
              std::string("{\"name\":\"admin\",\"password\":\"") + PASSWORD + "\"}",
              Call{"", "", "", "text/plain"}).status == 403);

  // None of the refused calls logged anyone out.
  CHECK(contains(f.api("GET", "/api/session", "", admin.with()).body, "\"name\":\"admin\""));

  auto same = admin.with();
  same.extra = "Origin: http://a\r\n";
  r = f.api("POST", "/api/logout", "{}", same);
  CHECK(r.status == 204);
  CHECK(contains(r.header("Set-Cookie"), std::string(SESSION_COOKIE) + "=;"));
  CHECK(contains(r.header("Set-Cookie"), "Max-Age=0"));
  CHECK(f.api("GET", "/api/session", "", admin.with()).field("user") == "null");
  // The other session is untouched.
  CHECK(contains(f.api("GET", "/api/session", "", other.with()).body, "\"name\":\"admin\""));
  // Replaying the old cookie after logout is no session (and so needs no CSRF).
  CHECK(f.api("POST", "/api/logout-everywhere", "{}", admin.with()).status == 401);
}

TEST_CASE("accounts: log out everywhere ends every session of that user only", "[shell]") {
  Fixture f;
  auto admin = f.setUp();
  auto a = f.login("admin");
  auto b = f.login("admin");
  auto bob = f.invite(admin, "bob");
  CHECK(f.api("POST", "/api/logout-everywhere", "{}", a.with()).status == 204);
  for (auto* s: {&admin, &a, &b}) {
    CHECK(f.api("GET", "/api/session", "", s->with()).field("user") == "null");
  }
  CHECK(contains(f.api("GET", "/api/session", "", bob.with()).body, "\"name\":\"bob\""));
  CHECK(f.api("POST", "/api/logout-everywhere", "{}").status == 401);
}

TEST_CASE("accounts: invites, signup, and admin-only calls", "[shell]") {
  Fixture f;
  auto admin = f.setUp();
  CHECK(f.api("POST", "/api/invites", "{}").status == 401);

  auto inv = f.api("POST", "/api/invites", "{}", admin.with());
  CAPTURE(inv.body);
  REQUIRE(inv.status == 201);
  auto token = inv.field("token");
  CHECK(token.size() == 43);
  CHECK(inv.field("url") == "http://a/#/invite/" + token);

  CHECK(f.api("GET", "/api/invites/" + token).body == "{\"valid\":true}\n");
  CHECK(f.api("GET", "/api/invites/nope").body == "{\"valid\":false}\n");
  CHECK(f.api("GET", "/api/invites/" + std::string(500, 'a')).body == "{\"valid\":false}\n");

  auto signup = [&](const std::string& invite, const std::string& name,
                    const std::string& pw = PASSWORD) {
    return f.api("POST", "/api/signup",
                 "{\"invite\":\"" + invite + "\",\"name\":\"" + name + "\",\"password\":\"" + pw +
                 "\"}");
  };
  CHECK(signup("nope", "carol").status == 403);
  CHECK(signup(token, "ADMIN").status == 409);  // names are case-insensitive
  CHECK(signup(token, "carol", "123456789").status == 400);
  CHECK(signup(token, "carol/x").status == 400);
  CHECK(f.api("GET", "/api/invites/" + token).field("valid") == "true");  // not used up

  auto ok = signup(token, "carol");
  CAPTURE(ok.body);
  REQUIRE(ok.status == 200);
  CHECK(contains(ok.body, "\"isAdmin\":false"));
  CHECK(contains(ok.header("Set-Cookie"), "HttpOnly"));
  auto carol = f.session(ok.cookie());
  CHECK(contains(f.api("GET", "/api/session", "", carol.with()).body, "\"name\":\"carol\""));

  // An invite works once.
  CHECK(f.api("GET", "/api/invites/" + token).field("valid") == "false");
  CHECK(signup(token, "dave").status == 403);

  // Expired invites are not valid.
  auto late = f.api("POST", "/api/invites", "{}", admin.with()).field("token");
  sqlExec(f.store.db(), "UPDATE invites SET expires_at = 1 WHERE used_by IS NULL");
  CHECK(f.api("GET", "/api/invites/" + late).field("valid") == "false");
  CHECK(signup(late, "dave").status == 403);

  // Admin-only: users list and invites.
  CHECK(f.api("GET", "/api/users").status == 401);
  CHECK(f.api("GET", "/api/users", "", carol.with()).status == 403);
  CHECK(f.api("POST", "/api/invites", "{}", carol.with()).status == 403);
  auto users = f.api("GET", "/api/users", "", admin.with());
  CAPTURE(users.body);
  REQUIRE(users.status == 200);
  CHECK(users.body.front() == '[');
  CHECK(contains(users.body, "\"name\":\"admin\",\"isAdmin\":true,\"createdAt\":"));
  CHECK(contains(users.body, "\"name\":\"carol\",\"isAdmin\":false,\"createdAt\":"));
  CHECK(!contains(users.body, "password"));

  // The new user can log in with the password chosen at signup.
  f.login("carol");
}

TEST_CASE("accounts: failed logins are rate-limited per name and per client address",
          "[shell]") {
  Fixture f;
  f.setUp("alice");
  f.invite(f.login("alice"), "bob");
  auto attempt = [&](const std::string& name, const std::string& pw,
                     const std::string& extra = "") {
    return f.api("POST", "/api/login",
                 "{\"name\":\"" + name + "\",\"password\":\"" + pw + "\"}",
                 Call{"", "", extra, "application/json"});
  };
  for (int i = 0; i < 5; i++) CHECK(attempt("alice", "wrong password " + std::to_string(i)).status == 401);
  auto limited = attempt("alice", "wrong password again");
  CHECK(limited.status == 429);
  CHECK(contains(limited.body, "too many failed logins"));
  auto retry = limited.header("Retry-After");
  REQUIRE(!retry.empty());
  CHECK(std::stoi(retry) > 800);
  CHECK(std::stoi(retry) <= 900);
  // Locked means locked: even the right password waits, in any letter case.
  CHECK(attempt("alice", PASSWORD).status == 429);
  CHECK(attempt("ALICE", PASSWORD).status == 429);
  // Other names are not affected.
  CHECK(attempt("bob", PASSWORD).status == 200);

  // Per address (the last X-Forwarded-For hop): failures spread over many names add up.
  std::string from = "X-Forwarded-For: 198.51.100.1, 10.0.0.7\r\n";
  for (int i = 0; i < 5; i++) CHECK(attempt("user" + std::to_string(i), "whatever pw", from).status == 401);
  CHECK(attempt("bob", PASSWORD, from).status == 429);
  CHECK(attempt("bob", PASSWORD, "X-Forwarded-For: 10.0.0.8\r\n").status == 200);
  // A success from an address does not reset its count.
  CHECK(attempt("bob", PASSWORD, from).status == 429);
}

}  // namespace
}  // namespace ss::shell
