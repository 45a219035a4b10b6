// `sandstorm spk`: keys, packing, verifying and unpacking .spk files. Every failure ends in one
// clear message and a non-zero exit (kj::MainBuilder's exitError).
#include "cli/spk-command.h"

#include "cli/errors.h"

#include <stdlib.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

#include "config.h"
#include "pkg/ids.h"
#include "pkg/format.h"
#include "pkg/keyring.h"
#include "pkg/pkgdef.h"
#include "pkg/reader.h"
#include "pkg/reject.h"
#include "pkg/unpack.h"
#include "pkg/writer.h"

namespace ss::cli {

namespace {

kj::String messageOf(const kj::Exception& e) {
  // Rejections are already sentences. Other KJ errors read "expected <condition>; <message>;
  // name = value": keep the message and the values, drop our source's condition.
  kj::StringPtr text = e.getDescription();
  if (text.startsWith("expected ")) {
    KJ_IF_MAYBE(semi, text.findFirst(';')) {
      if (*semi + 2 < text.size()) text = text.slice(*semi + 2);
    }
  }
  return kj::str(text);
}

class SpkCommand {
public:
  explicit SpkCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Tools for app developers: make signing keys, pack a directory into a "
                           "signed .spk, verify and unpack packages. Packages we write are "
                           "zstd-compressed; --xz writes Sandstorm's original format. Both are "
                           "read everywhere.")
        .addSubCommand("keygen", KJ_BIND_METHOD(*this, getKeygenMain),
                       "Create a signing key (a new app ID) in the keyring.")
        .addSubCommand("listkeys", KJ_BIND_METHOD(*this, getListkeysMain),
                       "List the app IDs whose keys are in the keyring.")
        .addSubCommand("getkey", KJ_BIND_METHOD(*this, getGetkeyMain),
                       "Write one app's key to stdout (to merge into another keyring).")
        .addSubCommand("pack", KJ_BIND_METHOD(*this, getPackMain),
                       "Build and sign a package from a package definition.")
        .addSubCommand("verify", KJ_BIND_METHOD(*this, getVerifyMain),
                       "Check a package's signature and contents; print its IDs.")
        .addSubCommand("unpack", KJ_BIND_METHOD(*this, getUnpackMain),
                       "Verify a package and unpack it into a new directory.")
        .build();
  }

private:
  kj::ProcessContext& context;
  kj::String keyring;
  kj::Vector<kj::String> includeBinaries;
  kj::Vector<kj::String> importPaths;
  bool xz = false;
  int level = -1;

  kj::MainBuilder::Validity setKeyring(kj::StringPtr path) {
    keyring = kj::str(path);
    return true;
  }
  kj::StringPtr keyringPath() {
    if (keyring == nullptr) keyring = pkg::defaultKeyringPath();
    return keyring;
  }

