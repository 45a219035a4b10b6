// The shell's API end to end, through the real `sandstorm run`: first-run setup, CSRF and
// cross-site refusal, app upload, grains, grain origins (session cookie, cookie stripping, CSP,
// view-only enforcement), sharing and revocation, trash, and port reuse clearing site data.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "tests/e2e/e2e-support.h"
#include "tests/test-support.h"

namespace ss::e2e {
namespace {

struct Response {
  int status = 0;
  std::string head;
  std::string body;
  std::string header(const std::string& name) const {
    std::string lower = head;
    for (auto& c: lower) c = tolower(c);
    std::string key = "\r\n" + name + ":";
    for (auto& c: key) c = tolower(c);
    auto pos = lower.find(key);
    if (pos == std::string::npos) return "";
    auto start = pos + key.size();
    auto end = head.find("\r\n", start);
    std::string value = head.substr(start, end - start);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    return value;
  }
};

Response send(uint16_t port, const std::string& raw) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Response r;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;  // status 0: nothing listens (a grain origin that was closed)
  }
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  writeAll(fd, raw.data(), raw.size());
  std::string all;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) all.append(buffer, n);
  close(fd);
  auto split = all.find("\r\n\r\n");
  if (split == std::string::npos) return r;  // status 0: closed without an answer
  r.head = all.substr(0, split + 2);
  r.body = all.substr(split + 4);
  r.status = std::stoi(all.substr(9, 3));
  return r;
}

// The value of "key" in a flat JSON text (enough for our own API's answers).
std::string jsonField(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":");
  if (pos == std::string::npos) return "";
  pos += key.size() + 3;
  if (json[pos] == '"') {
    auto end = json.find('"', pos + 1);
    return json.substr(pos + 1, end - pos - 1);
  }
  auto end = json.find_first_of(",}]", pos);
  return json.substr(pos, end - pos);
}

