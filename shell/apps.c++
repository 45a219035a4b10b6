#include "shell/apps.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <string_view>

#include <kj/debug.h>
#include <kj/vector.h>

#include "base/fd.h"
#include "base/log.h"
#include "pkg/reader.h"
#include "pkg/unpack.h"
#include "reactor/splice.h"
#include "shell/orphans.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

// Bigger uploads are refused before a byte is stored (pkg/limits.h bounds what unpacks).
constexpr uint64_t MAX_UPLOAD_BYTES = 4ull << 30;

// Disk full (or over quota) while storing or unpacking an upload: the person can fix that, so
// it gets 507 and says so instead of a 500 with an errno.
bool isOutOfSpace(const kj::Exception& e) {
  std::string_view d(e.getDescription().cStr());
  return d.find("ENOSPC") != d.npos || d.find("EDQUOT") != d.npos ||
         d.find("No space left") != d.npos;
}

kj::String outOfSpaceMessage(kj::StringPtr dir, uint64_t size) {
  struct statvfs fs;
  uint64_t freeBytes = statvfs(dir.cStr(), &fs) == 0 ? uint64_t(fs.f_bavail) * fs.f_frsize : 0;
  return kj::str("not enough disk space on the server for this package (", (size >> 20) + 1,
                 " MiB uploaded, ", freeBytes >> 20, " MiB free); nothing was installed");
}

kj::String text(const spk::Manifest::Reader& m, kj::StringPtr which) {
  if (which == "title") return kj::heapString(m.getAppTitle().getDefaultText());
  if (which == "version") return kj::heapString(m.getAppMarketingVersion().getDefaultText());
  auto meta = m.getMetadata();
  auto d = meta.getShortDescription().getDefaultText();
  if (d.size() == 0) d = meta.getDescription().getDefaultText();
  return kj::heapString(d.size() > 500 ? d.slice(0, 500) : d);
}

}  // namespace

Apps::Apps(sqlite3* db, reactor::Reactor& reactor, kj::StringPtr dataDir)
    : db(db), reactor(reactor), packagesDir(kj::str(dataDir, "/packages")),
      uploadsDir(kj::str(dataDir, "/uploads")) {
  makeDirectories(packagesDir, 0711);
  makeDirectories(uploadsDir, 0700);
  int fd;
  KJ_SYSCALL(fd = open(packagesDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), packagesDir);
  AutoCloseFd dir(fd);
  pkg::cleanStaleUnpacks(fd);
  // Unpacked but never recorded, or half removed by an uninstall: a later install of the same
  // package would take a half-removed directory for a complete one.
  removeOrphans(db, packagesDir, "SELECT COUNT(*) FROM packages WHERE package_id = ?",
                "package");
  // Uploads interrupted by a crash are garbage, and so are the metadata directories of grain
  // backups a crash cut off (unlink() alone left those behind: found by tests/durability).
  {
    kj::Vector<kj::String> stale;
    if (DIR* d = opendir(uploadsDir.cStr())) {
      while (dirent* e = readdir(d)) {
        kj::StringPtr name = e->d_name;
        if (name != "." && name != "..") stale.add(kj::str(name));
      }
      closedir(d);
    }
    KJ_SYSCALL(fd = open(uploadsDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), uploadsDir);
    AutoCloseFd uploads(fd);
    for (auto& name: stale) pkg::removeTreeAt(fd, name);
  }
}

Apps::Installed Apps::installFile(kj::StringPtr spkPath, int64_t userId,
                                 kj::StringPtr displayName) {
  KJ_ON_SCOPE_FAILURE(counts.refused++);
  auto result = doInstallFile(spkPath, userId, displayName);
  switch (result.result) {
    case InstallResult::INSTALLED: counts.installed++; break;
    case InstallResult::ALREADY_INSTALLED: counts.alreadyInstalled++; break;
    case InstallResult::UPGRADE_PENDING: counts.upgradePending++; break;
  }
  return result;
}

