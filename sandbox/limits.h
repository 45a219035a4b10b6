// Sandbox bounds, each with the reason beside it. The grain supervisor passes limits from the
// admin's config; these are the defaults and the fixed sizes nobody needs to tune.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace ss::sandbox::limits {

constexpr uint64_t DEFAULT_MEMORY_BYTES = 512ull << 20;
// Per-grain memcg limit. Node reserves ~1.2 GB of address space but touches ~125 MB at start
// (DESIGN §6), so we limit resident memory through the memcg, never RLIMIT_AS.
constexpr uint64_t DEFAULT_SWAP_BYTES = 0;
// Extra swap on top of DEFAULT_MEMORY_BYTES (v1 memsw / v2 memory.swap.max). 0: a grain that
// outgrows its memory is OOM-killed instead of thrashing the host's disk.
constexpr uint32_t DEFAULT_PIDS_MAX = 512;
// Processes + threads per grain. Node starts ~11 threads; 512 leaves room for worker pools
// while a fork bomb stops at EAGAIN long before the host's pid space runs short.
constexpr uint32_t DEFAULT_CPU_WEIGHT = 100;
// cgroup v2 cpu.weight scale (1..10000, 100 = default); v1 cpu.shares = weight * 1024 / 100.
constexpr uint32_t DEFAULT_CPU_MAX_PERCENT = 0;
// Hard CPU cap in percent of one CPU (cpu.max / cfs_quota); 0 = none. Weight alone keeps the
// shell responsive under contention; a quota also bounds an idle-machine hog.
constexpr uint64_t DEFAULT_TMP_BYTES = 16ull << 20;
// /tmp tmpfs size, as Sandstorm's `size=16m`. tmpfs pages are charged to the grain's memcg.
constexpr uint64_t TMP_INODES = 4096;
// Sandstorm's nr_inodes=4k: bounds kernel memory spent on empty files in /tmp.
constexpr uint64_t SHM_BYTES = 16ull << 20;
// /dev/shm tmpfs (POSIX shm_open, Python multiprocessing semaphores); Sandstorm's 16 MiB.
constexpr uint64_t DEFAULT_DISK_BYTES = 1ull << 30;
// Per-grain /var image size when disk quotas are on (ext4 image on a loop device).
constexpr uint64_t MIN_DISK_BYTES = 8ull << 20;
// mkfs.ext4 needs a few MiB for metadata and the journal; smaller images fail to format.

constexpr uint64_t ROOT_SKELETON_BYTES = 256 * 1024;
// The tmpfs that becomes `/`: it only holds empty mount points and copies of the package's
// top-level symlinks (see mounts.c++), so a quarter MiB is plenty.
constexpr uint64_t ROOT_SKELETON_INODES = 1024;
constexpr uint64_t DEV_BYTES = 64 * 1024;
// /dev tmpfs: six empty files (mount points for host device nodes) and the shm directory.

constexpr uint32_t GRAIN_UID = 1000;
constexpr uint32_t GRAIN_GID = 1000;
// The uid/gid apps see inside the sandbox, as in Sandstorm. Mapped to one host uid/gid.
constexpr uint32_t DEFAULT_HOST_UID = 64999;
constexpr uint32_t DEFAULT_HOST_GID = 64999;
// Host uid that grain processes run as when the daemon is root. Outside Debian's ranges for
// system (100-999) and normal (1000-59999) users, so it owns nothing else; the installer
// reserves it as `sandstorm-grain`. Configurable per server.

constexpr uint64_t NOFILE_SOFT = 1024;
constexpr uint64_t NOFILE_HARD = 4096;
// Sandstorm's RLIMIT_NOFILE values: ordinary servers need far fewer; the daemon's own
// fd budget (hard limit 20000 on this machine kind) is not shared with grains, but kernel
// memory per open file is.

constexpr size_t MAX_ARGV = 256;
constexpr size_t MAX_ENV = 256;
constexpr size_t MAX_EXTRA_BINDS = 16;
// Bounds on what a plan can hold: the child prepares fixed-size tables before fork, and a
// manifest with more than this is broken or hostile.
constexpr size_t MAX_PATH_BYTES = 1024;
// Host-side paths in a plan; well below PATH_MAX so the child's message buffers always fit.
constexpr size_t MAX_PACKAGE_TOP_LEVEL = 128;
// Top-level entries of a package that get their own bind mount in the grain root. Real
// packages have about ten (bin, lib, usr, etc, opt, ...); more is refused with a clear message.

constexpr size_t CHILD_ERROR_BYTES = 512;
// The setup-failure message the child sends before exiting (step name + detail + errno).

constexpr uint32_t KILL_RETRY_LIMIT = 1000;
// cgroup v1 has no cgroup.kill: we SIGKILL every pid in cgroup.procs until it is empty. A
// grain inside its own pid namespace dies with its init, so this converges in a round or two.

}  // namespace ss::sandbox::limits
