// Test and benchmark helper (not part of ss-sandbox): a throwaway grain on disk, i.e. a
// package directory holding one static program and a var directory owned by the grain's
// host uid, both removed on destruction.
#pragma once

#include <kj/string.h>
#include <kj/vector.h>

#include "sandbox/plan.h"

namespace ss::sandbox::test {

class TestGrain {
public:
  TestGrain(kj::StringPtr programPath, uint32_t hostUid, uint32_t hostGid);
  // Copies `programPath` to <package>/program (mode 0755) and creates an empty var dir owned
  // by hostUid:hostGid.
  ~TestGrain() noexcept(false);
  TestGrain(const TestGrain&) = delete;
  TestGrain& operator=(const TestGrain&) = delete;

  kj::StringPtr root() const { return root_; }
  kj::String packageDir() const { return kj::str(root_, "/pkg"); }
  kj::String varDir() const { return kj::str(root_, "/var"); }

  GrainConfig config(kj::StringPtr grainId, kj::ArrayPtr<const kj::StringPtr> args = {}) const;
  // argv = {"/program", args...}.

private:
  kj::String root_;
  uint32_t hostUid;
  uint32_t hostGid;
};

kj::String uniqueGrainId(kj::StringPtr prefix);
// prefix + pid + counter: cgroup names that never collide across concurrent test processes.

void removeTree(kj::StringPtr path);

}  // namespace ss::sandbox::test
