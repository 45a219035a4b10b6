// Writing a verified package to disk, safely.
//
// Everything is created inside a fresh temporary directory next to the destination, relative to
// directory fds, with exclusive, no-follow semantics (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
// symlinkat): no path is ever resolved through an entry the package created, so no link can
// redirect a write. Files get 0444 (executables 0555), directories 0555 once filled; nothing is
// ever setuid, setgid or sticky. Then syncfs, an atomic rename (RENAME_NOREPLACE) to the final
// name and an fsync of the parent. On any failure the temporary directory is removed; the final
// name either does not exist or holds a complete package.
//
// Symlinks are stored verbatim (real packages carry absolute links such as
// /usr/bin/python -> python3 that resolve inside the grain, where the package is "/"). Links
// that would climb above the package root were already rejected by checkArchive().
#pragma once

#include <kj/string.h>

#include "pkg/reader.h"

namespace ss::pkg {

enum class InstallResult { INSTALLED, ALREADY_PRESENT };

InstallResult installPackage(const VerifiedPackage& pkg, int packagesDirFd);
// Unpacks into <packages>/<package-id>/. If that directory already exists (same bytes, since the
// name is their hash), nothing is written and ALREADY_PRESENT is returned.

void unpackTo(const VerifiedPackage& pkg, kj::StringPtr targetDir);
// Unpacks into `targetDir`, which must not exist (its parent must). Same safety as above.

void removeTreeAt(int parentFd, kj::StringPtr name);
// Deletes `name` (a file, link or directory tree) under `parentFd` without following any symlink,
// making read-only directories writable as needed. Missing is not an error.

void cleanStaleUnpacks(int packagesDirFd);
// Removes temporary directories left by an unpack that was killed (call at start-up).

constexpr char TEMP_PREFIX[] = ".unpacking-";

}  // namespace ss::pkg