Apps::Installed Apps::doInstallFile(kj::StringPtr spkPath, int64_t userId,
                                         kj::StringPtr displayName) {
  kj::Own<pkg::VerifiedPackage> verified;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    int fd;
    KJ_SYSCALL(fd = open(spkPath.cStr(), O_RDONLY | O_CLOEXEC), spkPath);
    AutoCloseFd file(fd);
    verified = pkg::readPackage(fd, displayName == nullptr ? spkPath : displayName);
  })) {
    throw ApiError(400, kj::str("this package was refused: ", e->getDescription()));
  }
  auto& p = *verified;
  auto manifest = p.manifest;
  int64_t now = unixNow();
  auto existing = currentPackage(p.appId);
  KJ_IF_MAYBE(current, existing) {
    if (*current == p.packageId) return {InstallResult::ALREADY_INSTALLED, kj::str(p.appId)};
    int64_t installedVersion = sqlInteger(
        db, "SELECT version FROM packages WHERE package_id = ?", {*current});
    if (int64_t(p.version()) <= installedVersion) {
      throw ApiError(409, kj::str(
          "version ", p.version(), " (", p.marketingVersion(), ") of ", p.title(),
          " is not newer than the installed version ", installedVersion,
          "; an older or equal version never replaces an installed app"));
    }
  }

  int fd;
  KJ_SYSCALL(fd = open(packagesDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), packagesDir);
  AutoCloseFd dir(fd);
  pkg::installPackage(p, fd);

  auto manifestBytes = p.manifestWords.asBytes();
  return sqlTransaction(db, [&]() -> Installed {
    sqlExec(db,
            "INSERT OR IGNORE INTO packages (package_id, app_id, version, marketing_version, "
            "title, description, manifest, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            {p.packageId, p.appId, int64_t(p.version()), p.marketingVersion(), p.title(),
             text(manifest, "description"),
             kj::ArrayPtr<const kj::byte>(manifestBytes.begin(), manifestBytes.size()), now});
    if (existing == nullptr) {
      sqlExec(db, "INSERT INTO apps (app_id, package_id, installed_at, installed_by) "
                  "VALUES (?, ?, ?, ?)",
              {p.appId, p.packageId, now, userId > 0 ? SqlValue(userId) : SqlValue(SqlNull())});
      SS_LOG(INFO, "apps", "installed", p.appId, p.packageId);
      return {InstallResult::INSTALLED, kj::str(p.appId)};
    }
    sqlExec(db, "UPDATE apps SET pending_package_id = ? WHERE app_id = ?",
            {p.packageId, p.appId});
    SS_LOG(INFO, "apps", "upgrade pending", p.appId, p.packageId);
    return {InstallResult::UPGRADE_PENDING, kj::str(p.appId)};
  });
}

void Apps::installDemoApps(kj::StringPtr directory) {
  DIR* d = opendir(directory.cStr());
  if (d == nullptr) {
    SS_LOG(WARNING, "apps", "no demo apps directory", directory);
    return;
  }
  kj::Vector<kj::String> files;
  while (dirent* e = readdir(d)) {
    kj::StringPtr name = e->d_name;
    if (name.endsWith(".spk")) files.add(kj::str(directory, "/", name));
  }
  closedir(d);
  for (auto& file: files) {
    try {
      auto result = installFile(file, 0);
      SS_LOG(INFO, "apps", "demo app", file, result.appId);
    } catch (ApiError& e) {
      SS_LOG(WARNING, "apps", "demo app refused", file, e.message);
    }
  }
}

kj::Maybe<kj::String> Apps::currentPackage(kj::StringPtr appId) {
  Statement s(db, "SELECT package_id FROM apps WHERE app_id = ?", {appId});
  if (s.next()) return s.text(0);
  return nullptr;
}

kj::Own<PackageInfo> Apps::package(kj::StringPtr packageId) {
  Statement s(db, "SELECT app_id, title, manifest FROM packages WHERE package_id = ?",
              {packageId});
  if (!s.next()) throw ApiError(404, kj::str("this app's package is not installed"));
  auto info = kj::heap<PackageInfo>();
  info->packageId = kj::heapString(packageId);
  info->appId = s.text(0);
  info->title = s.text(1);
  info->packageDir = kj::str(packagesDir, "/", packageId);
  auto bytes = s.blob(2);
  info->manifestWords = kj::heapArray<capnp::word>((bytes.size() + 7) / 8);
  memset(info->manifestWords.begin(), 0, info->manifestWords.asBytes().size());
  memcpy(info->manifestWords.begin(), bytes.begin(), bytes.size());
  info->message = kj::heap<capnp::FlatArrayMessageReader>(info->manifestWords);
  return info;
}