  template <typename Func>
  kj::MainBuilder::Validity run(Func&& func) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions(kj::fwd<Func>(func))) {
      context.exitError(messageOf(*e));
    }
    return true;
  }

  kj::MainBuilder& withKeyring(kj::MainBuilder&& builder) {
    return builder.addOptionWithArg({'k', "keyring"}, KJ_BIND_METHOD(*this, setKeyring),
                                    "<file>", "Keyring file (default $HOME/.sandstorm-keyring).");
  }


  // ---- keygen / listkeys / getkey ------------------------------------------------------------

  kj::MainFunc getKeygenMain() {
    return withKeyring(kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
        "Generates a new ed25519 key pair, appends it to the keyring and prints "
                          "its app ID. Put that ID in your pkgdef's `id` field. Back the keyring "
                          "up: without the key you can never publish an update to the app."))
        .callAfterParsing(KJ_BIND_METHOD(*this, keygen))
        .build();
  }
  kj::MainBuilder::Validity keygen() {
    return run([&]() {
      auto key = pkg::generateKeyPair();
      pkg::appendToKeyring(keyringPath(), key);
      context.exitInfo(key.appId());
    });
  }

  kj::MainFunc getListkeysMain() {
    return withKeyring(kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
        "Prints the app ID of every key in the keyring, one per line."))
        .callAfterParsing(KJ_BIND_METHOD(*this, listkeys))
        .build();
  }
  kj::MainBuilder::Validity listkeys() {
    return run([&]() {
      for (auto& key: pkg::readKeyring(keyringPath())) {
        auto line = kj::str(key.appId(), "\n");
        KJ_SYSCALL(::write(STDOUT_FILENO, line.begin(), line.size()));
      }
    });
  }

  kj::MainFunc getGetkeyMain() {
    return withKeyring(kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
        "Writes the key for <app-id> to stdout as a one-entry keyring, e.g. "
                          "`sandstorm spk getkey <id> > app.key` (keep it secret), then "
                          "`cat app.key >> ~/.sandstorm-keyring` on another machine)."))
        .expectArg("<app-id>", KJ_BIND_METHOD(*this, getkey))
        .build();
  }
  kj::MainBuilder::Validity getkey(kj::StringPtr appId) {
    return run([&]() {
      KJ_IF_MAYBE(key, pkg::findKey(keyringPath(), appId)) {
        KJ_REQUIRE(isatty(STDOUT_FILENO) == 0,
                   "refusing to print a private key to a terminal; redirect stdout to a file");
        auto bytes = pkg::serializeKeyFile(*key);
        kj::FdOutputStream(STDOUT_FILENO).write(bytes.begin(), bytes.size());
      } else {
        context.exitError(kj::str("no key for app ID ", appId, " in ", keyringPath()));
      }
    });
  }

  // ---- pack ----------------------------------------------------------------------------------

  kj::MainFunc getPackMain() {
    return withKeyring(kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
               "Builds a package from a package definition (sandstorm-pkgdef.capnp, the same "
               "format as Sandstorm's; `<pkgdef>` may be `file:constName`, default constant "
               "`pkgdef`) and signs it with the key for the pkgdef's `id`."))
        .addOption({"xz"}, [this]() { xz = true; return true; },
                   "Write Sandstorm's original xz format (slower to unpack; for Sandstorm "
                   "servers).")
        .addOptionWithArg({"include-binary"}, KJ_BIND_METHOD(*this, addIncludeBinary),
                          "<path>",
                          "Also pack this host executable at the same path, with every shared "
                          "library and the ELF interpreter `ldd` finds for it. Repeatable.")
        .addOptionWithArg({'I', "import-path"}, KJ_BIND_METHOD(*this, addImportPath), "<dir>",
                          "Extra directory to search for capnp imports in the pkgdef.")
        .addOptionWithArg({'l', "level"}, KJ_BIND_METHOD(*this, setLevel), "<n>",
                          "Compression level (zstd 1-19, default 12; xz 0-9, default 6).")
        .expectArg("<pkgdef>", KJ_BIND_METHOD(*this, setPkgdef))
        .expectArg("<out.spk>", KJ_BIND_METHOD(*this, pack))
        .build();
  }
  kj::String pkgdefPath;
  kj::MainBuilder::Validity addIncludeBinary(kj::StringPtr path) {
    if (!path.startsWith("/")) return kj::str("--include-binary needs an absolute path");
    includeBinaries.add(kj::str(path));
    return true;
  }
  kj::MainBuilder::Validity addImportPath(kj::StringPtr path) {
    importPaths.add(kj::str(path));
    return true;
  }
  kj::MainBuilder::Validity setLevel(kj::StringPtr text) {
    char* end;
    long n = strtol(text.cStr(), &end, 10);
    if (text.size() > 0 && *end == '\0' && n >= 0 && n <= 19) {
      level = static_cast<int>(n);
      return true;
    }
    return kj::str("compression level must be a number from 0 to 19");
  }
  kj::MainBuilder::Validity setPkgdef(kj::StringPtr path) {
    pkgdefPath = kj::str(path);
    return true;
  }
  kj::MainBuilder::Validity pack(kj::StringPtr outPath) {
    return run([&]() {
      kj::Vector<kj::StringPtr> imports;
      for (auto& p: importPaths) imports.add(p);
      auto pkgdef = pkg::loadPackageDefinition(pkgdefPath, imports);
      kj::StringPtr appId = pkgdef.def.getId();
      if (pkg::parseAppId(appId) == nullptr) {
        context.exitError(kj::str(pkgdefPath, ": id \"", appId, "\" is not an app ID; run "
                                  "`sandstorm spk keygen` and put the ID it prints there"));
      }
      auto maybeKey = pkg::findKey(keyringPath(), appId);
      KJ_IF_MAYBE(key, maybeKey) {
        kj::Vector<kj::StringPtr> binaries;
        for (auto& b: includeBinaries) binaries.add(b);
        pkg::BuildOptions buildOptions;
        buildOptions.includeBinaries = binaries;
        auto tree = pkg::buildPackageTree(pkgdef, buildOptions);
        pkg::WriteOptions options;
        options.codec = xz ? pkg::Codec::XZ : pkg::Codec::ZSTD;
        options.level = level;
        auto result = pkg::writePackage(tree, *key, outPath, options);
        context.exitInfo(kj::str(outPath, ": app ", result.appId, ", package ",
                                 result.packageId, " (", result.fileBytes, " bytes, ",
                                 result.archiveBytes, " unpacked)"));
      } else {
        context.exitError(kj::str("no key for app ID ", appId, " in ", keyringPath(),
                                  " (wrong keyring? use -k, or `sandstorm spk getkey` on the "
                                  "machine that has it)"));
      }
    });
  }

  // ---- verify / unpack -----------------------------------------------------------------------

  kj::MainFunc getVerifyMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Reads the whole package, checks its signature, its file tree and "
                           "its manifest, and prints app-id, package-id, title, version, "
                           "marketing-version and format, one `key: value` per line.")
        .expectArg("<file.spk>", KJ_BIND_METHOD(*this, verify))
        .build();
  }
  kj::MainBuilder::Validity verify(kj::StringPtr path) {
    return run([&]() {
      auto pkg = pkg::readPackage(path);
      auto text = kj::str("app-id: ", pkg->appId, "\npackage-id: ", pkg->packageId,
                          "\ntitle: ", pkg->title(), "\nversion: ", pkg->version(),
                          "\nmarketing-version: ", pkg->marketingVersion(),
                          "\nformat: ", pkg::formatName(pkg->codec),
                          "\nfiles: ", pkg->totals.entries, "\nunpacked-bytes: ",
                          pkg->totals.bytes, "\n");
      kj::FdOutputStream(STDOUT_FILENO).write(text.begin(), text.size());
    });
  }

  kj::MainFunc getUnpackMain() {
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Verifies <file.spk> and unpacks it into <dir>, which must not exist. "
                           "The tree is made read-only (`chmod -R u+w <dir>` before deleting it).")
        .expectArg("<file.spk>", KJ_BIND_METHOD(*this, setPkgdef))
        .expectArg("<dir>", KJ_BIND_METHOD(*this, unpack))
        .build();
  }
  kj::MainBuilder::Validity unpack(kj::StringPtr dir) {
    return run([&]() {
      auto pkg = pkg::readPackage(pkgdefPath);
      pkg::unpackTo(*pkg, dir);
      context.exitInfo(kj::str(dir, ": ", pkg->title(), " (app ", pkg->appId, ", package ",
                               pkg->packageId, ")"));
    });
  }
};

}  // namespace

kj::MainFunc spkCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<SpkCommand>(context));
}

}  // namespace ss::cli
