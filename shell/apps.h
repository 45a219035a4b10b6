// Installed apps: upload (streamed to disk, verified, unpacked once by package id), the upgrade
// rule (same key, newer version, confirmed by the user), uninstall, and the demo apps offered on
// first start. Endpoints: shell/API.md "Apps".
#pragma once

#include <sqlite3.h>

#include <capnp/serialize.h>

#include "reactor/reactor.h"
#include "rpc/package.capnp.h"
#include "shell/api.h"

namespace ss::shell {

class GrainHost;

struct PackageInfo {
  kj::String packageId;
  kj::String appId;
  kj::String title;
  kj::String packageDir;  // the unpacked, read-only package
  kj::Array<capnp::word> manifestWords;
  kj::Own<capnp::FlatArrayMessageReader> message;
  spk::Manifest::Reader manifest() { return message->getRoot<spk::Manifest>(); }
};

class Apps final: public ApiModule {
public:
  Apps(sqlite3* db, reactor::Reactor& reactor, kj::StringPtr dataDir);

  enum class InstallResult { INSTALLED, ALREADY_INSTALLED, UPGRADE_PENDING };
  struct Installed {
    InstallResult result;
    kj::String appId;
  };
  Installed installFile(kj::StringPtr spkPath, int64_t userId,
                        kj::StringPtr displayName = nullptr);
  // Verifies and installs a package file; ApiError (400/409) with the reason when refused.

  void installDemoApps(kj::StringPtr directory);
  // On a fresh server: installs every *.spk in `directory` (the build's demo apps).

  kj::Own<PackageInfo> package(kj::StringPtr packageId);
  // A package that is installed (throws ApiError 404 otherwise).
  kj::Maybe<kj::String> currentPackage(kj::StringPtr appId);

  kj::Function<void(kj::StringPtr appId)> onUpgrade = [](kj::StringPtr) {};
  // Called after an upgrade is confirmed: the grains module moves the app's grains over and
  // restarts them.

  bool handleApi(ApiContext& context) override;
  http::Handler::BodyPolicy bodyPolicy(const http::Request& request) override;

  kj::String appJson(kj::StringPtr appId);

  struct InstallCounts {
    // For /metrics: installFile() outcomes (uploads and demo apps).
    uint64_t installed = 0, alreadyInstalled = 0, upgradePending = 0, refused = 0;
  };
  const InstallCounts& installCounts() const { return counts; }

private:
  void upload(ApiContext& context);
  Installed doInstallFile(kj::StringPtr spkPath, int64_t userId, kj::StringPtr displayName);
  // installFile()'s work; installFile() counts the outcome.
  sqlite3* db;
  reactor::Reactor& reactor;
  kj::String packagesDir;
  kj::String uploadsDir;
  uint64_t uploadCounter = 0;
  InstallCounts counts;
};

}  // namespace ss::shell
