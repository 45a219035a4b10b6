// Package definitions and the `sandstorm spk` CLI, as a new app developer uses them.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <kj/debug.h>

#include "base/fd.h"
#include "pkg/pkgdef.h"
#include "pkg/test-packages.h"

namespace ss::pkg {
namespace {

kj::String writeProject(ss::test::TempDir& dir, kj::StringPtr appId) {
  test::run(kj::str("mkdir -p '", dir.path(), "/src/secret' '", dir.path(), "/src/www' && "
                    "echo hi > '", dir.path(), "/src/www/index.html' && "
                    "echo no > '", dir.path(), "/src/secret/key' && "
                    "echo x > '", dir.path(), "/src/notes.txt'"));
  auto pkgdef = dir.file("sandstorm-pkgdef.capnp");
  test::writeAll(pkgdef, kj::str(
      "@0xd7c1b5a3f2e4c6a8;\n"
      "using Spk = import \"/sandstorm/package.capnp\";\n"
      "const pkgdef :Spk.PackageDefinition = (\n"
      "  id = \"", appId, "\",\n"
      "  manifest = (appTitle = (defaultText = \"Pkgdef Test\"), appVersion = 5,\n"
      "    appMarketingVersion = (defaultText = \"0.5\"),\n"
      "    actions = [(nounPhrase = (defaultText = \"note\"), command = .cmd)],\n"
      "    continueCommand = .cmd),\n"
      "  sourceMap = (searchPath = [(sourcePath = \"src\", hidePaths = [\"secret\"]),\n"
      "                             (sourcePath = \"src/www\", packagePath = \"srv/www\")]),\n"
      "  bridgeConfig = (viewInfo = (permissions = [(name = \"edit\")])),\n"
      ");\n"
      "const cmd :Spk.Manifest.Command = (argv = [\"/sandstorm-http-bridge\", \"8000\", \"--\","
      " \"/bin/app\"]);\n").asBytes());
  return pkgdef;
}

TEST_CASE("pkgdef: sourceMap, hidePaths and packagePath build the expected tree",
          "[pkg][pkgdef]") {
  ss::test::TempDir dir;
  auto pkgdef = loadPackageDefinition(
      writeProject(dir, "vt1u1d3f918yhr7wg1wnchrut4ku5jacdy0gmxfwvc6ct26ppg9h"));
  CHECK(pkgdef.def.getManifest().getAppVersion() == 5);
  auto tree = buildPackageTree(pkgdef);
  CHECK(tree.find("sandstorm-manifest") != nullptr);
  CHECK(tree.find("sandstorm-http-bridge-config") != nullptr);
  CHECK(tree.find("notes.txt") != nullptr);
  CHECK(tree.find("www/index.html") != nullptr);
  CHECK(tree.find("srv/www/index.html") != nullptr);
  CHECK(tree.find("secret") == nullptr);
  CHECK(tree.find("var") != nullptr);
  CHECK(tree.find("proc/cpuinfo") != nullptr);
}

TEST_CASE("pkgdef: --include-binary brings the shared libraries and the ELF interpreter",
          "[pkg][pkgdef]") {
  PackageTree tree;
  addBinaryWithLibraries(tree, "/bin/ls");
  CHECK(tree.find("bin/ls") != nullptr);
  auto ldd = test::run("ldd /bin/ls");
  CHECK_THAT(ldd.cStr(), Catch::Contains("libc.so.6"));
  bool sawLibc = false;
  bool sawInterpreter = false;
  kj::Vector<kj::String> stack;
  // Find any regular file named libc.so.6 / ld-linux* anywhere in the tree.
  kj::Function<void(const PackageTree::Entry&)> walk = [&](const PackageTree::Entry& e) {
    if (e.name == "libc.so.6") sawLibc = true;
    if (e.name.startsWith("ld-linux")) {
      sawInterpreter = true;
      CHECK(e.kind == PackageTree::Kind::EXECUTABLE);
    }
    for (auto& child: e.children) walk(*child);
  };
  walk(tree.root());
  CHECK(sawLibc);
  CHECK(sawInterpreter);
}

TEST_CASE("spk CLI: keygen, listkeys, pack, verify, unpack, and clean failures", "[pkg][cli]") {
  ss::test::TempDir dir;
  auto bin = kj::str(SANDSTORM_BINARY);
  auto ring = dir.file("keyring");
  auto appId = test::run(kj::str(bin, " spk keygen -k '", ring, "'"));
  while (appId.endsWith("\n")) appId = kj::str(appId.slice(0, appId.size() - 1));
  REQUIRE(appId.size() == 52);
  CHECK(test::run(kj::str(bin, " spk listkeys -k '", ring, "'")) == kj::str(appId, "\n"));
  auto pkgdef = writeProject(dir, appId);
  for (auto format: {"", "--xz"}) {
    auto spk = dir.file(kj::str("app", format, ".spk"));
    test::run(kj::str(bin, " spk pack ", format, " -k '", ring, "' '", pkgdef, "' '", spk, "'"));
    auto out = test::run(kj::str(bin, " spk verify '", spk, "'"));
    CHECK_THAT(out.cStr(), Catch::Contains(kj::str("app-id: ", appId).cStr()));
    CHECK_THAT(out.cStr(), Catch::Contains("title: Pkgdef Test"));
    CHECK_THAT(out.cStr(), Catch::Contains("version: 5"));
    auto dest = dir.file(kj::str("out", format));
    test::run(kj::str(bin, " spk unpack '", spk, "' '", dest, "'"));
    CHECK(readFile(kj::str(dest, "/srv/www/index.html")) == "hi\n");
    test::run(kj::str("chmod -R u+w '", dest, "'"));
  }
  // getkey output is a keyring another machine can use.
  test::run(kj::str(bin, " spk getkey -k '", ring, "' ", appId, " > '", dir.file("k2"), "'"));
  CHECK(test::run(kj::str(bin, " spk listkeys -k '", dir.file("k2"), "'")) ==
        kj::str(appId, "\n"));

  // Failures: non-zero exit and a message on stderr.
  auto fails = [&](kj::StringPtr args, kj::StringPtr expected) {
    auto command = kj::str(bin, " spk ", args, " 2>&1; echo \"exit=$?\"");
    FILE* pipe = popen(command.cStr(), "r");
    char buffer[4096];
    size_t n = fread(buffer, 1, sizeof(buffer) - 1, pipe);
    buffer[n] = '\0';
    pclose(pipe);
    CAPTURE(command.cStr(), buffer);
    CHECK_THAT(buffer, Catch::Contains(expected.cStr()));
    CHECK_THAT(buffer, !Catch::Contains("exit=0"));
  };
  fails(kj::str("verify '", dir.file("missing.spk"), "'"), "No such file");
  fails(kj::str("verify '", pkgdef, "'"), "bad magic");
  fails(kj::str("pack -k '", dir.file("empty-ring"), "' '", pkgdef, "' '", dir.file("x.spk"),
                "'"), "no key for app ID");
  fails(kj::str("unpack '", dir.file("app.spk"), "' '", dir.file("out"), "'"),
        "already exists");
  fails("getkey -k /nonexistent nope", "no key");
}

}  // namespace
}  // namespace ss::pkg
