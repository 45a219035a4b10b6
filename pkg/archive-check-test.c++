#include "pkg/archive-check.h"

#include <catch2/catch.hpp>

namespace ss::pkg {
namespace {

TEST_CASE("entry names: only plain, short, unique-able names pass", "[pkg][check]") {
  CHECK(checkName("hello.txt") == nullptr);
  CHECK(checkName("..hidden") == nullptr);
  CHECK(checkName("") != nullptr);
  CHECK(checkName(".") != nullptr);
  CHECK(checkName("..") != nullptr);
  CHECK(checkName("a/b") != nullptr);
  CHECK(checkName("/abs") != nullptr);
  char withNul[] = {'a', '\0', 'b', '\0'};
  CHECK(checkName(kj::StringPtr(withNul, 3)) != nullptr);
  CHECK(checkName(kj::str(kj::repeat('x', 255))) == nullptr);
  CHECK(checkName(kj::str(kj::repeat('x', 256))) != nullptr);
}

TEST_CASE("symlink targets: absolute ones stay inside, climbing ones escape", "[pkg][check]") {
  // Absolute targets resolve from the package root, which is "/" inside the grain.
  CHECK_FALSE(symlinkEscapes(0, "/etc"));
  CHECK_FALSE(symlinkEscapes(2, "/usr/bin/python3"));
  CHECK_FALSE(symlinkEscapes(2, "python3"));
  CHECK_FALSE(symlinkEscapes(2, "../../lib/x"));
  CHECK_FALSE(symlinkEscapes(1, "a/../../b"));
  CHECK(symlinkEscapes(0, ".."));
  CHECK(symlinkEscapes(1, "../../etc"));
  CHECK(symlinkEscapes(2, "../../../../../../etc/passwd"));
  CHECK(symlinkEscapes(0, "/.."));
  CHECK(symlinkEscapes(0, "a/../../b"));
  CHECK_FALSE(symlinkEscapes(0, "./././x"));
}

}  // namespace
}  // namespace ss::pkg
