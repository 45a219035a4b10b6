// Per-grain disk quota: the grain's /var is an ext4 file system in a sparse image file, loop-
// mounted on the grain's var directory while the grain runs. Writes past the image size fail
// with ENOSPC inside the grain; the host loses at most the image size.
//
// Why this mechanism: this machine kind has loop devices and ext4 but no quota formats (ext4
// project quota and tmpfs quota are unavailable) and no device-mapper (facts/security.md §0.7).
// An image also makes a grain's data one file (easy to back up, move or delete), and usage is
// one statfs(). Costs: mkfs once per grain (~50 ms for a small image), one loop device per
// running grain, and the image's size is fixed until grown (resize2fs) by the supervisor.
#pragma once

#include <kj/common.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <stdint.h>

namespace ss::sandbox {

void createDiskImage(kj::StringPtr imagePath, uint64_t bytes, uint32_t ownerUid,
                     uint32_t ownerGid);
// Creates a sparse file of `bytes` and formats it ext4 (mkfs.ext4 -m 0: no blocks reserved for
// root, so the quota is the usable size) with its root directory owned by the grain's host
// uid/gid. Throws naming mkfs's exit status if formatting fails; the image is then removed.

class MountedDiskImage {
public:
  static kj::Own<MountedDiskImage> mount(kj::StringPtr imagePath, kj::StringPtr mountPoint);
  // Attaches a free loop device (LOOP_CONFIGURE with autoclear: it detaches itself when the
  // file system is unmounted) and mounts ext4 nosuid,nodev on `mountPoint`.

  ~MountedDiskImage() noexcept(false);
  // Unmounts (lazily if busy), which also frees the loop device.
  KJ_DISALLOW_COPY(MountedDiskImage);

  kj::StringPtr mountPoint() const { return mountPoint_; }
  kj::StringPtr loopDevice() const { return loopDevice_; }

  MountedDiskImage(kj::String mountPoint, kj::String loopDevice);

private:
  kj::String mountPoint_;
  kj::String loopDevice_;
};

struct DiskUsage {
  uint64_t usedBytes;
  uint64_t totalBytes;  // usable size (file system blocks, minus metadata)
};

DiskUsage diskUsage(kj::StringPtr path);
// statfs() of the mounted image (or any directory).

}  // namespace ss::sandbox
