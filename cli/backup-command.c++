// Whole-server backup and restore.
//
// Consistency while the server runs:
//  - the store is copied with SQLite's `VACUUM INTO` from a read transaction: a consistent
//    snapshot (WAL mode lets the server keep writing meanwhile);
//  - packages are immutable once installed (unpacked read-only under their hash);
//  - each grain's directory is archived while every process of that grain is stopped
//    (SIGSTOP to each member of its cgroup, repeated until no new member appears: a stopped
//    process cannot fork, so this converges), then continued (SIGCONT). The grain sees a pause
//    of the time its files take to archive, never a half-written state from our side of the
//    copy. This works on cgroup v1 and v2 alike and needs nothing from the daemon. While a
//    grain is paused, SIGINT/SIGTERM/SIGHUP are held back, so an interrupted backup still
//    resumes it (only SIGKILL of the backup could leave a grain stopped; the next idle stop or
//    a `sandstorm restart` ends that).
//
// The archive is a zstd stream of consecutive tar archives (one per step; restore reads them
// with --ignore-zeros), whose root is a data directory plus sandstorm-backup.json (format
// version, server version, date). Restore extracts into a temporary sibling of the target,
// checks the manifest and the store, and only then renames it into place: a bad or truncated
// archive leaves nothing behind.
#include "cli/backup-command.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

#include "base/clock.h"
#include "base/fd.h"
#include "cli/errors.h"
#include "cli/pid-file.h"
#include "cli/server-options.h"
#include "config.h"

extern char** environ;

