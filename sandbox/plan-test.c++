// planFor(): pure validation and defaults; no root, no syscalls.
#include "sandbox/plan.h"

#include "sandbox/limits.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

GrainConfig good() {
  GrainConfig c;
  c.grainId = kj::str("g1");
  c.packageDir = kj::str("/var/sandstorm/apps/abc");
  c.varDir = kj::str("/var/sandstorm/grains/g1/var");
  c.argv.add(kj::str("/sandstorm-http-bridge"));
  c.argv.add(kj::str("8000"));
  return c;
}

TEST_CASE("a valid config becomes a plan with defaults filled in", "[sandbox][plan]") {
  auto c = good();
  c.env.add(kj::str("HOME=/var/home"));
  auto plan = planFor(c);
  CHECK(plan.argv.size() == 2);
  CHECK(plan.limits.memoryBytes == limits::DEFAULT_MEMORY_BYTES);
  CHECK(plan.hostUid == limits::DEFAULT_HOST_UID);
  // HOME kept, the rest added (DESIGN §2).
  REQUIRE(plan.env.size() == 4);
  CHECK(plan.env[0] == "HOME=/var/home");
  CHECK(plan.env[1] == "TMPDIR=/tmp");
  CHECK(plan.env[2] == "PATH=/usr/local/bin:/usr/bin:/bin");
  CHECK(plan.env[3] == "SANDSTORM=1");
  for (auto name : {"dev", "tmp", "var", "proc", "sys"}) CHECK(plan.isShadowed(name));
  CHECK(!plan.isShadowed("usr"));
}

TEST_CASE("extra binds shadow their top-level package entry", "[sandbox][plan]") {
  auto c = good();
  c.extraBinds.add(BindMount{kj::str("/opt/sandstorm/bin/legacy-bridge"),
                             kj::str("/sandstorm-http-bridge")});
  c.extraBinds.add(BindMount{kj::str("/proc/cpuinfo"), kj::str("/proc/cpuinfo")});
  auto plan = planFor(c);
  CHECK(plan.isShadowed("sandstorm-http-bridge"));
  CHECK(plan.shadowed.size() == 6);  // proc was already shadowed
}

TEST_CASE("paths must be absolute and normalised", "[sandbox][plan]") {
  CHECK(isCleanAbsolutePath("/a/b"));
  for (auto bad : {"", "/", "a/b", "/a/../b", "/a/./b", "/a//b", "/a/", "/..", "/a/.."}) {
    CAPTURE(bad);
    CHECK(!isCleanAbsolutePath(bad));
  }
  auto c = good();
  c.packageDir = kj::str("/var/sandstorm/apps/../../etc");
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("must be absolute and normalised") &&
                                      Catch::Contains("packageDir"));
  c = good();
  c.varDir = kj::str("relative/var");
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("varDir"));
  c = good();
  c.argv[0] = kj::str("sandstorm-http-bridge");  // no PATH search inside the grain
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("argv[0]"));
}

TEST_CASE("other invalid configs are refused with the field named", "[sandbox][plan]") {
  auto c = good();
  c.argv.clear();
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("argv is empty"));

  c = good();
  c.grainId = kj::str("../x");
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("grain id"));

  c = good();
  c.env.add(kj::str("NOEQUALS"));
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("KEY=VALUE"));

  c = good();
  c.env.add(kj::str("A=1"));
  c.env.add(kj::str("A=2"));
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("set twice"));

  c = good();
  c.hostUid = 0;
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("host root"));

  c = good();
  c.limits.memoryBytes = 1024;
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("memory limit"));

  c = good();
  c.limits.diskBytes = 1 << 20;
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("disk quota"));

  c = good();
  c.extraBinds.add(BindMount{kj::str("/bin/sh"), kj::str("/var/sh")});
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("/dev, /tmp or /var"));

  c = good();
  c.extraBinds.add(BindMount{kj::str("/bin/sh"), kj::str("/x")});
  c.extraBinds.add(BindMount{kj::str("/bin/ls"), kj::str("/x")});
  REQUIRE_THROWS_WITH(planFor(c), Catch::Contains("two binds onto one target"));
}

}  // namespace
}  // namespace ss::sandbox
