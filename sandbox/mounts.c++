// The grain's file system, built in the child's new mount namespace (facts/sandstorm.md §1.2
// step 7 is Sandstorm's version; this one differs where noted).
//
//   /            small read-only tmpfs (noexec): our skeleton, never the package directory itself
//   /<entry>     one read-only, nosuid, nodev bind per top-level package entry; top-level
//                symlinks are copied as symlinks (they resolve inside the grain); entries named
//                like one of our mount points ("shadowed": dev, tmp, var, proc, sys, extra bind
//                targets) are ignored, so a hostile package cannot make a mount follow a link
//   /dev         read-only tmpfs with binds of the host's null, zero, full, random, urandom,
//                and a size-limited /dev/shm
//   /var         the grain's storage, read-write, nosuid, nodev
//   /tmp         size- and inode-limited tmpfs
//   extra binds  read-only binds of host files (e.g. /sandstorm-http-bridge), whose mount
//                points we create in the skeleton, so the package need not have them
//   no /proc, no /sys
//
// Every source is opened before anything is mounted, and binds are made from those fds with
// open_tree(OPEN_TREE_CLONE) + move_mount, so what gets mounted is exactly what was opened (no
// path is resolved twice) and host submounts under a source are not carried along.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <initializer_list>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>

#include "sandbox/child.h"
#include "sandbox/limits.h"

namespace ss::sandbox {

namespace {

constexpr const char* DEVICES[] = {"null", "zero", "full", "random", "urandom"};
constexpr size_t DEVICE_COUNT = sizeof(DEVICES) / sizeof(DEVICES[0]);

struct Sources {
  int package;
  int var;
  int binds[limits::MAX_EXTRA_BINDS];
  int devices[DEVICE_COUNT];
};

#define CHILD_CHECK(call, step, detail)                    \
  do {                                                     \
    if ((call) < 0) childFail(ctx, step, errno, detail);   \
  } while (false)

// Bind-mounts the file or directory `srcDir`/`srcName` ("" = srcDir itself) onto
// `dstDir`/`dstName`, carrying mount attributes `attrs` (MOUNT_ATTR_*; 0 = inherit).
void bindFromFd(const ChildContext& ctx, int srcDir, const char* srcName, int dstDir,
                const char* dstName, uint64_t attrs, const char* step) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW;
  if (srcName[0] == '\0') flags |= AT_EMPTY_PATH;
  int tree = open_tree(srcDir, srcName, flags);
  if (tree < 0) childFail(ctx, step, errno, srcName[0] ? srcName : dstName);
  if (attrs != 0) {
    mount_attr attr{};
    attr.attr_set = attrs;
    CHILD_CHECK(mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)), step, dstName);
  }
  CHILD_CHECK(move_mount(tree, "", dstDir, dstName, MOVE_MOUNT_F_EMPTY_PATH), step, dstName);
  close(tree);
}

bool isShadowed(const ChildContext& ctx, const char* name) {
  for (size_t i = 0; i < ctx.shadowedCount; i++) {
    if (strcmp(ctx.shadowed[i], name) == 0) return true;
  }
  return false;
}

Sources openSources(const ChildContext& ctx) {
  Sources s;
  s.package = open(ctx.packageDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s.package < 0) childFail(ctx, "open package directory", errno, ctx.packageDir);
  s.var = open(ctx.varDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s.var < 0) childFail(ctx, "open grain var directory", errno, ctx.varDir);
  for (size_t i = 0; i < ctx.bindCount; i++) {
    s.binds[i] = open(ctx.binds[i].source, O_PATH | O_CLOEXEC);
    if (s.binds[i] < 0) childFail(ctx, "open extra bind source", errno, ctx.binds[i].source);
  }
  char path[32];
  for (size_t i = 0; i < DEVICE_COUNT; i++) {
    snprintf(path, sizeof(path), "/dev/%s", DEVICES[i]);
    s.devices[i] = open(path, O_PATH | O_CLOEXEC);
    if (s.devices[i] < 0) childFail(ctx, "open host device", errno, path);
  }
  return s;
}