namespace ss::cli {

namespace {

constexpr int BACKUP_FORMAT = 1;
constexpr const char* MANIFEST = "sandstorm-backup.json";
constexpr const char* STORE = "sandstorm.sqlite3";
constexpr int MAX_PAUSE_PASSES = 100;      // SIGSTOP rounds per grain before giving up
constexpr uint64_t STOP_WAIT_MS = 2000;    // for every paused process to reach state T

pid_t spawn(kj::ArrayPtr<const kj::StringPtr> argv, int stdinFd, int stdoutFd) {
  posix_spawn_file_actions_t actions;
  KJ_REQUIRE(posix_spawn_file_actions_init(&actions) == 0);
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  if (stdinFd >= 0) posix_spawn_file_actions_adddup2(&actions, stdinFd, 0);
  if (stdoutFd >= 0) posix_spawn_file_actions_adddup2(&actions, stdoutFd, 1);
  // The child starts with no signals blocked (we hold some back while a grain is paused).
  posix_spawnattr_t attr;
  KJ_REQUIRE(posix_spawnattr_init(&attr) == 0);
  KJ_DEFER(posix_spawnattr_destroy(&attr));
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  auto args = kj::heapArray<char*>(argv.size() + 1);
  for (size_t i = 0; i < argv.size(); i++) args[i] = const_cast<char*>(argv[i].cStr());
  args[argv.size()] = nullptr;
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.begin(), environ);
  KJ_REQUIRE(rc == 0, "cannot start a helper program", argv[0], strerror(rc));
  return pid;
}

int waitFor(pid_t pid) {
  int status;
  KJ_SYSCALL_HANDLE_ERRORS(waitpid(pid, &status, 0)) {
    default: KJ_FAIL_SYSCALL("waitpid", error);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void removeTree(kj::StringPtr path) {
  kj::StringPtr argv[] = {"/bin/rm", "-rf", "--", path};
  waitFor(spawn(argv, -1, -1));
}

kj::String parentOf(kj::StringPtr path) {
  // `path` is absolute (absolutePath()).
  KJ_IF_MAYBE(slash, path.findLast('/')) return kj::heapString(path.begin(), kj::max(*slash, size_t(1)));
  return kj::str(".");
}

kj::String isoNow() {
  time_t now = time(nullptr);
  tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return kj::str(text);
}

uint64_t fileSize(kj::StringPtr path) {
  struct stat info;
  KJ_SYSCALL(stat(path.cStr(), &info), path);
  return info.st_size;
}

kj::String mib(uint64_t bytes) {
  char text[32];
  snprintf(text, sizeof(text), "%.1f MiB", bytes / 1048576.0);
  return kj::str(text);
}

kj::Vector<kj::String> listDir(kj::StringPtr path) {
  kj::Vector<kj::String> names;
  DIR* dir = opendir(path.cStr());
  if (dir == nullptr) {
    KJ_REQUIRE(errno == ENOENT, "cannot list a directory", path, strerror(errno));
    return names;
  }
  KJ_DEFER(closedir(dir));
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.add(kj::str(e->d_name));
  }
  return names;
}

// ---- Pausing a grain ----------------------------------------------------------------------

// The processes whose cgroup path ends in /sandstorm/<grainId> (any hierarchy, v1 or v2).
kj::Vector<pid_t> grainProcesses(kj::StringPtr grainId) {
  kj::Vector<pid_t> pids;
  auto suffix = kj::str("/sandstorm/", grainId, "\n");
  DIR* proc = opendir("/proc");
  KJ_REQUIRE(proc != nullptr, "cannot list /proc", strerror(errno));
  KJ_DEFER(closedir(proc));
  while (dirent* e = readdir(proc)) {
    char* end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    int fd = open(kj::str("/proc/", pid, "/cgroup").cStr(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
    close(fd);
    if (n <= 0) continue;
    buffer[n] = '\0';
    if (strstr(buffer, suffix.cStr()) != nullptr) pids.add(pid_t(pid));
  }
  return pids;
}

char processState(pid_t pid) {
  int fd = open(kj::str("/proc/", pid, "/stat").cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 'X';
  char buffer[512];
  ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (n <= 0) return 'X';
  buffer[n] = '\0';
  const char* paren = strrchr(buffer, ')');
  return paren != nullptr && paren[1] == ' ' ? paren[2] : 'X';
}

class PausedGrain {
public:
  explicit PausedGrain(kj::StringPtr grainId) {
    for (int pass = 0;; pass++) {
      KJ_REQUIRE(pass < MAX_PAUSE_PASSES, "grain keeps spawning processes; cannot pause it",
                 grainId);
      bool added = false;
      for (pid_t pid: grainProcesses(grainId)) {
        bool known = false;
        for (pid_t p: stopped) known = known || p == pid;
        if (known) continue;
        if (kill(pid, SIGSTOP) == 0) {
          stopped.add(pid);
          added = true;
        }
      }
      if (!added) break;
    }
    // SIGSTOP is asynchronous: wait until each one is really stopped (or gone).
    uint64_t deadline = monotonicNowMs() + STOP_WAIT_MS;
    for (pid_t pid: stopped) {
      for (;;) {
        char state = processState(pid);
        if (state == 'T' || state == 't' || state == 'X' || state == 'Z') break;
        KJ_REQUIRE(monotonicNowMs() < deadline, "a grain process did not stop", grainId, pid);
        usleep(1000);
      }
    }
  }
  ~PausedGrain() {
    for (pid_t pid: stopped) kill(pid, SIGCONT);
  }
  KJ_DISALLOW_COPY(PausedGrain);
  size_t count() const { return stopped.size(); }

private:
  kj::Vector<pid_t> stopped;
};

// SIGINT/SIGTERM/SIGHUP are held back for the whole backup (a paused grain must always be
// continued); checkInterrupted() turns a pending one into an orderly failure between steps.
class HeldSignals {
public:
  HeldSignals() {
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    KJ_SYSCALL(sigprocmask(SIG_BLOCK, &set, &old));
  }
  ~HeldSignals() noexcept(false) { KJ_SYSCALL(sigprocmask(SIG_SETMASK, &old, nullptr)); }
  void checkInterrupted() {
    sigset_t pending;
    KJ_SYSCALL(sigpending(&pending));
    for (int s: {SIGINT, SIGTERM, SIGHUP}) {
      KJ_REQUIRE(!sigismember(&pending, s), "interrupted; the partial backup was removed");
    }
  }

private:
  sigset_t set, old;
};

void snapshotStore(kj::StringPtr from, kj::StringPtr to) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(from.cStr(), &db, SQLITE_OPEN_READWRITE, nullptr);
  KJ_DEFER(sqlite3_close(db));
  KJ_REQUIRE(rc == SQLITE_OK, "cannot open the store", from, sqlite3_errstr(rc));
  sqlite3_busy_timeout(db, 10'000);
  char* sql = sqlite3_mprintf("VACUUM INTO %Q", to.cStr());
  KJ_DEFER(sqlite3_free(sql));
  char* error = nullptr;
  rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  KJ_DEFER(sqlite3_free(error));
  KJ_REQUIRE(rc == SQLITE_OK, "cannot snapshot the store", from,
             error != nullptr ? error : sqlite3_errstr(rc));
}

void checkStore(kj::StringPtr path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.cStr(), &db, SQLITE_OPEN_READONLY, nullptr);
  KJ_DEFER(sqlite3_close(db));
  KJ_REQUIRE(rc == SQLITE_OK, "the archive's store cannot be opened", sqlite3_errstr(rc));
  sqlite3_stmt* statement = nullptr;
  rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &statement, nullptr);
  KJ_DEFER(sqlite3_finalize(statement));
  KJ_REQUIRE(rc == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW &&
                 kj::StringPtr(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))) ==
                     "ok",
             "the archive's store is damaged", sqlite3_errmsg(db));
}

// ---- backup ---------------------------------------------------------------------------------

class BackupCommand {
public:
  explicit BackupCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Writes the whole server (store, packages, every grain's data) to FILE (.tar.zst), "
        "consistently, while the server runs: each grain is paused for the moment its files "
        "are archived. Restore it with `sandstorm restore`. Exit 0 written, 1 failed (nothing "
        "is left at FILE).");
    options.addLocating(builder);
    builder.expectArg("<file>", KJ_BIND_METHOD(*this, setFile))
        .callAfterParsing(KJ_BIND_METHOD(*this, run));
    return builder.build();
  }

private:
  kj::MainBuilder::Validity setFile(kj::StringPtr value) {
    if (value.size() == 0) return "must not be empty";
    file = absolutePath(value);
    return true;
  }

