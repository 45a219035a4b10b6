// Grains (shell/API.md "Grains"): create from an app action, list, rename, trash and restore
// (purged after a configurable time), open in a grain origin, log and usage. And sharing
// (shell/API.md "Sharing"): links that carry one of the app's roles, revocable at once.
#pragma once

#include <sqlite3.h>

#include "shell/api.h"
#include "shell/apps.h"
#include "shell/grain-host.h"
#include "shell/origins.h"

namespace ss::shell {

struct Role {
  kj::String title;
  kj::Array<bool> permissions;
  bool readOnly = false;
};

class Grains final: public ApiModule {
public:
  Grains(sqlite3* db, kj::StringPtr dataDir, Apps& apps, GrainHost& host);

  void setOrigins(GrainOrigins& o) { origins = o; }
  GrainSpec specFor(kj::StringPtr grainId);
  // How to run this grain now: its package, storage, and the action's command on its first
  // start or the app's continueCommand after. Throws ApiError 404 for a deleted grain.

  kj::Array<Role> roles(kj::StringPtr grainId);
  // The app's roles (sandstorm-http-bridge-config viewInfo), or "can edit" / "can view".
  GrainIdentity ownerIdentity(const User& user, kj::StringPtr grainId);
  GrainIdentity identityFor(kj::Maybe<const User&> user, kj::StringPtr grainId, uint32_t role,
                            int64_t shareId);

  void purgeTrash(int64_t olderThanSeconds);
  void deleteGrain(kj::StringPtr grainId);
  // Stops it, ends its sessions, removes its row and then its files, for good.
  void restartApp(kj::StringPtr appId);  // after an upgrade

  bool handleApi(ApiContext& context) override;

  kj::String grainJson(kj::StringPtr grainId, bool owner = true);
  kj::String grainDir(kj::StringPtr grainId) { return kj::str(grainsDir, "/", grainId); }

private:
  void requireOwner(const User& user, kj::StringPtr grainId);
  sqlite3* db;
  kj::String grainsDir;
  Apps& apps;
  GrainHost& host;
  kj::Maybe<GrainOrigins&> origins;
};

class Sharing final: public ApiModule {
public:
  Sharing(sqlite3* db, Grains& grains, GrainOrigins& origins);
  bool handleApi(ApiContext& context) override;

private:
  sqlite3* db;
  Grains& grains;
  GrainOrigins& origins;
};

kj::String openJson(const GrainOrigins::Opened& opened, kj::StringPtr title, kj::StringPtr role);

}  // namespace ss::shell
