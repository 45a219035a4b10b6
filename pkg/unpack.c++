#include "pkg/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/encoding.h>
#include <kj/vector.h>

namespace ss::pkg {

namespace {

constexpr mode_t FILE_MODE = 0444;
constexpr mode_t EXEC_MODE = 0555;
constexpr mode_t DIR_MODE = 0555;

kj::AutoCloseFd openDirAt(int parentFd, kj::StringPtr name) {
  int fd;
  KJ_SYSCALL(fd = ::openat(parentFd, name.cStr(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), name);
  return kj::AutoCloseFd(fd);
}

void setMtime(int dirFd, kj::StringPtr name, int64_t ns) {
  if (ns <= 0) return;
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = ns / 1000000000;
  times[1].tv_nsec = ns % 1000000000;
  KJ_SYSCALL(::utimensat(dirFd, name.cStr(), times, AT_SYMLINK_NOFOLLOW), name);
}

void writeFile(int dirFd, kj::StringPtr name, capnp::Data::Reader data, mode_t mode) {
  int fd;
  // O_EXCL makes the create fail on any existing entry, a symlink included; O_NOFOLLOW says so
  // twice. The directory is one we created, so nothing else should be there anyway.
  KJ_SYSCALL(fd = ::openat(dirFd, name.cStr(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode), name);
  kj::AutoCloseFd owned(fd);
  const kj::byte* pos = data.begin();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n;
    KJ_SYSCALL(n = ::write(fd, pos, left), name);
    pos += n;
    left -= n;
  }
  // The umask may have removed bits from the create mode; set exactly what we promise.
  KJ_SYSCALL(::fchmod(fd, mode), name);
}

void writeDirectory(int dirFd, capnp::List<spk::Archive::File>::Reader files) {
  for (auto file: files) {
    kj::StringPtr name = file.getName();
    switch (file.which()) {
      case spk::Archive::File::REGULAR:
        writeFile(dirFd, name, file.getRegular(), FILE_MODE);
        break;
      case spk::Archive::File::EXECUTABLE:
        writeFile(dirFd, name, file.getExecutable(), EXEC_MODE);
        break;
      case spk::Archive::File::SYMLINK:
        KJ_SYSCALL(::symlinkat(file.getSymlink().cStr(), dirFd, name.cStr()), name);
        break;
      case spk::Archive::File::DIRECTORY: {
        KJ_SYSCALL(::mkdirat(dirFd, name.cStr(), 0700), name);
        auto child = openDirAt(dirFd, name);
        writeDirectory(child, file.getDirectory());
        KJ_SYSCALL(::fchmod(child, DIR_MODE), name);
        break;
      }
      default:
        KJ_FAIL_ASSERT("unchecked entry type reached the unpacker", name);
    }
    setMtime(dirFd, name, file.getLastModificationTimeNs());
  }
}

kj::String tempName(kj::StringPtr finalName) {
  kj::byte random[8];
  randombytes_buf(random, sizeof(random));
  return kj::str(TEMP_PREFIX, finalName, "-", kj::encodeHex(random));
}

InstallResult installAs(const VerifiedPackage& pkg, int parentFd, kj::StringPtr finalName,
                        bool existingIsSuccess) {
  KJ_REQUIRE(sodium_init() >= 0);
  auto temp = tempName(finalName);
  KJ_SYSCALL(::mkdirat(parentFd, temp.cStr(), 0700), temp);
  bool renamed = false;
  KJ_DEFER(if (!renamed) {
    // Runs while an exception unwinds: a second one escaping here would terminate us.
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { removeTreeAt(parentFd, temp); })) {
      KJ_LOG(ERROR, "could not remove temporary unpack directory", temp, *e);
    }
  });

  {
    auto root = openDirAt(parentFd, temp);
    writeDirectory(root, pkg.archive.getFiles());
    KJ_SYSCALL(::fchmod(root, DIR_MODE), temp);
    // One syncfs instead of an fsync per file: the package must be on disk before its name is,
    // or a crash could leave a complete-looking directory with empty files.
    KJ_SYSCALL(::syncfs(root), temp);
  }

