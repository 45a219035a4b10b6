// Package definitions (`sandstorm-pkgdef.capnp`, facts/sandstorm.md §2.5) and turning one into a
// PackageTree.
//
// The pkgdef is capnp text that imports "/sandstorm/package.capnp"; we parse it with capnp's
// SchemaParser against our own schema text (rpc/package.capnp, compiled into the binary), so no
// schema files need to be installed. Supported: id, manifest, sourceMap (searchPath with
// sourcePath / packagePath / hidePaths), fileList, alwaysInclude, bridgeConfig.
//
// What gets packed, in order (the first source of a path wins):
//   1. `sandstorm-manifest` from `manifest`, `sandstorm-http-bridge-config` from `bridgeConfig`;
//   2. every path in `fileList` (non-recursive) and `alwaysInclude` (recursive), looked up
//      through the searchPath; if neither is given, everything the searchPath maps;
//   3. each `--include-binary` host executable at its own path, plus the shared libraries and
//      ELF interpreter `ldd` resolves for it (copied as regular files at the paths ldd prints);
//   4. empty `dev/`, `tmp/`, `var/` and an empty `proc/cpuinfo`, the sandbox's mount points.
#pragma once

#include <capnp/message.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "pkg/package-tree.h"
#include "rpc/package.capnp.h"

namespace ss::pkg {

struct PackageDefinition {
  kj::Own<capnp::MallocMessageBuilder> message;
  spk::PackageDefinition::Reader def;
  kj::String baseDir;  // directory of the pkgdef file; relative sourcePaths start here
};

PackageDefinition loadPackageDefinition(kj::StringPtr pkgdefSpec,
                                        kj::ArrayPtr<const kj::StringPtr> importPaths = nullptr);
// `pkgdefSpec` is "<file>" or "<file>:<constName>" (default const name "pkgdef"). Parse errors
// throw with capnp's file:line:column message.

struct BuildOptions {
  kj::ArrayPtr<const kj::StringPtr> includeBinaries;
  // Host executables to pack together with their shared libraries.
  bool verbose = false;
};

PackageTree buildPackageTree(const PackageDefinition& pkgdef, BuildOptions options = {});

void addBinaryWithLibraries(PackageTree& tree, kj::StringPtr hostBinary);
// Step 3 above, usable on its own.

kj::Array<kj::byte> serializeManifest(spk::Manifest::Reader manifest);

}  // namespace ss::pkg