  kj::MainBuilder::Validity run() {
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { backup(); })) failure = userMessage(*e);
    KJ_IF_MAYBE(f, failure) context.exitError(kj::str("sandstorm backup: ", *f));
    context.exit();
    return true;
  }

  void backup() {
    Config config = options.resolve("backup");
    auto dataDir = dataDirOf(config);
    auto storePath = kj::str(dataDir, "/", STORE);
    KJ_REQUIRE(access(storePath.cStr(), R_OK) == 0,
               kj::str(dataDir, " is not a Sandstorm data directory (no ", STORE, ")"));
    HeldSignals signals;
    uint64_t started = monotonicNowMs();
    auto partial = kj::str(file, ".partial");
    auto staging = kj::str(parentOf(file), "/.sandstorm-backup-XXXXXX");
    KJ_SYSCALL(mkdtemp(staging.begin()) == nullptr ? -1 : 0, "cannot create a temporary directory beside the backup file");
    KJ_DEFER(removeTree(staging));
    KJ_ON_SCOPE_FAILURE(unlink(partial.cStr()));

    progress(kj::str("store snapshot (", dataDir, ")"));
    snapshotStore(storePath, kj::str(staging, "/", STORE));
    auto grains = listDir(kj::str(dataDir, "/grains"));
    auto manifest = kj::str("{\"format\":", BACKUP_FORMAT, ",\"serverVersion\":\"",
                            SANDSTORM_VERSION, "\",\"createdAt\":\"", isoNow(),
                            "\",\"grains\":", grains.size(), "}\n");
    writeFile(kj::str(staging, "/", MANIFEST), manifest);

    int out;
    KJ_SYSCALL(out = open(partial.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
               partial);
    AutoCloseFd outFd(out);
    auto pipe = makePipe(false);
    kj::StringPtr zstdArgv[] = {"/usr/bin/zstd", "-q", "-3", "-T0", "-c"};
    pid_t zstd = spawn(zstdArgv, pipe.first, outFd);
    pipe.first = nullptr;
    outFd = nullptr;
    KJ_ON_SCOPE_FAILURE({ pipe.second = nullptr; kill(zstd, SIGTERM); waitFor(zstd); });

    tar(pipe.second, staging, {MANIFEST, STORE});
    signals.checkInterrupted();
    progress("packages");
    tar(pipe.second, dataDir, {"packages", "--no-recursion", "grains"});
    size_t i = 0;
    for (auto& grain: grains) {
      signals.checkInterrupted();
      i++;
      uint64_t pauseStart = monotonicNowMs();
      size_t paused;
      {
        PausedGrain pause(grain);
        paused = pause.count();
        tar(pipe.second, dataDir, {kj::str("grains/", grain)});
      }
      if (paused > 0) {
        progress(kj::str("grain ", i, "/", grains.size(), " (running: paused ",
                         monotonicNowMs() - pauseStart, " ms)"));
      } else if (i % 50 == 0 || i == grains.size()) {
        progress(kj::str("grain ", i, "/", grains.size()));
      }
    }
    pipe.second = nullptr;  // EOF for zstd
    KJ_REQUIRE(waitFor(zstd) == 0, "zstd failed writing the backup", partial);
    int fd;
    KJ_SYSCALL(fd = open(partial.cStr(), O_RDONLY | O_CLOEXEC));
    KJ_SYSCALL(fsync(fd));
    close(fd);
    signals.checkInterrupted();
    KJ_SYSCALL(rename(partial.cStr(), file.cStr()), file);
    progress(kj::str("wrote ", file, " (", mib(fileSize(file)), ", ", grains.size(),
                     " grains) in ", (monotonicNowMs() - started) / 1000.0, " s"));
  }

  void tar(int toFd, kj::StringPtr directory, std::initializer_list<kj::StringPtr> names) {
    kj::Vector<kj::StringPtr> argv;
    for (kj::StringPtr a: {"/usr/bin/tar", "-cf", "-", "--numeric-owner", "--acls",
                           "--xattrs", "-C"}) {
      argv.add(a);
    }
    argv.add(directory);
    for (auto& n: names) argv.add(n);
    int status = waitFor(spawn(argv, -1, toFd));
    // 1 = "some files differ" (changed while read): only possible outside paused grains.
    KJ_REQUIRE(status == 0 || status == 1, "tar failed archiving", directory, status);
  }

  void progress(kj::StringPtr what) {
    fprintf(stderr, "sandstorm backup: %s\n", what.cStr());
  }

  static void writeFile(kj::StringPtr path, kj::StringPtr text) {
    int fd;
    KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), path);
    AutoCloseFd owned(fd);
    KJ_SYSCALL(write(fd, text.begin(), text.size()));
  }

  kj::ProcessContext& context;
  ServerOptions options;
  kj::String file;
};

