// SandboxPlan: everything a grain's sandbox needs, as a validated value. Built by a pure
// function from the grain's config (no syscalls), so every rule here is unit-testable without
// root; spawn.h applies it.
//
// The grain's root is not the package directory itself but a small read-only tmpfs whose
// entries are bind mounts of the package's top-level entries (see mounts.c++). That lets us
// create mount points (`/var`, `/tmp`, `/dev`, `/sandstorm-http-bridge`, ...) that the package
// lacks without writing to the read-only package, and it means a package entry named like a
// mount point is never used: a package whose `var` is a symlink to `/` cannot redirect a mount
// (facts/security.md §0.4, P-9), because we never look at it.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ss::sandbox {

struct Limits {
  uint64_t memoryBytes;
  uint64_t swapBytes;    // on top of memoryBytes
  uint32_t pidsMax;
  uint32_t cpuWeight;    // 1..10000, 100 = normal share
  uint32_t cpuMaxPercent;  // hard cap in % of one CPU; 0 = none
  uint64_t tmpBytes;     // /tmp tmpfs size
  uint64_t diskBytes;    // /var image size (used by disk-image.h; 0 = no quota)

  static Limits defaults();
};

struct BindMount {
  kj::String source;  // absolute host path of a file or directory (trusted: daemon config)
  kj::String target;  // absolute path inside the grain, e.g. "/sandstorm-http-bridge"
};
// A read-only bind of a host path into the grain. The target's first path component takes
// the place of any package entry with that name (it is "shadowed", see above).

struct GrainConfig {
  kj::String grainId;      // names the cgroup: [A-Za-z0-9_-], at most 64 bytes
  kj::String packageDir;   // absolute host path of the unpacked, read-only package
  kj::String varDir;       // absolute host path of the grain's writable storage (its /var)
  kj::Vector<kj::String> argv;  // argv[0] is an absolute path inside the grain
  kj::Vector<kj::String> env;   // "KEY=VALUE"
  Limits limits = Limits::defaults();
  uint32_t hostUid;        // host uid/gid grain processes run as (root daemons only; an
  uint32_t hostGid;        // unprivileged daemon can only map its own uid, see spawn.h)
  kj::Vector<BindMount> extraBinds;
  bool initIsBridge = false;
  // argv[0] is our own sandstorm-http-bridge (bound in by the daemon, never the package's):
  // it gets the BRIDGE seccomp filter (seccomp.h) and narrows it for the app itself.
  bool requireCgroup = true;
  // false: start without resource limits when cgroups are not writable (unprivileged use in
  // a container); true: refuse to start.

  GrainConfig();
};

struct SandboxPlan {
  kj::String grainId;
  kj::String packageDir;
  kj::String varDir;
  kj::Array<kj::String> argv;
  kj::Array<kj::String> env;   // with the defaults of DESIGN §2 filled in
  Limits limits;
  uint32_t hostUid;
  uint32_t hostGid;
  kj::Array<BindMount> extraBinds;
  bool requireCgroup;
  bool initIsBridge;

  kj::Array<kj::String> shadowed;
  // Top-level names the grain root takes from us, never from the package: dev, tmp, var,
  // proc, sys, plus the first component of each extra bind target.

  bool isShadowed(kj::StringPtr topLevelName) const;
};

SandboxPlan planFor(const GrainConfig& config);
// Validates and copies. Throws (KJ_REQUIRE) with a message naming the bad field: paths must
// be absolute, normalised (no "", ".", ".." components, no trailing "/"), free of NUL and
// newlines, shorter than limits::MAX_PATH_BYTES; argv non-empty with an absolute argv[0];
// env entries "KEY=VALUE" with a non-empty KEY and no duplicates; limits non-zero where zero
// makes no sense; host uid/gid not 0 (mapping a grain to host root would make it root).
//
// Adds HOME=/var, TMPDIR=/tmp, PATH=/usr/local/bin:/usr/bin:/bin and SANDSTORM=1 when the
// config does not set them (node and fossil refuse to start without HOME; DESIGN §2).

bool isCleanAbsolutePath(kj::StringPtr path);
// "/a/b": absolute, no empty, "." or ".." components, no trailing slash ("/" itself is not
// clean either: nothing may be mounted over the whole root).

}  // namespace ss::sandbox
