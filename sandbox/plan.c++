#include "sandbox/plan.h"

#include <kj/debug.h>

#include "sandbox/limits.h"

namespace ss::sandbox {

Limits Limits::defaults() {
  return Limits{
      .memoryBytes = limits::DEFAULT_MEMORY_BYTES,
      .swapBytes = limits::DEFAULT_SWAP_BYTES,
      .pidsMax = limits::DEFAULT_PIDS_MAX,
      .cpuWeight = limits::DEFAULT_CPU_WEIGHT,
      .cpuMaxPercent = limits::DEFAULT_CPU_MAX_PERCENT,
      .tmpBytes = limits::DEFAULT_TMP_BYTES,
      .diskBytes = 0,
  };
}

GrainConfig::GrainConfig()
    : hostUid(limits::DEFAULT_HOST_UID), hostGid(limits::DEFAULT_HOST_GID) {}

bool isCleanAbsolutePath(kj::StringPtr path) {
  if (path.size() < 2 || path[0] != '/' || path[path.size() - 1] == '/') return false;
  size_t start = 1;
  for (size_t i = 1; i <= path.size(); i++) {
    if (i == path.size() || path[i] == '/') {
      auto component = path.slice(start, i);
      if (component.size() == 0 || component == kj::StringPtr(".") ||
          component == kj::StringPtr("..")) {
        return false;
      }
      start = i + 1;
    } else if (path[i] == '\0' || path[i] == '\n') {
      return false;
    }
  }
  return true;
}

namespace {

void requirePath(kj::StringPtr what, kj::StringPtr path) {
  KJ_REQUIRE(path.size() < limits::MAX_PATH_BYTES, "sandbox plan: path too long", what);
  KJ_REQUIRE(isCleanAbsolutePath(path),
             "sandbox plan: path must be absolute and normalised (no '..', '.', '//')", what, path);
}

kj::String firstComponent(kj::StringPtr path) {
  // `path` is clean and absolute.
  KJ_IF_MAYBE(slash, path.slice(1).findFirst('/')) {
    return kj::heapString(path.slice(1, *slash + 1));
  }
  return kj::heapString(path.slice(1));
}

kj::ArrayPtr<const char> keyOf(kj::StringPtr entry) {
  KJ_IF_MAYBE(eq, entry.findFirst('=')) {
    return entry.slice(0, *eq);
  }
  return nullptr;
}

constexpr const char* ALWAYS_SHADOWED[] = {"dev", "tmp", "var", "proc", "sys"};
// dev/tmp/var are our mounts. proc and sys are shadowed so a package's own `proc` or `sys`
// directory never appears: the grain has no procfs or sysfs (F-1), and an app that finds an
// empty /proc would misread it as a broken procfs rather than a missing one.

}  // namespace

bool SandboxPlan::isShadowed(kj::StringPtr name) const {
  for (auto& s : shadowed) {
    if (s == name) return true;
  }
  return false;
}

SandboxPlan planFor(const GrainConfig& config) {
  KJ_REQUIRE(config.grainId.size() > 0 && config.grainId.size() <= 64,
             "sandbox plan: grain id must be 1..64 bytes", config.grainId);
  for (char c : config.grainId) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    KJ_REQUIRE(ok, "sandbox plan: grain id may only hold [A-Za-z0-9_-] (it names a cgroup)",
               config.grainId);
  }
  requirePath("packageDir", config.packageDir);
  requirePath("varDir", config.varDir);

  KJ_REQUIRE(config.argv.size() > 0, "sandbox plan: argv is empty");
  KJ_REQUIRE(config.argv.size() <= limits::MAX_ARGV, "sandbox plan: too many arguments");
  requirePath("argv[0]", config.argv[0]);
  for (auto& arg : config.argv) {
    KJ_REQUIRE(arg.findFirst('\0') == nullptr, "sandbox plan: NUL in an argument");
  }

