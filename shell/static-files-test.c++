#include "shell/static-files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/test-server.h"
#include "shell/data-dir.h"
#include "shell/shell.h"
#include "tests/test-support.h"

namespace {

void writeFile(const kj::String& path, std::string_view content) {
  int fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, content.data(), content.size()) == (ssize_t)content.size());
  close(fd);
}

struct UiFixture {
  UiFixture() {
    writeFile(dir.file("index.html"), "<!doctype html><title>Sandstorm</title>");
    writeFile(dir.file("404.html"), "<p>Page not found</p>");
    writeFile(dir.file("style.css"), "body{}");
    writeFile(dir.file(".hidden"), "secret");
    REQUIRE(mkdir(dir.file("img").cStr(), 0755) == 0);
    writeFile(dir.file("img/logo.svg"), "<svg/>");
    REQUIRE(symlink("/etc/passwd", dir.file("passwd").cStr()) == 0);
  }
  ss::test::TempDir dir;
};

std::string get(ss::http::test::TestServer& server, std::string target, std::string extra = "") {
  return server.roundTrip("GET " + target + " HTTP/1.1\r\nHost: a\r\n" + extra +
                          "Connection: close\r\n\r\n");
}

std::string header(const std::string& response, const std::string& name) {
  auto pos = response.find("\r\n" + name + ": ");
  if (pos == std::string::npos) return "";
  pos += name.size() + 4;
  return response.substr(pos, response.find("\r\n", pos) - pos);
}

}  // namespace

TEST_CASE("the shell serves UI files with types, ETags and security headers", "[shell]") {
  UiFixture ui;
  ss::shell::StaticFiles files(ui.dir.path());
  CHECK(files.fileCount() == 4);  // index, 404, style, img/logo (no hidden file, no symlink)
  ss::test::TempDir dataDir;
  ss::shell::DataDir store(dataDir.path());
  ss::shell::Accounts accounts(store.db());
  ss::shell::Shell shell(files, accounts, kj::heapArray<ss::shell::ApiModule*>({&accounts}));
  ss::http::test::TestServer server(shell);

  auto index = get(server, "/");
  CHECK(index.find("HTTP/1.1 200 OK") == 0);
  CHECK(header(index, "Content-Type") == "text/html; charset=utf-8");
  CHECK(header(index, "X-Frame-Options") == "DENY");
  CHECK(header(index, "X-Content-Type-Options") == "nosniff");
  CHECK(header(index, "Referrer-Policy") == "same-origin");
  CHECK(header(index, "Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos);
  CHECK(header(index, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(index.find("<title>Sandstorm</title>") != std::string::npos);

  CHECK(header(get(server, "/style.css?v=1"), "Content-Type") == "text/css; charset=utf-8");
  CHECK(header(get(server, "/img/logo.svg"), "Content-Type") == "image/svg+xml");

  auto etag = header(index, "ETag");
  REQUIRE(etag.size() == 18);
  auto notModified = get(server, "/", "If-None-Match: " + etag + "\r\n");
  CHECK(notModified.find("HTTP/1.1 304 Not Modified") == 0);
  CHECK(notModified.find("Content-Length") == std::string::npos);
  CHECK(notModified.substr(notModified.size() - 4) == "\r\n\r\n");  // no body
  CHECK(get(server, "/", "If-None-Match: \"other\", W/" + etag + "\r\n").find("HTTP/1.1 304") == 0);
  CHECK(get(server, "/", "If-None-Match: \"other\"\r\n").find("HTTP/1.1 200") == 0);
}

TEST_CASE("unknown, hidden, symlinked and traversal paths get the 404 page", "[shell]") {
  UiFixture ui;
  ss::shell::StaticFiles files(ui.dir.path());
  ss::test::TempDir dataDir;
  ss::shell::DataDir store(dataDir.path());
  ss::shell::Accounts accounts(store.db());
  ss::shell::Shell shell(files, accounts, kj::heapArray<ss::shell::ApiModule*>({&accounts}));
  ss::http::test::TestServer server(shell);
  for (auto path: {"/nope", "/.hidden", "/passwd", "/../etc/passwd", "/%2e%2e/etc/passwd",
                   "/img/../index.html", "/index.html/", "//index.html", "/img"}) {
    CAPTURE(path);
    auto reply = get(server, path);
    CHECK(reply.find("HTTP/1.1 404 Not Found") == 0);
    CHECK(reply.find("Page not found") != std::string::npos);
    CHECK(reply.find("root:") == std::string::npos);
  }
  auto post = server.roundTrip("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n");
  CHECK(post.find("HTTP/1.1 405 ") == 0);
  CHECK(header(post, "Allow") == "GET, HEAD");
  auto health = get(server, "/api/health");
  CHECK(health.find("HTTP/1.1 200") == 0);
  CHECK(health.find("{\"status\":\"ok\",\"store\":\"ok\"") != std::string::npos);
  CHECK(get(server, "/api/nothing").find("HTTP/1.1 404") == 0);
}

TEST_CASE("a UI directory without index.html is refused with its path", "[shell]") {
  ss::test::TempDir dir;
  REQUIRE_THROWS_WITH(ss::shell::StaticFiles(dir.path()), Catch::Contains("index.html"));
  REQUIRE_THROWS_WITH(ss::shell::StaticFiles(dir.file("missing")),
                      Catch::Contains("--ui-dir"));
}
