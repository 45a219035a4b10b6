#include "sandbox/disk-image.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/io.h>
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "sandbox/limits.h"

extern char** environ;

namespace ss::sandbox {

namespace {

const char* findMkfs() {
  for (auto path : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"}) {
    if (access(path, X_OK) == 0) return path;
  }
  KJ_FAIL_REQUIRE("mkfs.ext4 not found (install e2fsprogs) for per-grain disk images");
}

}  // namespace

void createDiskImage(kj::StringPtr imagePath, uint64_t bytes, uint32_t ownerUid,
                     uint32_t ownerGid) {
  KJ_REQUIRE(bytes >= limits::MIN_DISK_BYTES, "disk image too small", bytes);
  {
    int fd;
    KJ_SYSCALL(fd = open(imagePath.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600),
               imagePath);
    kj::AutoCloseFd owned(fd);
    KJ_SYSCALL(ftruncate(fd, static_cast<off_t>(bytes)), imagePath);  // sparse
  }
  auto owner = kj::str("root_owner=", ownerUid, ":", ownerGid);
  const char* argv[] = {"mkfs.ext4", "-q", "-F", "-m", "0", "-E", owner.cStr(),
                        imagePath.cStr(), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, findMkfs(), nullptr, nullptr, const_cast<char**>(argv), environ);
  if (rc != 0) {
    unlink(imagePath.cStr());
    KJ_FAIL_SYSCALL("posix_spawn(mkfs.ext4)", rc, imagePath);
  }
  int status;
  KJ_SYSCALL(waitpid(pid, &status, 0));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    unlink(imagePath.cStr());
    KJ_FAIL_REQUIRE("mkfs.ext4 failed for grain disk image", imagePath, status);
  }
}

MountedDiskImage::MountedDiskImage(kj::String mountPoint, kj::String loopDevice)
    : mountPoint_(kj::mv(mountPoint)), loopDevice_(kj::mv(loopDevice)) {}

kj::Own<MountedDiskImage> MountedDiskImage::mount(kj::StringPtr imagePath,
                                                  kj::StringPtr mountPoint) {
  int image;
  KJ_SYSCALL(image = open(imagePath.cStr(), O_RDWR | O_CLOEXEC), imagePath);
  kj::AutoCloseFd ownedImage(image);
  int control;
  KJ_SYSCALL(control = open("/dev/loop-control", O_RDWR | O_CLOEXEC),
             "loop devices are needed for per-grain disk quotas");
  kj::AutoCloseFd ownedControl(control);

  // Another process may take the free device between GET_FREE and CONFIGURE: retry.
  for (int attempt = 0; attempt < 16; attempt++) {
    int index;
    KJ_SYSCALL(index = ioctl(control, LOOP_CTL_GET_FREE));
    auto device = kj::str("/dev/loop", index);
    int loop = open(device.cStr(), O_RDWR | O_CLOEXEC);
    if (loop < 0) continue;
    kj::AutoCloseFd ownedLoop(loop);
    loop_config config;
    memset(&config, 0, sizeof(config));
    config.fd = static_cast<uint32_t>(image);
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    if (ioctl(loop, LOOP_CONFIGURE, &config) < 0) {
      if (errno == EBUSY) continue;
      KJ_FAIL_SYSCALL("ioctl(LOOP_CONFIGURE)", errno, device);
    }
    if (::mount(device.cStr(), mountPoint.cStr(), "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
                nullptr) < 0) {
      int error = errno;
      ioctl(loop, LOOP_CLR_FD);
      KJ_FAIL_SYSCALL("mount(ext4 grain image)", error, imagePath, mountPoint);
    }
    // The mount holds the device now; closing our fd lets autoclear free it at unmount.
    return kj::heap<MountedDiskImage>(kj::str(mountPoint), kj::mv(device));
  }
  KJ_FAIL_REQUIRE("no free loop device for the grain disk image", imagePath);
}

MountedDiskImage::~MountedDiskImage() noexcept(false) {
  if (umount2(mountPoint_.cStr(), 0) < 0) {
    if (errno == EBUSY) {
      // Something still has it open (a grain process being reaped): detach now, the kernel
      // finishes (and autoclear frees the loop device) when the last user goes.
      SS_LOG(WARNING, "sandbox", "grain disk image busy; lazy unmount", mountPoint_);
      umount2(mountPoint_.cStr(), MNT_DETACH);
    } else {
      SS_LOG(ERROR, "sandbox", "unmounting grain disk image failed", mountPoint_,
             strerror(errno));
    }
  }
}

DiskUsage diskUsage(kj::StringPtr path) {
  struct statfs fs;
  KJ_SYSCALL(statfs(path.cStr(), &fs), path);
  uint64_t block = fs.f_frsize ? fs.f_frsize : fs.f_bsize;
  return DiskUsage{(fs.f_blocks - fs.f_bfree) * block, fs.f_blocks * block};
}

}  // namespace ss::sandbox