// ---- restore --------------------------------------------------------------------------------

class RestoreCommand {
public:
  explicit RestoreCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Restores a `sandstorm backup` FILE into a new or empty data directory (--data-dir, or "
        "DATA_DIR from --config) on which no server runs. The archive is unpacked and checked "
        "beside the target first: a bad or truncated archive leaves nothing behind. Exit 0 "
        "restored, 1 refused or failed.");
    options.addLocating(builder);
    builder.expectArg("<file>", KJ_BIND_METHOD(*this, setFile))
        .callAfterParsing(KJ_BIND_METHOD(*this, run));
    return builder.build();
  }

private:
  kj::MainBuilder::Validity setFile(kj::StringPtr value) {
    if (value.size() == 0) return "must not be empty";
    file = absolutePath(value);
    return true;
  }

  kj::MainBuilder::Validity run() {
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { restore(); })) failure = userMessage(*e);
    KJ_IF_MAYBE(f, failure) context.exitError(kj::str("sandstorm restore: ", *f));
    context.exit();
    return true;
  }

  void restore() {
    Config config = options.resolve("restore");
    KJ_REQUIRE(config.dataDir != nullptr,
               "say where to restore: --data-dir DIR (a new or empty directory)");
    auto target = dataDirOf(config);
    KJ_REQUIRE(access(file.cStr(), R_OK) == 0, kj::str("cannot read ", file));
    struct stat info;
    bool exists = stat(target.cStr(), &info) == 0;
    if (exists) {
      KJ_REQUIRE(runningServer(target) == nullptr,
                 kj::str("a server is running on ", target, ": stop it first"));
      KJ_REQUIRE(S_ISDIR(info.st_mode), kj::str(target, " is not a directory"));
      KJ_REQUIRE(listDir(target).size() == 0 && !hasDotEntries(target),
                 kj::str(target, " is not empty: restore only into a new or empty data "
                         "directory"));
    }
    auto parent = parentOf(target);
    makeDirectories(parent, 0711);
    auto temp = kj::str(parent, "/.sandstorm-restore-XXXXXX");
    KJ_SYSCALL(mkdtemp(temp.begin()) == nullptr ? -1 : 0, "cannot create a directory beside the target", parent);
    KJ_ON_SCOPE_FAILURE(removeTree(temp));

    fprintf(stderr, "sandstorm restore: unpacking %s\n", file.cStr());
    kj::StringPtr argv[] = {"/usr/bin/tar", "--zstd", "-x", "--ignore-zeros", "--numeric-owner",
                            "--acls", "--xattrs", "-f", file, "-C", temp};
    KJ_REQUIRE(waitFor(spawn(argv, -1, -1)) == 0,
               kj::str(file, " is not a complete Sandstorm backup (the archive is damaged or "
                       "truncated); nothing was restored"));
    auto manifestPath = kj::str(temp, "/", MANIFEST);
    auto manifest = readManifest(manifestPath);
    KJ_REQUIRE(manifest.startsWith(kj::str("{\"format\":", BACKUP_FORMAT, ",")),
               kj::str(file, " is not a Sandstorm backup of a format this version reads "
                       "(format ", BACKUP_FORMAT, ")"));
    checkStore(kj::str(temp, "/", STORE));
    KJ_SYSCALL(unlink(manifestPath.cStr()));
    KJ_SYSCALL(chmod(temp.cStr(), 0711));  // as DataDir makes it: grains traverse it
    if (exists) {
      KJ_SYSCALL(rmdir(target.cStr()), target);
    }
    KJ_SYSCALL(rename(temp.cStr(), target.cStr()), target);
    fprintf(stderr, "sandstorm restore: restored into %s (%s)\n", target.cStr(),
            manifest.cStr());
  }

  static bool hasDotEntries(kj::StringPtr path) {
    DIR* dir = opendir(path.cStr());
    if (dir == nullptr) return false;
    KJ_DEFER(closedir(dir));
    while (dirent* e = readdir(dir)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) return true;
    }
    return false;
  }

  kj::String readManifest(kj::StringPtr path) {
    int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
    KJ_REQUIRE(fd >= 0, kj::str(file, " is not a Sandstorm backup (no ", MANIFEST, ")"));
    AutoCloseFd owned(fd);
    char buffer[1024];
    ssize_t n;
    KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer) - 1));
    while (n > 0 && buffer[n - 1] == '\n') n--;
    return kj::heapString(buffer, n);
  }

  kj::ProcessContext& context;
  ServerOptions options;
  kj::String file;
};

}  // namespace

kj::MainFunc backupCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<BackupCommand>(context));
}

kj::MainFunc restoreCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<RestoreCommand>(context));
}

}  // namespace ss::cli
