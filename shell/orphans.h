#pragma once
// Startup sweep of directories a crash left without their store row: a package unpacked but
// not yet recorded (or half removed by an uninstall), a grain whose deletion or restore was cut
// off. The store is the truth; a directory it does not name was never acknowledged, or its
// removal was. Left in place, a half-removed package would later pass for installed.

#include <kj/string.h>

struct sqlite3;

namespace ss::shell {

size_t removeOrphans(sqlite3* db, kj::StringPtr dirPath, kj::StringPtr existsSql,
                     kj::StringPtr what);
// Removes every entry of `dirPath` (dot names excepted: other sweeps own them) for which
// `existsSql`, given the name as its one parameter, returns no row or 0. Returns how many.
// Call only before anything can create entries there (at startup).

}  // namespace ss::shell
