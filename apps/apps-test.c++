// The demo apps the build packs: each .spk verifies with the expected title and version and
// unpacks with the command's files in place; the notes server answers and stores notes.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <kj/debug.h>

#include "base/fd.h"
#include "pkg/ids.h"
#include "pkg/reader.h"
#include "pkg/unpack.h"
#include "tests/test-support.h"

namespace ss::pkg {
namespace {

void checkApp(kj::StringPtr file, kj::StringPtr title, kj::StringPtr exe) {
  auto pkg = readPackage(kj::str(APPS_DIR, "/", file));
  CHECK(pkg->title() == title);
  CHECK(pkg->version() == 1);
  CHECK(parseAppId(pkg->appId) != nullptr);
  auto argv = pkg->manifest.getContinueCommand().getArgv();
  REQUIRE(argv.size() >= 4);
  CHECK(argv[0] == "/sandstorm-http-bridge");
  CHECK(argv[1] == "8000");
  CHECK(argv[3] == exe);
  ss::test::TempDir dir;
  auto dest = dir.file("unpacked");
  unpackTo(*pkg, dest);
  struct stat st;
  REQUIRE(stat(kj::str(dest, exe).cStr(), &st) == 0);
  CHECK((st.st_mode & 0111) != 0);
  CHECK(stat(kj::str(dest, "/var").cStr(), &st) == 0);
  removeTreeAt(AT_FDCWD, dest);
}

TEST_CASE("demo apps: notes.spk verifies and unpacks", "[apps]") {
  checkApp("notes.spk", "Notes", "/bin/notes");
}

TEST_CASE("demo apps: static-site.spk verifies and unpacks with busybox and the site",
          "[apps]") {
  checkApp("static-site.spk", "Static Site", "/bin/busybox");
  auto pkg = readPackage(kj::str(APPS_DIR, "/static-site.spk"));
  bool sawSite = false;
  for (auto f: pkg->archive.getFiles()) {
    if (f.getName() == "site" && f.isDirectory()) sawSite = true;
  }
  CHECK(sawSite);
}

TEST_CASE("demo apps: chat.spk verifies and unpacks", "[apps]") {
  checkApp("chat.spk", "Chat", "/bin/chat");
}

TEST_CASE("demo apps: the notes server stores, lists and deletes notes", "[apps]") {
  ss::test::TempDir dir;
  int port = 18000 + getpid() % 1000;
  pid_t pid = fork();
  if (pid == 0) {
    setenv("NOTES_DIR", dir.file("notes").cStr(), 1);
    auto portText = kj::str(port);
    execl(NOTES_BINARY, "notes", portText.cStr(), nullptr);
    _exit(127);
  }
  KJ_DEFER(kill(pid, SIGTERM); waitpid(pid, nullptr, 0));
  auto curl = [&](kj::StringPtr args, kj::StringPtr path = "") {
    auto command = kj::str("curl -s -S --retry 20 --retry-connrefused --retry-delay 0 ", args,
                           " http://127.0.0.1:", port, "/", path);
    FILE* pipe = popen(command.cStr(), "r");
    kj::Vector<char> out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.addAll(buffer, buffer + n);
    pclose(pipe);
    out.add('\0');
    return kj::String(out.releaseAsArray());
  };
  CHECK_THAT(curl("").cStr(), Catch::Contains("<h1>Notes</h1>"));
  auto status = curl("-o /dev/null -w '%{http_code}' -d 'text=buy+%3Cmilk%3E'", "add");
  CHECK(status == "303");
  auto page = curl("");
  CHECK_THAT(page.cStr(), Catch::Contains("buy &lt;milk&gt;"));
  // Delete via the id in the page.
  auto marker = kj::StringPtr("name=\"id\" value=\"");
  const char* at = strstr(page.cStr(), marker.cStr());
  REQUIRE(at != nullptr);
  auto id = kj::heapString(at + marker.size(), strchr(at + marker.size(), '"') -
                                                   (at + marker.size()));
  (void)curl(kj::str("-o /dev/null -d id=", id), "delete");
  CHECK_THAT(curl("").cStr(), !Catch::Contains("buy &lt;milk&gt;"));
}

}  // namespace
}  // namespace ss::pkg
