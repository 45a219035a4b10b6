#include "shell/grain-backup.h"

#include <fcntl.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/encoding.h>

#include "base/fd.h"
#include "base/log.h"
#include "pkg/unpack.h"
#include "reactor/splice.h"
#include "sandbox/limits.h"
#include "shell/sql.h"

extern char** environ;

namespace ss::shell {

namespace {

constexpr uint64_t MAX_BACKUP_UPLOAD = 8ull << 30;

// Starts argv with stdin/stdout as given (-1: /dev/null); returns the pid.
pid_t spawnTool(kj::ArrayPtr<const kj::StringPtr> argv, int stdinFd, int stdoutFd) {
  posix_spawn_file_actions_t actions;
  KJ_REQUIRE(posix_spawn_file_actions_init(&actions) == 0);
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  if (stdinFd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdinFd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (stdoutFd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdoutFd, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  auto args = kj::heapArray<char*>(argv.size() + 1);
  for (size_t i = 0; i < argv.size(); i++) args[i] = const_cast<char*>(argv[i].cStr());
  args[argv.size()] = nullptr;
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.begin(), environ);
  KJ_REQUIRE(rc == 0, "cannot start a helper program", argv[0], strerror(rc));
  return pid;
}

kj::String fileName(kj::StringPtr title) {
  kj::Vector<char> out;
  for (char c: title) {
    bool ok = isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ' ';
    out.add(ok ? c : '_');
    if (out.size() >= 60) break;
  }
  if (out.size() == 0) out.addAll(kj::StringPtr("grain"));
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace

GrainBackups::GrainBackups(sqlite3* db, reactor::Reactor& reactor, kj::StringPtr dataDir,
                           Apps& apps, Grains& grains, GrainHost& host)
    : db(db), reactor(reactor), dataDir(kj::heapString(dataDir)), apps(apps), grains(grains),
      host(host) {}

http::Handler::BodyPolicy GrainBackups::bodyPolicy(const http::Request& request) {
  return request.method == "POST" && request.target == "/api/grains/restore"
             ? http::Handler::BodyPolicy::STREAM
             : http::Handler::BodyPolicy::BUFFER;
}

bool GrainBackups::handleApi(ApiContext& context) {
  if (context.route("GET", {"grains", "*", "backup"})) {
    download(context, context.arg(0));
    return true;
  }
  if (context.route("POST", {"grains", "restore"})) {
    restore(context);
    return true;
  }
  return false;
}

void GrainBackups::download(ApiContext& context, kj::StringPtr grainIdArg) {
  auto& user = context.requireUser();
  auto grainId = kj::heapString(grainIdArg);
  Statement s(db, "SELECT owner_id, app_id, title, action_index FROM grains WHERE id = ?",
              {grainId});
  if (!s.next() || s.integer(0) != user.id) throw ApiError(404, kj::str("no such grain"));
  auto title = s.text(2);
  JsonWriter meta;
  meta.beginObject()
      .field("format", "sandstorm-grain-backup-1")
      .field("appId", s.text(1))
      .field("title", title)
      .field("actionIndex", s.integer(3))
      .endObject();
  auto dir = grains.grainDir(grainId);
  auto varDir = kj::str(dir, "/var");
  if (access(varDir.cStr(), F_OK) != 0) makeDirectories(varDir, 0700);
  // A consistent copy: the grain is stopped first (it restarts on its next request).
  host.stop(grainId);
  auto metaDir = kj::str(dataDir, "/uploads/backup-", getpid(), "-", ++counter);
  makeDirectories(metaDir, 0700);
  auto metaText = meta.finish();
  {
    int fd;
    auto metaPath = kj::str(metaDir, "/grain.json");
    KJ_SYSCALL(fd = open(metaPath.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    AutoCloseFd owned(fd);
    KJ_SYSCALL(write(fd, metaText.begin(), metaText.size()));
  }
  auto pipe = makePipe(false);
  kj::StringPtr argv[] = {"/usr/bin/tar", "--zstd", "-cf", "-", "-C", metaDir, "grain.json",
                          "-C", dir, "var"};
  pid_t pid = spawnTool(argv, -1, pipe.second.get());
  pipe.second = nullptr;
  setNonblocking(pipe.first.get());
  auto disposition = kj::str("attachment; filename=\"", fileName(title), ".grain.tar.zst\"");
  http::Exchange* ex = &context.exchange;
  // Streamed responses are answered from deferred work (the HTTP layer's rule).
  context.defer(kj::evalLater([ex, disposition = kj::mv(disposition),
                               body = kj::mv(pipe.first)]() mutable {
    ex->respondWithPipe(
        200, kj::arr(http::HeaderOut{"Content-Type", "application/zstd"},
                     http::HeaderOut{"Content-Disposition",
                                     std::string_view(disposition.begin(), disposition.size())},
                     http::HeaderOut{"Cache-Control", "no-store"}),
        kj::mv(body), -1);
  }));
  // Reap tar and remove the metadata directory when it is done.
  auto path = kj::heapString(metaDir);
  reactor.onChildExit(pid).then([path = kj::mv(path), grainId = kj::mv(grainId)](int status) {
    int fd = open(path.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      pkg::removeTreeAt(AT_FDCWD, path);
      close(fd);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      SS_LOG(WARNING, "backup", "tar failed; the download is incomplete", grainId, status);
    }
  }).detach([](kj::Exception&& e) {
    SS_LOG(ERROR, "backup", "cleanup failed", e.getDescription());
  });
}

void GrainBackups::restore(ApiContext& context) {
  auto& user = context.requireUser();
  auto& request = context.request();
  if (request.framing != http::BodyFraming::LENGTH || request.contentLength == 0) {
    throw ApiError(411, kj::str("send the backup file as the request body, with its length"));
  }
  if (request.contentLength > MAX_BACKUP_UPLOAD) {
    throw ApiError(413, kj::str("backups larger than 8 GiB are refused"));
  }
  auto pipe = KJ_REQUIRE_NONNULL(context.exchange.takeBodyPipe());
  auto path = kj::str(dataDir, "/uploads/restore-", getpid(), "-", ++counter);
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), path);
  AutoCloseFd file(fd);
  uint64_t expected = request.contentLength;
  int64_t userId = user.id;
  ApiContext* ctx = &context;
  context.defer(reactor::splicePump(reactor, pipe.get(), file.get(), expected)
      .then([this, ctx, path = kj::mv(path), expected, userId, file = kj::mv(file),
             pipe = kj::mv(pipe)](uint64_t moved) mutable -> kj::Promise<void> {
    if (moved != expected) {
      unlink(path.cStr());
      ctx->respondError(400, "the upload was interrupted before the whole file arrived");
      return kj::READY_NOW;
    }
    file = nullptr;
    return finishRestore(*ctx, kj::mv(path), userId);
  }));
}

kj::Promise<void> GrainBackups::finishRestore(ApiContext& context, kj::String upload,
                                              int64_t userId) {
  // A fresh directory for the new grain, owned by the grains' uid; tar runs as that uid.
  auto id = [&]() {
    kj::byte bytes[12];
    randombytes_buf(bytes, sizeof(bytes));
    return kj::encodeHex(kj::arrayPtr(bytes, sizeof(bytes)));
  }();
  auto dir = grains.grainDir(id);
  KJ_SYSCALL(mkdir(dir.cStr(), 0711), dir);
  uid_t uid = geteuid() == 0 ? sandbox::limits::DEFAULT_HOST_UID : geteuid();
  gid_t gid = geteuid() == 0 ? sandbox::limits::DEFAULT_HOST_GID : getegid();
  KJ_SYSCALL(chown(dir.cStr(), uid, gid), dir);
  int in;
  KJ_SYSCALL(in = open(upload.cStr(), O_RDONLY | O_CLOEXEC), upload);
  AutoCloseFd input(in);
  unlink(upload.cStr());  // the open descriptor keeps it readable; nothing is left behind
  auto reuid = kj::str("--reuid=", uid);
  auto regid = kj::str("--regid=", gid);
  kj::Vector<kj::StringPtr> argv;
  if (geteuid() == 0) {
    for (auto a: {"/usr/bin/setpriv"}) argv.add(a);
    argv.add(reuid);
    argv.add(regid);
    argv.add("--clear-groups");
    argv.add("--");
  }
  for (auto a: {"/usr/bin/tar", "--zstd", "-xf", "-", "--no-same-owner", "--no-same-permissions",
                "-C"}) {
    argv.add(a);
  }
  argv.add(dir);
  argv.add("grain.json");
  argv.add("var");
  pid_t pid = spawnTool(argv, in, -1);
  input = nullptr;
  ApiContext* ctx = &context;
  return reactor.onChildExit(pid).then([this, ctx, id = kj::mv(id), dir = kj::mv(dir),
                                        userId](int status) {
    auto fail = [&, ctx](kj::StringPtr why) {
      pkg::removeTreeAt(AT_FDCWD, dir);
      ctx->respondError(400, why);
    };
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return fail("this file is not a grain backup (it could not be unpacked)");
    }
    auto metaPath = kj::str(dir, "/grain.json");
    struct stat st;
    if (lstat(metaPath.cStr(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024) {
      return fail("this file is not a grain backup (grain.json is missing)");
    }
    auto text = readFile(metaPath);
    unlink(metaPath.cStr());
    kj::String appId, title;
    int64_t actionIndex = 0;
    try {
      JsonBody meta(kj::heapString(reinterpret_cast<const char*>(text.begin()), text.size()));
      if (meta.string("format") != "sandstorm-grain-backup-1") {
        return fail("this grain backup has an unknown format");
      }
      appId = meta.string("appId");
      title = meta.string("title");
      actionIndex = meta.integer("actionIndex");
    } catch (ApiError& e) {
      return fail(kj::str("this grain backup is damaged: ", e.message));
    }
    KJ_IF_MAYBE(packageId, apps.currentPackage(appId)) {
      // The files on disk before the row that names them: acknowledged means it survives a
      // power loss too (tar does not fsync). One syncfs instead of a walk.
      int dirFd;
      KJ_SYSCALL(dirFd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir);
      AutoCloseFd grainDirFd(dirFd);
      KJ_SYSCALL(syncfs(dirFd), dir);
      sqlExec(db, "INSERT INTO grains (id, owner_id, app_id, package_id, action_index, title, "
                  "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
              {id, userId, appId, *packageId, actionIndex, kj::str(title, " (restored)"),
               unixNow()});
      SS_LOG(INFO, "backup", "grain restored", id, appId);
      ctx->respondJson(201, kj::str("{\"grain\":", grains.grainJson(id), "}\n"));
    } else {
      fail("the app of this grain is not installed here: install it first, then restore");
    }
  });
}

}  // namespace ss::shell