kj::String Apps::appJson(kj::StringPtr appId) {
  Statement s(db,
              "SELECT a.app_id, a.package_id, p.title, p.version, p.marketing_version, "
              "p.description, a.installed_at, a.pending_package_id, "
              "(SELECT COUNT(*) FROM grains g WHERE g.app_id = a.app_id AND g.trashed_at IS NULL) "
              "FROM apps a JOIN packages p ON p.package_id = a.package_id WHERE a.app_id = ?",
              {appId});
  if (!s.next()) throw ApiError(404, kj::str("no such app"));
  JsonWriter w;
  w.beginObject()
      .field("appId", s.text(0))
      .field("packageId", s.text(1))
      .field("title", s.text(2))
      .field("version", s.integer(3))
      .field("marketingVersion", s.text(4))
      .field("description", s.text(5))
      .field("installedAt", s.integer(6))
      .field("grainCount", s.integer(8));
  auto info = package(s.text(1));
  auto actions = info->manifest().getActions();
  w.key("actions").beginArray();
  for (uint i = 0; i < actions.size(); i++) {
    auto a = actions[i];
    if (!a.getInput().isNone()) continue;  // powerbox actions are not offered as "New ..."
    kj::StringPtr noun = a.getNounPhrase().getDefaultText();
    auto title = noun.size() > 0 ? kj::str("New ", noun)
                                 : a.getTitle().getDefaultText().size() > 0
                                       ? kj::heapString(a.getTitle().getDefaultText())
                                       : kj::str("New ", info->title, " grain");
    w.beginObject().field("index", int64_t(i)).field("title", title).endObject();
  }
  w.endArray();
  if (s.isNull(7)) {
    w.nullField("pendingUpgrade");
  } else {
    Statement p(db, "SELECT package_id, version, marketing_version FROM packages "
                    "WHERE package_id = ?", {s.text(7)});
    KJ_ASSERT(p.next());
    w.key("pendingUpgrade").beginObject()
        .field("packageId", p.text(0)).field("version", p.integer(1))
        .field("marketingVersion", p.text(2)).endObject();
  }
  w.endObject();
  return w.finish();
}

http::Handler::BodyPolicy Apps::bodyPolicy(const http::Request& request) {
  bool upload = request.method == "POST" &&
                (request.target == "/api/apps" || request.target == "/api/apps?");
  return upload ? http::Handler::BodyPolicy::STREAM : http::Handler::BodyPolicy::BUFFER;
}

