// Serves the shell's web UI (shell-ui/) from memory.
//
// Every file is read once at start, so a request never touches the filesystem: there is no
// path to traverse, no symlink to follow, and lookups are an exact match on the request path
// (no decoding, no normalisation: "/%2e%2e/x" is simply not a file we have). Responses carry a
// strong ETag (304 on If-None-Match), the right Content-Type, and the shell's security headers
// (CSP, X-Frame-Options, nosniff, Referrer-Policy...). Unknown paths get 404.html with 404.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include <kj/string.h>

#include "http/server.h"

namespace ss::shell {

class StaticFiles {
public:
  explicit StaticFiles(kj::StringPtr directory);
  // Loads every regular file under `directory` (symlinks and dotfiles are skipped). Throws with
  // the path if the directory cannot be read or holds more than the limits allow.

  bool serve(http::Exchange& exchange);
  // Answers GET/HEAD for a known path (or "/" -> index.html) and returns true; returns false
  // (without responding) when the path is not a file we have, so a router can try others.

  void notFound(http::Exchange& exchange);
  // 404 with the UI's 404.html (or a plain text fallback).

  size_t fileCount() const { return files.size(); }

  static std::string_view contentTypeFor(std::string_view path);
  static std::string_view securityHeaders();
  // The shell's security headers as a preformatted block ("Name: value\r\n"...).

private:
  struct File {
    std::string body;
    std::string etag;     // "\"<hex>\""
    std::string headers;  // Content-Type, ETag, Cache-Control and security headers
  };
  void load(const std::string& root, const std::string& relative, int depth);

  std::unordered_map<std::string, File> files;
  size_t totalBytes = 0;
};

}  // namespace ss::shell