// Recreates the package's top level in the skeleton: a bind per directory or file, a copy per
// symlink. Device nodes, fifos and sockets cannot be in a package (pkg/ rejects them) and are
// skipped here too.
void mirrorPackageTopLevel(const ChildContext& ctx, int package, int root) {
  alignas(8) char buffer[8192];
  size_t count = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, package, buffer, sizeof(buffer));
    if (n < 0) childFail(ctx, "list package directory", errno, ctx.packageDir);
    if (n == 0) break;
    for (long pos = 0; pos < n;) {
      auto* entry = reinterpret_cast<dirent64*>(buffer + pos);
      pos += entry->d_reclen;
      const char* name = entry->d_name;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || isShadowed(ctx, name)) continue;
      if (++count > limits::MAX_PACKAGE_TOP_LEVEL) {
        childFail(ctx, "mirror package", E2BIG, "too many top-level entries in the package");
      }
      struct stat st;
      CHILD_CHECK(fstatat(package, name, &st, AT_SYMLINK_NOFOLLOW), "stat package entry", name);
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t len = readlinkat(package, name, target, sizeof(target) - 1);
        if (len < 0) childFail(ctx, "read package symlink", errno, name);
        target[len] = '\0';
        CHILD_CHECK(symlinkat(target, root, name), "copy package symlink", name);
      } else if (S_ISDIR(st.st_mode)) {
        CHILD_CHECK(mkdirat(root, name, 0755), "create mount point", name);
        bindFromFd(ctx, package, name, root, name, 0, "bind package directory");
      } else if (S_ISREG(st.st_mode)) {
        int fd = openat(root, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) childFail(ctx, "create mount point", errno, name);
        close(fd);
        bindFromFd(ctx, package, name, root, name, 0, "bind package file");
      }
    }
  }
}

// Creates the mount point for an extra bind target ("/a/b/c"), making parents as needed, and
// binds `source` (already open) there.
void bindExtra(const ChildContext& ctx, int root, const ChildBind& bind, int source) {
  char path[limits::MAX_PATH_BYTES];
  snprintf(path, sizeof(path), "%s", bind.target + 1);
  struct stat st;
  CHILD_CHECK(fstat(source, &st), "stat extra bind source", bind.source);

  int dir = dup(root);
  char* component = path;
  for (;;) {
    char* slash = strchr(component, '/');
    if (slash == nullptr) break;
    *slash = '\0';
    if (mkdirat(dir, component, 0755) < 0 && errno != EEXIST) {
      childFail(ctx, "create extra bind parent", errno, bind.target);
    }
    int next = openat(dir, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) childFail(ctx, "open extra bind parent", errno, bind.target);
    close(dir);
    dir = next;
    component = slash + 1;
  }
  if (S_ISDIR(st.st_mode)) {
    CHILD_CHECK(mkdirat(dir, component, 0755), "create extra bind mount point", bind.target);
  } else {
    int fd = openat(dir, component, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) childFail(ctx, "create extra bind mount point", errno, bind.target);
    close(fd);
  }
  bindFromFd(ctx, source, "", dir, component, 0, "bind extra mount");
  close(dir);
}