void Apps::upload(ApiContext& context) {
  auto& user = context.requireUser();
  auto& request = context.request();
  if (request.framing != http::BodyFraming::LENGTH || request.contentLength == 0) {
    throw ApiError(411, kj::str("send the .spk file as the request body, with its length"));
  }
  if (request.contentLength > MAX_UPLOAD_BYTES) {
    throw ApiError(413, kj::str("packages larger than 4 GiB are refused"));
  }
  {
    // Refuse before reading a byte when the file cannot even be stored.
    struct statvfs fs;
    if (statvfs(uploadsDir.cStr(), &fs) == 0 &&
        uint64_t(fs.f_bavail) * fs.f_frsize < request.contentLength) {
      throw ApiError(507, outOfSpaceMessage(uploadsDir, request.contentLength));
    }
  }
  auto pipe = KJ_REQUIRE_NONNULL(context.exchange.takeBodyPipe());
  auto path = kj::str(uploadsDir, "/upload-", getpid(), "-", ++uploadCounter, ".spk");
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), path);
  AutoCloseFd file(fd);
  uint64_t expected = request.contentLength;
  int64_t userId = user.id;
  ApiContext* ctx = &context;
  // The body moves from the client socket to the file with splice: never held in memory.
  auto cleanup = kj::heapString(path);
  context.defer(reactor::splicePump(reactor, pipe.get(), file.get(), expected)
      .then([this, ctx, path = kj::mv(path), expected, userId, file = kj::mv(file),
             pipe = kj::mv(pipe)](uint64_t moved) mutable {
    KJ_DEFER(unlink(path.cStr()));
    if (moved != expected) {
      ctx->respondError(400, "the upload was interrupted before the whole file arrived");
      return;
    }
    KJ_SYSCALL(fsync(file.get()));
    file = nullptr;
    try {
      auto installed = installFile(path, userId, "the uploaded file");
      kj::StringPtr result = installed.result == InstallResult::INSTALLED ? "installed"
          : installed.result == InstallResult::ALREADY_INSTALLED ? "already-installed"
          : "upgrade-pending";
      auto app = appJson(installed.appId);
      ctx->respondJson(200, kj::str("{\"result\":\"", result, "\",\"app\":", app, "}\n"));
    } catch (ApiError& e) {
      ctx->respondError(e.status, e.message);
    }
  }).catch_([this, ctx, cleanup = kj::mv(cleanup), expected](kj::Exception&& e) {
    unlink(cleanup.cStr());  // a failed pump leaves the partial file (the success path unlinks)
    if (!isOutOfSpace(e) || ctx->exchange.responded()) kj::throwFatalException(kj::mv(e));
    SS_LOG(WARNING, "apps", "upload refused: disk full", e.getDescription());
    ctx->respondError(507, outOfSpaceMessage(uploadsDir, expected));
  }));
}

bool Apps::handleApi(ApiContext& context) {
  if (context.route("GET", {"apps"})) {
    context.requireUser();
    JsonWriter w;
    w.beginArray();
    Statement s(db, "SELECT app_id FROM apps ORDER BY installed_at");
    while (s.next()) w.raw(appJson(s.text(0)));  // (its trailing newline is JSON whitespace)
    w.endArray();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("POST", {"apps"})) {
    upload(context);
    return true;
  }
  if (context.route("POST", {"apps", "*", "upgrade"})) {
    context.requireAdmin();
    auto appId = kj::heapString(context.arg(0));
    auto packageId = context.json().string("packageId");
    bool changed = sqlTransaction(db, [&]() {
      sqlExec(db, "UPDATE apps SET package_id = pending_package_id, pending_package_id = NULL "
                  "WHERE app_id = ? AND pending_package_id = ?", {appId, packageId});
      if (sqlChanges(db) == 0) return false;
      sqlExec(db, "UPDATE grains SET package_id = ? WHERE app_id = ?", {packageId, appId});
      return true;
    });
    if (!changed) throw ApiError(409, kj::str("there is no such pending upgrade for this app"));
    SS_LOG(INFO, "apps", "upgraded", appId, packageId);
    onUpgrade(appId);
    context.respondJson(200, kj::str("{\"app\":", appJson(appId), "}\n"));
    return true;
  }
  if (context.route("DELETE", {"apps", "*"})) {
    context.requireAdmin();
    auto appId = kj::heapString(context.arg(0));
    if (currentPackage(appId) == nullptr) throw ApiError(404, kj::str("no such app"));
    int64_t grains = sqlInteger(db, "SELECT COUNT(*) FROM grains WHERE app_id = ?", {appId});
    if (grains > 0) {
      throw ApiError(409, kj::str("this app still has ", grains, " grain(s), including any in "
                                  "the trash; delete them first"));
    }
    kj::Vector<kj::String> removed;
    sqlTransaction(db, [&]() {
      sqlExec(db, "DELETE FROM apps WHERE app_id = ?", {appId});
      Statement s(db, "SELECT package_id FROM packages WHERE app_id = ?", {appId});
      while (s.next()) removed.add(s.text(0));
      sqlExec(db, "DELETE FROM packages WHERE app_id = ?", {appId});
    });
    int fd;
    KJ_SYSCALL(fd = open(packagesDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), packagesDir);
    AutoCloseFd dir(fd);
    for (auto& p: removed) pkg::removeTreeAt(fd, p);
    SS_LOG(INFO, "apps", "uninstalled", appId);
    context.respondNoContent();
    return true;
  }
  return false;
}

}  // namespace ss::shell