  int result = ::renameat2(parentFd, temp.cStr(), parentFd, finalName.cStr(), RENAME_NOREPLACE);
  if (result < 0) {
    int error = errno;
    if (error == EEXIST && existingIsSuccess) return InstallResult::ALREADY_PRESENT;
    if (error == EEXIST) {
      KJ_FAIL_REQUIRE("destination already exists", finalName) { break; }
    }
    KJ_FAIL_SYSCALL("renameat2", error, finalName);
  }
  renamed = true;
  KJ_SYSCALL(::fsync(parentFd), finalName);
  return InstallResult::INSTALLED;
}

}  // namespace

InstallResult installPackage(const VerifiedPackage& pkg, int packagesDirFd) {
  struct stat st;
  if (::fstatat(packagesDirFd, pkg.packageId.cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return InstallResult::ALREADY_PRESENT;
  }
  return installAs(pkg, packagesDirFd, pkg.packageId, true);
}

void unpackTo(const VerifiedPackage& pkg, kj::StringPtr targetDir) {
  kj::StringPtr path = targetDir;
  kj::String trimmed;
  if (path.size() > 1 && path.endsWith("/")) {
    size_t end = path.size();
    while (end > 1 && path[end - 1] == '/') end--;
    trimmed = kj::heapString(path.slice(0, end));
    path = trimmed;
  }
  kj::String parent;
  kj::String leaf;
  KJ_IF_MAYBE(slash, path.findLast('/')) {
    parent = *slash == 0 ? kj::str("/") : kj::str(path.slice(0, *slash));
    leaf = kj::str(path.slice(*slash + 1));
  } else {
    parent = kj::str(".");
    leaf = kj::str(path);
  }
  KJ_REQUIRE(leaf.size() > 0 && leaf != "." && leaf != "..",
             "unpack destination must name a new directory", targetDir);
  struct stat st;
  KJ_REQUIRE(::lstat(targetDir.cStr(), &st) < 0, "destination already exists", targetDir);
  int fd;
  KJ_SYSCALL(fd = ::open(parent.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), parent);
  kj::AutoCloseFd parentFd(fd);
  installAs(pkg, parentFd, leaf, false);
}

void removeTreeAt(int parentFd, kj::StringPtr name) {
  struct stat st;
  if (::fstatat(parentFd, name.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    KJ_FAIL_SYSCALL("fstatat", errno, name);
  }
  if (!S_ISDIR(st.st_mode)) {
    KJ_SYSCALL(::unlinkat(parentFd, name.cStr(), 0), name);
    return;
  }
  {
    auto dir = openDirAt(parentFd, name);
    KJ_SYSCALL(::fchmod(dir, 0700), name);  // read-only directories refuse unlink inside
    int listFd;
    KJ_SYSCALL(listFd = ::dup(dir));
    DIR* listing = ::fdopendir(listFd);
    if (listing == nullptr) {
      ::close(listFd);
      KJ_FAIL_SYSCALL("fdopendir", errno, name);
    }
    KJ_DEFER(::closedir(listing));
    kj::Vector<kj::String> names;
    while (struct dirent* entry = ::readdir(listing)) {
      kj::StringPtr child = entry->d_name;
      if (child != "." && child != "..") names.add(kj::str(child));
    }
    for (auto& child: names) removeTreeAt(dir, child);
  }
  KJ_SYSCALL(::unlinkat(parentFd, name.cStr(), AT_REMOVEDIR), name);
}

void cleanStaleUnpacks(int packagesDirFd) {
  int listFd;
  KJ_SYSCALL(listFd = ::dup(packagesDirFd));
  DIR* listing = ::fdopendir(listFd);
  if (listing == nullptr) {
    ::close(listFd);
    KJ_FAIL_SYSCALL("fdopendir", errno);
  }
  KJ_DEFER(::closedir(listing));
  ::rewinddir(listing);
  kj::Vector<kj::String> stale;
  while (struct dirent* entry = ::readdir(listing)) {
    if (kj::StringPtr(entry->d_name).startsWith(TEMP_PREFIX)) stale.add(kj::str(entry->d_name));
  }
  for (auto& name: stale) removeTreeAt(packagesDirFd, name);
}

}  // namespace ss::pkg
