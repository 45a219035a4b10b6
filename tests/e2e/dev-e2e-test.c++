// `sandstorm dev` end to end: a real demo package (notes.spk from the build), unpacked with the
// real CLI, served by the real daemon through a real sandbox, our bridge, and the app.
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/clock.h"
#include "tests/e2e/e2e-support.h"
#include "tests/test-support.h"

using ss::e2e::DevServer;
using ss::e2e::run;

namespace {

std::string grainCgroup;  // "/dev-notes-<hash>/": this test's grain only (tests run in parallel)

// The dev server names its grain "dev-<dir name>-<FNV-1a of the grain's storage path>".
std::string devGrainCgroup(const std::string& dataDir) {
  uint32_t hash = 2166136261u;
  for (char c: dataDir + "/notes") hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
  char text[64];
  snprintf(text, sizeof(text), "/dev-notes-%x\n", hash);
  return text;
}

int grainProcesses() { return ss::e2e::grainProcesses(grainCgroup); }

}  // namespace

TEST_CASE("sandstorm dev serves the notes app from a real spk and keeps its data", "[e2e]") {
  if (geteuid() != 0) SS_SKIP("grains need root or user namespaces with cgroups; CI runs as root");
#ifdef SANDSTORM_BRIDGE_NOT_STATIC
  SS_SKIP("sanitizer build: the bridge cannot be linked statically, so it cannot run inside a "
          "package root (the normal build runs this test)");
#endif
  ss::test::TempDir temp;
  // The grain runs as its own uid: it must be able to reach the package and its storage.
  REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
  std::string appDir = temp.file("notes").cStr();
  std::string dataDir = temp.file("data").cStr();
  REQUIRE(run({SANDSTORM_BINARY, "spk", "unpack", NOTES_SPK, appDir}) == 0);
  grainCgroup = devGrainCgroup(dataDir);

  {
    DevServer dev(appDir, dataDir, 1);
    auto page = dev.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    CAPTURE(page);
    REQUIRE(page.find("HTTP/1.1 200") == 0);
    CHECK(page.find("Notes") != std::string::npos);
    CHECK(grainProcesses() >= 2);  // the bridge and the app, in this grain's cgroup

    std::string form = "text=hello+from+the+sandbox";
    auto added = dev.request("POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                             "Content-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form);
    CAPTURE(added);
    CHECK((added.find("HTTP/1.1 303") == 0 || added.find("HTTP/1.1 200") == 0 ||
           added.find("HTTP/1.1 302") == 0));

    // Idle: with nothing in flight the grain stops after its idle timeout (1 s here)...
    auto deadline = ss::monotonicNowMs() + 10000;
    while (grainProcesses() != 0) {
      REQUIRE(ss::monotonicNowMs() < deadline);
      usleep(100000);
    }
    // ...and the next request starts it again, with the note still there.
    page = dev.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    CHECK(page.find("hello from the sandbox") != std::string::npos);
  }
  // A fresh dev server (a "reboot"), given the .spk itself this time, keeps the grain's /var.
  DevServer again(NOTES_SPK, dataDir, 60);
  auto page = again.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CHECK(page.find("hello from the sandbox") != std::string::npos);
}

TEST_CASE("sandstorm dev packs and runs an app's source directory (sandstorm-pkgdef.capnp)",
          "[e2e]") {
  if (geteuid() != 0) SS_SKIP("grains need root or user namespaces with cgroups; CI runs as root");
  if (access("/bin/busybox", X_OK) != 0) SS_SKIP("/bin/busybox is missing (busybox-static)");
#ifdef SANDSTORM_BRIDGE_NOT_STATIC
  SS_SKIP("sanitizer build: the bridge cannot be linked statically (the normal build runs this)");
#endif
  ss::test::TempDir temp;
  REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
  std::string src = temp.file("my-site").cStr();
  REQUIRE(run({"/bin/mkdir", "-p", src + "/site", src + "/bin"}) == 0);
  REQUIRE(run({"/bin/cp", "/bin/busybox", src + "/bin/busybox"}) == 0);
  REQUIRE(run({"/bin/sh", "-c", "echo '<h1>made in dev</h1>' > " + src + "/site/index.html"}) ==
          0);
  // A pkgdef whose id has no key in any keyring: dev signs with a throwaway key.
  std::string pkgdef =
      "@0xd1e2c3b4a5968778;\n"
      "using Spk = import \"/sandstorm/package.capnp\";\n"
      "const pkgdef :Spk.PackageDefinition = (\n"
      "  id = \"vjqzfk1tsd4myamd9a47yxu8ntvm51kp2swkd3t5e7ugt7cnp8mh\",\n"
      "  manifest = (appTitle = (defaultText = \"My Site\"), appVersion = 1,\n"
      "    actions = [(input = (none = void), nounPhrase = (defaultText = \"site\"),\n"
      "                command = .command)],\n"
      "    continueCommand = .command),\n"
      "  sourceMap = (searchPath = [(sourcePath = \"" + src + "\")]));\n"
      "const command :Spk.Manifest.Command = (\n"
      "  argv = [\"/sandstorm-http-bridge\", \"8000\", \"--\", \"/bin/busybox\", \"httpd\", \"-f\",\n"
      "          \"-p\", \"127.0.0.1:8000\", \"-h\", \"/site\"]);\n";
  REQUIRE(run({"/bin/sh", "-c", "cat > " + src + "/sandstorm-pkgdef.capnp <<'EOF'\n" + pkgdef +
                                "EOF\n"}) == 0);
  DevServer dev(src, temp.file("data").cStr(), 60);
  auto page = dev.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CAPTURE(page);
  CHECK(page.find("HTTP/1.1 200") == 0);
  CHECK(page.find("made in dev") != std::string::npos);
}