  auto& l = config.limits;
  KJ_REQUIRE(l.memoryBytes >= (4ull << 20), "sandbox plan: memory limit below 4 MiB",
             l.memoryBytes);
  KJ_REQUIRE(l.pidsMax >= 1, "sandbox plan: pids limit must be at least 1");
  KJ_REQUIRE(l.cpuWeight >= 1 && l.cpuWeight <= 10000, "sandbox plan: cpu weight not in 1..10000",
             l.cpuWeight);
  KJ_REQUIRE(l.tmpBytes >= 4096, "sandbox plan: /tmp size below one page", l.tmpBytes);
  KJ_REQUIRE(l.diskBytes == 0 || l.diskBytes >= limits::MIN_DISK_BYTES,
             "sandbox plan: disk quota too small for an ext4 image", l.diskBytes);
  KJ_REQUIRE(config.hostUid != 0 && config.hostGid != 0,
             "sandbox plan: grains must not map to host root (uid/gid 0)");

  kj::Vector<kj::String> shadowed;
  for (auto name : ALWAYS_SHADOWED) shadowed.add(kj::str(name));

  KJ_REQUIRE(config.extraBinds.size() <= limits::MAX_EXTRA_BINDS,
             "sandbox plan: too many extra bind mounts");
  auto binds = kj::heapArrayBuilder<BindMount>(config.extraBinds.size());
  for (auto& bind : config.extraBinds) {
    requirePath("bind source", bind.source);
    requirePath("bind target", bind.target);
    auto first = firstComponent(bind.target);
    for (auto reserved : {"dev", "tmp", "var"}) {
      KJ_REQUIRE(first != reserved,
                 "sandbox plan: extra binds may not go under /dev, /tmp or /var", bind.target);
    }
    for (auto& other : binds) {
      KJ_REQUIRE(other.target != bind.target, "sandbox plan: two binds onto one target",
                 bind.target);
    }
    bool known = false;
    for (auto& s : shadowed) known = known || s == first;
    if (!known) shadowed.add(kj::mv(first));
    binds.add(BindMount{kj::str(bind.source), kj::str(bind.target)});
  }

  KJ_REQUIRE(config.env.size() <= limits::MAX_ENV, "sandbox plan: too many environment entries");
  kj::Vector<kj::String> env;
  for (auto& entry : config.env) {
    auto key = keyOf(entry);
    KJ_REQUIRE(key.size() > 0, "sandbox plan: environment entry is not KEY=VALUE", entry);
    KJ_REQUIRE(entry.findFirst('\0') == nullptr, "sandbox plan: NUL in environment", key);
    for (auto& prior : env) {
      KJ_REQUIRE(keyOf(prior) != key, "sandbox plan: environment key set twice", entry);
    }
    env.add(kj::str(entry));
  }
  auto addDefault = [&](kj::StringPtr key, kj::StringPtr value) {
    for (auto& e : env) {
      if (keyOf(e) == key) return;
    }
    env.add(kj::str(key, "=", value));
  };
  addDefault("HOME", "/var");
  addDefault("TMPDIR", "/tmp");
  addDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
  addDefault("SANDSTORM", "1");

  if (config.initIsBridge) {
    // Only a binary the daemon bound in itself earns the bridge's wider filter.
    bool bound = false;
    for (auto& b : config.extraBinds) bound = bound || b.target == config.argv[0];
    KJ_REQUIRE(bound, "initIsBridge needs argv[0] to be a daemon-provided bind mount",
               config.argv[0]);
  }

  auto argv = kj::heapArrayBuilder<kj::String>(config.argv.size());
  for (auto& arg : config.argv) argv.add(kj::str(arg));

  return SandboxPlan{
      .grainId = kj::str(config.grainId),
      .packageDir = kj::str(config.packageDir),
      .varDir = kj::str(config.varDir),
      .argv = argv.finish(),
      .env = env.releaseAsArray(),
      .limits = config.limits,
      .hostUid = config.hostUid,
      .hostGid = config.hostGid,
      .extraBinds = binds.finish(),
      .requireCgroup = config.requireCgroup,
      .initIsBridge = config.initIsBridge,
      .shadowed = shadowed.releaseAsArray(),
  };
}

}  // namespace ss::sandbox