class Server {
public:
  Server(const std::string& dataDir, uint16_t grainPort) {
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      std::string ports = std::to_string(grainPort) + "-" + std::to_string(grainPort);
      execl(SANDSTORM_BINARY, SANDSTORM_BINARY, "run", "--port", "0", "--data-dir",
            dataDir.c_str(), "--grain-ports", ports.c_str(), "--demo-apps", DEMO_APPS_DIR,
            (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string text;
    auto deadline = ss::monotonicNowMs() + 60000;
    while (text.find("#/setup/") == std::string::npos ||
           text.find('\n', text.find("#/setup/")) == std::string::npos) {
      REQUIRE(ss::monotonicNowMs() < deadline);
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[512];
      ssize_t n = read(out[0], buffer, sizeof(buffer));
      REQUIRE(n > 0);
      text.append(buffer, n);
    }
    close(out[0]);
    CAPTURE(text);
    auto pos = text.find("http://127.0.0.1:");
    REQUIRE(pos != std::string::npos);
    port = static_cast<uint16_t>(std::stoi(text.substr(pos + 17)));
    auto t = text.find("#/setup/") + 8;
    setupToken = text.substr(t, text.find_first_of(" \n", t) - t);
  }
  ~Server() {
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }

  Response api(const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& extraHeaders = "", const std::string& type = "application/json") {
    std::string raw = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                      std::to_string(port) + "\r\nConnection: close\r\n" + extraHeaders;
    if (!cookie.empty()) raw += "Cookie: " + cookie + "\r\n";
    if (!csrf.empty()) raw += "X-CSRF-Token: " + csrf + "\r\n";
    if (method != "GET") {
      raw += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    return send(port, raw + "\r\n" + body);
  }

  pid_t pid = -1;
  uint16_t port = 0;
  std::string setupToken;
  std::string cookie;  // "sandstorm-session=..."
  std::string csrf;
};

std::string readFileText(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A request on a grain origin (its own port).
Response grainRequest(uint16_t port, const std::string& method, const std::string& path,
                      const std::string& cookies, const std::string& body = "") {
  std::string raw = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                    std::to_string(port) + "\r\nConnection: close\r\n";
  if (!cookies.empty()) raw += "Cookie: " + cookies + "\r\n";
  if (method != "GET") raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return send(port, raw + "\r\n" + body);
}

struct Opened {
  uint16_t port;
  std::string cookie;  // "sandstorm-grain-<port>=..."
  Response start;
};

Opened startGrainSession(const std::string& url) {
  // url: http://127.0.0.1:<port>/.sandstorm/start?t=...&path=...
  REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
  uint16_t port = static_cast<uint16_t>(std::stoi(url.substr(17)));
  auto path = url.substr(url.find('/', 17));
  Opened o;
  o.port = port;
  o.start = grainRequest(port, "GET", path, "");
  auto setCookie = o.start.header("Set-Cookie");
  o.cookie = setCookie.substr(0, setCookie.find(';'));
  return o;
}

}  // namespace

TEST_CASE("shell API: setup, CSRF, apps, grains, origins, sharing, trash, port reuse",
          "[shell]") {
  if (geteuid() != 0) SS_SKIP("grains need root (sandbox uid mapping and cgroups)");
  ss::test::TempDir temp;
  REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
  uint16_t grainPort = static_cast<uint16_t>(21000 + (getpid() % 4000));
  Server server(temp.file("data").cStr(), grainPort);

  // --- first-run setup (a second link from the CLI works too, while the server runs) ---
  CHECK(run({SANDSTORM_BINARY, "admin-token", "--data-dir", temp.file("data").cStr()}) == 0);
  auto session = server.api("GET", "/api/session");
  CHECK(session.status == 200);
  CHECK(jsonField(session.body, "setupNeeded") == "true");
  auto wrong = server.api("POST", "/api/setup",
                          "{\"token\":\"nope\",\"name\":\"admin\",\"password\":\"correct horse\"}");
  CHECK(wrong.status >= 400);
  auto setup = server.api("POST", "/api/setup",
                          "{\"token\":\"" + server.setupToken +
                          "\",\"name\":\"admin\",\"password\":\"correct horse\"}");
  CAPTURE(setup.head, setup.body);
  REQUIRE(setup.status == 200);
  auto setCookie = setup.header("Set-Cookie");
  CHECK(setCookie.find("HttpOnly") != std::string::npos);
  CHECK(setCookie.find("SameSite") != std::string::npos);
  server.cookie = setCookie.substr(0, setCookie.find(';'));
  session = server.api("GET", "/api/session");
  server.csrf = jsonField(session.body, "csrf");
  REQUIRE(!server.csrf.empty());
  CHECK(session.body.find("\"admin\"") != std::string::npos);
  // Once an administrator exists, `sandstorm admin-token` refuses (exit 1) and says why.
  CHECK(run({SANDSTORM_BINARY, "admin-token", "--data-dir", temp.file("data").cStr()}) == 1);

  // --- cross-site and CSRF refusal ---
  {
    auto saved = server.csrf;
    server.csrf = "";
    CHECK(server.api("POST", "/api/grains", "{}").status == 403);
    server.csrf = saved;
    CHECK(server.api("POST", "/api/grains", "{}", "", "text/plain").status == 403);
    CHECK(server.api("POST", "/api/grains", "{}", "Origin: http://evil.example\r\n").status ==
          403);
  }

  // --- apps: the demo apps are offered; an upload installs; a bad upload is refused ---
  auto apps = server.api("GET", "/api/apps");
  CHECK(apps.status == 200);
  CHECK(apps.body.find("\"Notes\"") != std::string::npos);
  auto spk = readFileText(GRAIN_TEST_SPK);
  auto upload = server.api("POST", "/api/apps", spk, "", "application/octet-stream");
  CAPTURE(upload.body);
  REQUIRE(upload.status == 200);
  CHECK(jsonField(upload.body, "result") == "installed");
  auto appId = jsonField(upload.body, "appId");
  auto again = server.api("POST", "/api/apps", spk, "", "application/octet-stream");
  CHECK(jsonField(again.body, "result") == "already-installed");
  auto corrupt = spk;
  corrupt[corrupt.size() / 2] ^= 0x55;
  auto refused = server.api("POST", "/api/apps", corrupt, "", "application/octet-stream");
  CAPTURE(refused.body);
  CHECK(refused.status == 400);
  CHECK(jsonField(refused.body, "error").size() > 10);
  CHECK(refused.body.find("/uploads/") == std::string::npos);  // no server paths in messages

  // --- upgrades: same key and newer only, confirmed; older never replaces ---
  {
    auto v2 = server.api("POST", "/api/apps", readFileText(GRAIN_TEST_V2_SPK), "",
                         "application/octet-stream");
    CAPTURE(v2.body);
    REQUIRE(v2.status == 200);
    CHECK(jsonField(v2.body, "result") == "upgrade-pending");
    CHECK(jsonField(v2.body, "appId") == appId);  // the same app: same key
    CHECK(jsonField(v2.body, "version") == "1");   // still the installed version until confirmed
    auto pendingPackage = jsonField(v2.body.substr(v2.body.find("pendingUpgrade")), "packageId");
    CHECK(server.api("POST", "/api/apps/" + appId + "/upgrade",
                     "{\"packageId\":\"0000\"}").status == 409);
    auto confirmed = server.api("POST", "/api/apps/" + appId + "/upgrade",
                                "{\"packageId\":\"" + pendingPackage + "\"}");
    CAPTURE(confirmed.body);
    CHECK(confirmed.status == 200);
    CHECK(jsonField(confirmed.body, "version") == "2");
    auto older = server.api("POST", "/api/apps", spk, "", "application/octet-stream");
    CAPTURE(older.body);
    CHECK(older.status == 409);
    CHECK(jsonField(older.body, "error").find("not newer") != std::string::npos);
  }

  // --- a grain, opened on its own origin ---
  auto created = server.api("POST", "/api/grains",
                            "{\"appId\":\"" + appId + "\",\"actionIndex\":0,\"title\":\"Echo\"}");
  CAPTURE(created.body);
  REQUIRE(created.status == 201);
  auto grainId = jsonField(created.body, "id");
  auto open = server.api("POST", "/api/grains/" + grainId + "/open", "{}");
  CAPTURE(open.body);
  REQUIRE(open.status == 200);
  auto owner = startGrainSession(jsonField(open.body, "url"));
  CHECK(owner.port == grainPort);
  CHECK(owner.start.status == 303);
  CHECK(owner.start.header("Location") == "/");
  CHECK(owner.cookie.rfind("sandstorm-grain-", 0) == 0);

  auto echo = grainRequest(owner.port, "GET", "/echo",
                           owner.cookie + "; " + server.cookie + "; app=1");
  CAPTURE(echo.head, echo.body);
  REQUIRE(echo.status == 200);
  CHECK(echo.body.find("cookie: app=1\n") != std::string::npos);  // the app's own cookie only
  CHECK(echo.body.find("sandstorm-") == std::string::npos);        // never ours
  CHECK(echo.body.find("X-Sandstorm-Username: admin\n") != std::string::npos);
  auto userId = echo.body.find("X-Sandstorm-User-Id: ");
  REQUIRE(userId != std::string::npos);
  CHECK(echo.body.find('\n', userId) - userId - 21 == 32);  // 16 bytes, hex
  CHECK(echo.header("Content-Security-Policy").find("frame-ancestors http://127.0.0.1:" +
                                                    std::to_string(server.port)) !=
        std::string::npos);
  CHECK(grainRequest(owner.port, "GET", "/echo", "").status == 403);  // no session, no grain
  CHECK(grainRequest(owner.port, "GET", "/echo", "sandstorm-grain-1=forged").status == 403);
  auto sessionId = jsonField(open.body, "sessionId");
  CHECK(server.api("POST", "/api/grain-sessions/" + sessionId + "/heartbeat", "{}").status == 204);

  // --- sharing: a view-only link, opened anonymously ---
  auto roles = server.api("GET", "/api/grains/" + grainId + "/roles");
  CHECK(roles.body.find("can view") != std::string::npos);
  auto share = server.api("POST", "/api/grains/" + grainId + "/shares",
                          "{\"role\":1,\"label\":\"for a friend\",\"anonymous\":true}");
  CAPTURE(share.body);
  REQUIRE(share.status == 201);
  auto token = jsonField(share.body, "token");
  auto shareId = jsonField(share.body, "id");
  Server* s = &server;
  auto anonymousApi = [s](const std::string& method, const std::string& path) {
    std::string raw = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                      std::to_string(s->port) + "\r\nConnection: close\r\n";
    if (method != "GET") raw += "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    else raw += "\r\n";
    return send(s->port, raw);
  };
  auto info = anonymousApi("GET", "/api/shares/" + token);
  CHECK(info.status == 200);
  CHECK(jsonField(info.body, "grainTitle") == "Echo");
  auto viewerOpen = anonymousApi("POST", "/api/shares/" + token + "/open");
  CAPTURE(viewerOpen.body);
  REQUIRE(viewerOpen.status == 200);
  auto viewer = startGrainSession(jsonField(viewerOpen.body, "url"));
  // The visitor's page keeps its session alive without an account...
  auto viewerSession = jsonField(viewerOpen.body, "sessionId");
  CHECK(anonymousApi("POST", "/api/grain-sessions/" + viewerSession + "/heartbeat").status == 204);
  // ...but an account cannot keep (or end) somebody else's session.
  CHECK(server.api("POST", "/api/grain-sessions/" + viewerSession + "/heartbeat", "{}").status ==
        410);
  auto seen = grainRequest(viewer.port, "GET", "/echo", viewer.cookie);
  CHECK(seen.status == 200);
  // Sandstorm's spelling for visitors without an account.
  CHECK(seen.body.find("X-Sandstorm-Username: Anonymous%20User\n") != std::string::npos);
  CHECK(seen.body.find("X-Sandstorm-User-Id") == std::string::npos);
  CHECK(grainRequest(viewer.port, "POST", "/echo", viewer.cookie, "x").status == 403);
  // The owner's session on the same origin still writes.
  CHECK(grainRequest(owner.port, "POST", "/echo", owner.cookie, "x").status == 200);

  // --- a link opened by another account puts the grain in that person's list ---
  {
    auto invite = server.api("POST", "/api/invites", "{}");
    REQUIRE(invite.status == 201);
    auto savedCookie = server.cookie, savedCsrf = server.csrf;
    server.cookie = "";
    server.csrf = "";
    auto signup = server.api("POST", "/api/signup",
                             "{\"invite\":\"" + jsonField(invite.body, "token") +
                             "\",\"name\":\"bob\",\"password\":\"bob's long password\"}");
    CAPTURE(signup.body);
    REQUIRE(signup.status == 200);
    auto bobCookie = signup.header("Set-Cookie");
    server.cookie = bobCookie.substr(0, bobCookie.find(';'));
    server.csrf = jsonField(server.api("GET", "/api/session").body, "csrf");
    CHECK(server.api("GET", "/api/grains").body.find(grainId) == std::string::npos);
    CHECK(server.api("POST", "/api/grains/" + grainId + "/open", "{}").status == 404);
    CHECK(server.api("POST", "/api/shares/" + token + "/open", "{}").status == 200);
    auto bobs = server.api("GET", "/api/grains");
    CAPTURE(bobs.body);
    CHECK(bobs.body.find(grainId) != std::string::npos);
    CHECK(bobs.body.find("\"owner\":false") != std::string::npos);
    auto reopened = server.api("POST", "/api/grains/" + grainId + "/open", "{}");
    CHECK(reopened.status == 200);
    CHECK(jsonField(reopened.body, "role") == "can view");
    CHECK(server.api("PATCH", "/api/grains/" + grainId, "{\"title\":\"mine now\"}").status ==
          404);  // a share never makes you the owner
    server.cookie = savedCookie;
    server.csrf = savedCsrf;
  }

  // --- revoking ends the link and its open sessions at once ---
  CHECK(server.api("DELETE", "/api/shares/" + shareId).status == 204);
  CHECK(grainRequest(viewer.port, "GET", "/echo", viewer.cookie).status == 403);
  CHECK(anonymousApi("GET", "/api/shares/" + token).status == 404);
  CHECK(anonymousApi("POST", "/api/shares/" + token + "/open").status == 404);

  // --- trash and restore ---
  CHECK(server.api("POST", "/api/grains/" + grainId + "/trash", "{}").status == 200);
  // Its sessions end and its origin closes: refused (0) or 403, never the app.
  auto afterTrash = grainRequest(owner.port, "GET", "/echo", owner.cookie).status;
  CHECK((afterTrash == 0 || afterTrash == 403));
  CHECK(server.api("POST", "/api/grains/" + grainId + "/open", "{}").status == 409);
  auto trash = server.api("GET", "/api/grains?trash=1");
  CHECK(trash.body.find(grainId) != std::string::npos);
  CHECK(server.api("POST", "/api/grains/" + grainId + "/restore", "{}").status == 200);

  // --- one grain port, a second grain: the port changes hands and clears site data ---
  auto notesAppId = [&]() {
    auto list = server.api("GET", "/api/apps");
    auto pos = list.body.find("\"Notes\"");
    auto start = list.body.rfind("\"appId\":\"", pos);
    return list.body.substr(start + 9, 52);
  }();
  auto notes = server.api("POST", "/api/grains",
                          "{\"appId\":\"" + notesAppId + "\",\"actionIndex\":0}");
  CAPTURE(notes.body);
  REQUIRE(notes.status == 201);
  auto notesOpen = server.api("POST", "/api/grains/" + jsonField(notes.body, "id") + "/open",
                              "{}");
  CAPTURE(notesOpen.body);
  REQUIRE(notesOpen.status == 200);
  auto second = startGrainSession(jsonField(notesOpen.body, "url"));
  CHECK(second.port == grainPort);
  CHECK(second.start.header("Clear-Site-Data").find("storage") != std::string::npos);
  auto page = grainRequest(second.port, "GET", "/", second.cookie);
  CHECK(page.status == 200);
  CHECK(page.body.find("Notes") != std::string::npos);
  // Usage of the running grain comes from its cgroup.
  auto usage = server.api("GET", "/api/grains/" + jsonField(notes.body, "id") + "/usage");
  CAPTURE(usage.body);
  CHECK(jsonField(usage.body, "running") == "true");
  CHECK(std::stoll(jsonField(usage.body, "memoryBytes")) > 100 * 1024);
  CHECK(jsonField(usage.body, "oomKills") == "0");
  // The echo grain's old session cookie does not open the notes grain.
  CHECK(grainRequest(owner.port, "GET", "/", owner.cookie).status == 403);

  // --- the session sweep (every 5 s) runs with sessions open, and the server is still up ---
  usleep(6'500'000);
  CHECK(server.api("GET", "/api/session").status == 200);
  CHECK(grainRequest(second.port, "GET", "/", second.cookie).status == 200);

  // --- backup and restore: a note survives the round trip into a new grain ---
  auto added = grainRequest(second.port, "POST", "/add", second.cookie, "text=kept+in+backup");
  CHECK(added.status == 303);
  auto notesId = jsonField(notes.body, "id");
  auto backup = server.api("GET", "/api/grains/" + notesId + "/backup");
  CAPTURE(backup.head);
  REQUIRE(backup.status == 200);
  CHECK(backup.header("Content-Type") == "application/zstd");
  CHECK(backup.body.size() > 100);
  auto restored = server.api("POST", "/api/grains/restore", backup.body, "",
                             "application/octet-stream");
  CAPTURE(restored.body);
  REQUIRE(restored.status == 201);
  auto restoredId = jsonField(restored.body, "id");
  CHECK(restoredId != notesId);
  CHECK(jsonField(restored.body, "title").find("(restored)") != std::string::npos);
  // One grain port in this test: while the notes grain has a live session, there is no port
  // for another grain (a clear 503); leaving it frees the port.
  auto busy = server.api("POST", "/api/grains/" + restoredId + "/open", "{}");
  CHECK(busy.status == 503);
  CHECK(jsonField(busy.body, "error").find("grain ports") != std::string::npos);
  CHECK(server.api("DELETE", "/api/grain-sessions/" + jsonField(notesOpen.body, "sessionId"))
            .status == 204);
  auto restoredOpen = server.api("POST", "/api/grains/" + restoredId + "/open", "{}");
  CAPTURE(restoredOpen.body);
  REQUIRE(restoredOpen.status == 200);
  auto third = startGrainSession(jsonField(restoredOpen.body, "url"));
  auto restoredPage = grainRequest(third.port, "GET", "/", third.cookie);
  CHECK(restoredPage.body.find("kept in backup") != std::string::npos);
  // Garbage is refused with a reason, and leaves no grain behind.
  auto grainsBefore = server.api("GET", "/api/grains").body;
  auto garbage = server.api("POST", "/api/grains/restore", std::string(5000, 'x'), "",
                            "application/octet-stream");
  CHECK(garbage.status == 400);
  CHECK(jsonField(garbage.body, "error").find("not a grain backup") != std::string::npos);
  CHECK(server.api("GET", "/api/grains").body.size() == grainsBefore.size());

  // --- log out ---
  CHECK(server.api("POST", "/api/logout", "{}").status == 204);
  server.csrf = "";
  CHECK(server.api("GET", "/api/grains").status == 401);
}

}  // namespace ss::e2e
