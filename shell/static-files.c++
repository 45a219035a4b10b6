#include "shell/static-files.h"

#include <dirent.h>
#include <sys/stat.h>

#include <kj/debug.h>

#include "base/fd.h"

namespace ss::shell {

namespace {

constexpr size_t MAX_UI_FILE_BYTES = 8 << 20;    // one UI asset
constexpr size_t MAX_UI_TOTAL_BYTES = 64 << 20;  // the whole UI, held in memory
constexpr int MAX_UI_DEPTH = 8;

// FNV-1a, 64 bit: ETags only need to change when content changes, not resist attackers.
uint64_t fnv1a(std::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c: data) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool etagMatches(std::string_view ifNoneMatch, std::string_view etag) {
  // If-None-Match: "a", W/"b", * (RFC 9110 §13.1.2, weak comparison).
  size_t pos = 0;
  while (pos < ifNoneMatch.size()) {
    size_t comma = ifNoneMatch.find(',', pos);
    if (comma == std::string_view::npos) comma = ifNoneMatch.size();
    std::string_view item = ifNoneMatch.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

std::string_view StaticFiles::contentTypeFor(std::string_view path) {
  struct { std::string_view suffix, type; } types[] = {
      {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".webp", "image/webp"}, {".ico", "image/x-icon"}, {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"},
      {".webmanifest", "application/manifest+json"}, {".wasm", "application/wasm"},
  };
  for (auto& entry: types) {
    if (endsWith(path, entry.suffix)) return entry.type;
  }
  return "application/octet-stream";
}

std::string_view StaticFiles::securityHeaders() {
  return "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
         "img-src 'self' data:; connect-src 'self'; frame-src http: https:; object-src 'none'; "
         "base-uri 'none'; "
         "frame-ancestors 'none'; form-action 'self'\r\n"
         "X-Frame-Options: DENY\r\n"
         "X-Content-Type-Options: nosniff\r\n"
         "Referrer-Policy: same-origin\r\n"
         "Cross-Origin-Opener-Policy: same-origin\r\n"
         "Cross-Origin-Resource-Policy: same-origin\r\n"
         "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n";
}

StaticFiles::StaticFiles(kj::StringPtr directory) {
  struct stat st;
  KJ_SYSCALL(stat(directory.cStr(), &st), "UI directory (--ui-dir) not readable", directory);
  KJ_REQUIRE(S_ISDIR(st.st_mode), "UI path (--ui-dir) is not a directory", directory);
  load(directory.cStr(), "", 0);
  KJ_REQUIRE(files.count("/index.html") == 1, "UI directory has no index.html", directory);
}

void StaticFiles::load(const std::string& root, const std::string& relative, int depth) {
  KJ_REQUIRE(depth <= MAX_UI_DEPTH, "UI directory nested too deeply", root, relative);
  std::string dirPath = root + relative;
  DIR* dir = opendir(dirPath.c_str());
  if (dir == nullptr) KJ_FAIL_SYSCALL("opendir", errno, dirPath);
  KJ_DEFER(closedir(dir));
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;  // ., .., and hidden files are never served
    std::string rel = relative + "/" + name;
    struct stat st;
    KJ_SYSCALL(lstat((root + rel).c_str(), &st), root + rel);
    if (S_ISDIR(st.st_mode)) {
      load(root, rel, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      KJ_REQUIRE(size_t(st.st_size) <= MAX_UI_FILE_BYTES, "UI file too large", root + rel);
      auto content = readFile(kj::str((root + rel).c_str()));
      totalBytes += content.size();
      KJ_REQUIRE(totalBytes <= MAX_UI_TOTAL_BYTES, "UI directory too large", root);
      File file;
      file.body.assign(content.begin(), content.size());
      char hex[24];
      snprintf(hex, sizeof(hex), "\"%016llx\"", (unsigned long long)fnv1a(file.body));
      file.etag = hex;
      file.headers = "Content-Type: " + std::string(contentTypeFor(rel)) + "\r\n" +
                     "ETag: " + file.etag + "\r\n" +
                     // Revalidate every time (cheap 304s): the UI has no fingerprinted names,
                     // so an upgrade must never leave a stale app.js in a browser cache.
                     "Cache-Control: no-cache\r\n" + std::string(securityHeaders());
      files.emplace(rel, std::move(file));
    }
    // Symlinks, sockets, devices: skipped. The UI is ours; nothing there should be anything but
    // plain files, and following links could expose host files.
  }
}

bool StaticFiles::serve(http::Exchange& exchange) {
  auto& request = exchange.request();
  std::string_view path = request.target;
  size_t query = path.find('?');
  if (query != std::string_view::npos) path = path.substr(0, query);
  if (path == "/") path = "/index.html";
  auto it = files.find(std::string(path));
  if (it == files.end()) return false;
  if (!request.isGet() && !request.isHead()) {
    exchange.respond(405, {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain; charset=utf-8"}},
                     "405 Method Not Allowed\n", securityHeaders());
    return true;
  }
  const File& file = it->second;
  if (auto* inm = request.find("If-None-Match"); inm != nullptr && etagMatches(inm->value, file.etag)) {
    exchange.respond(304, {{"ETag", file.etag}, {"Cache-Control", "no-cache"}}, {},
                     securityHeaders());
    return true;
  }
  exchange.respond(200, {}, file.body, file.headers);
  return true;
}

void StaticFiles::notFound(http::Exchange& exchange) {
  auto it = files.find("/404.html");
  if (it != files.end()) {
    exchange.respond(404, {}, it->second.body, it->second.headers);
  } else {
    exchange.respond(404, {{"Content-Type", "text/plain; charset=utf-8"}}, "404 Not Found\n",
                     securityHeaders());
  }
}

}  // namespace ss::shell
