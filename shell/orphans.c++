#include "shell/orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

#include "base/fd.h"
#include "base/log.h"
#include "pkg/unpack.h"
#include "shell/sql.h"

namespace ss::shell {

size_t removeOrphans(sqlite3* db, kj::StringPtr dirPath, kj::StringPtr existsSql,
                     kj::StringPtr what) {
  int fd;
  KJ_SYSCALL(fd = open(dirPath.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dirPath);
  AutoCloseFd dir(fd);
  kj::Vector<kj::String> names;
  {
    int listFd;
    KJ_SYSCALL(listFd = dup(fd), dirPath);
    DIR* listing = fdopendir(listFd);
    if (listing == nullptr) {
      int error = errno;
      close(listFd);
      KJ_FAIL_SYSCALL("fdopendir", error, dirPath);
    }
    KJ_DEFER(closedir(listing));
    while (dirent* e = readdir(listing)) {
      if (e->d_name[0] != '.') names.add(kj::str(e->d_name));
    }
  }
  size_t removed = 0;
  for (auto& name: names) {
    if (sqlInteger(db, existsSql, {name}, 0) != 0) continue;
    SS_LOG(WARNING, "store", "removing a directory the store does not know (a crash cut off "
           "its creation or removal)", what, name);
    pkg::removeTreeAt(fd, name);
    removed++;
  }
  if (removed > 0) {
    KJ_SYSCALL(fsync(fd), dirPath);
  }
  return removed;
}

}  // namespace ss::shell
