// Schema text compiled into the binary (generated from rpc/*.capnp and capnp's c++.capnp by
// pkg/CMakeLists.txt), so `spk pack` can resolve `import "/sandstorm/package.capnp"` on a
// machine with no schema files installed.
#pragma once

namespace ss::pkg {

extern const char EMBEDDED_PACKAGE_CAPNP[];
extern const char EMBEDDED_UTIL_CAPNP[];
extern const char EMBEDDED_CXX_CAPNP[];

}  // namespace ss::pkg