void setupDev(const ChildContext& ctx, const Sources& sources) {
  CHILD_CHECK(mount("sandstorm-dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, ctx.devOptions),
              "mount /dev tmpfs", nullptr);
  int dev = open("dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dev < 0) childFail(ctx, "open /dev", errno, nullptr);
  for (size_t i = 0; i < DEVICE_COUNT; i++) {
    // An empty regular file is the mount point; the bind puts the host's node over it. Nodes
    // created with mknod inside a user namespace would not open (SB_I_NODEV), binds do.
    int fd = openat(dev, DEVICES[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) childFail(ctx, "create /dev mount point", errno, DEVICES[i]);
    close(fd);
    bindFromFd(ctx, sources.devices[i], "", dev, DEVICES[i], 0, "bind device node");
  }
  CHILD_CHECK(mkdirat(dev, "shm", 01777), "create /dev/shm", nullptr);
  CHILD_CHECK(mount("sandstorm-shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    ctx.shmOptions),
              "mount /dev/shm tmpfs", nullptr);
  // Only the /dev tmpfs itself turns read-only (not recursive): the nodes stay writable
  // devices and /dev/shm stays a writable tmpfs.
  mount_attr ro{};
  ro.attr_set = MOUNT_ATTR_RDONLY;
  CHILD_CHECK(mount_setattr(dev, "", AT_EMPTY_PATH, &ro, sizeof(ro)), "make /dev read-only",
              nullptr);
  close(dev);
}

void pivotIntoRoot(const ChildContext& ctx, int root) {
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
  // removes it (pivot_root(2), "NOTES"). No put_old directory is needed, so the read-only
  // skeleton need not contain one.
  CHILD_CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root", nullptr);
  CHILD_CHECK(umount2(".", MNT_DETACH), "detach old root", nullptr);
  CHILD_CHECK(chdir("/"), "chdir /", nullptr);

  // Check: "/" is our skeleton, and ".." of "/" is "/" (nothing of the host above it).
  struct stat rootSt, skeletonSt, parentSt;
  CHILD_CHECK(stat("/", &rootSt), "check new root", nullptr);
  CHILD_CHECK(fstat(root, &skeletonSt), "check new root", nullptr);
  CHILD_CHECK(stat("/..", &parentSt), "check new root", nullptr);
  if (rootSt.st_dev != skeletonSt.st_dev || rootSt.st_ino != skeletonSt.st_ino ||
      parentSt.st_ino != rootSt.st_ino || parentSt.st_dev != rootSt.st_dev) {
    childFail(ctx, "check new root", EIO, "/ is not the grain skeleton after pivot_root");
  }
  struct statvfs vfs;
  CHILD_CHECK(statvfs("/", &vfs), "check new root", nullptr);
  if (!(vfs.f_flag & ST_RDONLY)) childFail(ctx, "check new root", EIO, "/ is writable");
}

}  // namespace

void setupFilesystem(const ChildContext& ctx) {
  // Modes below are exact (01777 for /dev/shm); the grain's umask is set later.
  umask(0);

  // 1. Nothing we mount may propagate back to the host's namespace.
  CHILD_CHECK(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private",
              nullptr);

  // 2. Open every source first: the staging tmpfs may cover them (tests keep packages in
  //    /tmp), and an fd pins exactly the object we checked.
  Sources sources = openSources(ctx);

  // 3. The skeleton root: a tmpfs on the staging directory (covering it only in our namespace).
  CHILD_CHECK(mount("sandstorm-root", ctx.stagingDir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    ctx.rootOptions),
              "mount root tmpfs", ctx.stagingDir);
  int root = open(ctx.stagingDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) childFail(ctx, "open root tmpfs", errno, ctx.stagingDir);
  for (const char* name : {"dev", "tmp", "var"}) {
    CHILD_CHECK(mkdirat(root, name, 0755), "create mount point", name);
  }

  // 4. The package's top level, then extra read-only binds.
  mirrorPackageTopLevel(ctx, sources.package, root);
  for (size_t i = 0; i < ctx.bindCount; i++) {
    bindExtra(ctx, root, ctx.binds[i], sources.binds[i]);
  }

  // 5. Everything so far becomes read-only, nosuid, nodev in one recursive step. Binds made
  //    later (/dev nodes, /var, /tmp) are not affected.
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  CHILD_CHECK(mount_setattr(root, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)),
              "make root read-only (mount_setattr, Linux 5.12+)", nullptr);

  // 6. /dev, /var, /tmp: relative to the skeleton, which is our cwd from here on.
  CHILD_CHECK(fchdir(root), "enter root tmpfs", nullptr);
  setupDev(ctx, sources);
  bindFromFd(ctx, sources.var, "", AT_FDCWD, "var", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
             "bind /var");
  CHILD_CHECK(mount("sandstorm-tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, ctx.tmpOptions),
              "mount /tmp tmpfs", nullptr);

  // 7. Make the skeleton "/" and drop the host's tree.
  pivotIntoRoot(ctx, root);

  close(root);
  close(sources.package);
  close(sources.var);
  for (size_t i = 0; i < ctx.bindCount; i++) close(sources.binds[i]);
  for (int fd : sources.devices) close(fd);
}

}  // namespace ss::sandbox
