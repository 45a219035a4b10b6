#include "pkg/archive-check.h"

#include <string.h>

#include <kj/debug.h>
#include <kj/encoding.h>
#include <kj/map.h>

#include "pkg/limits.h"
#include "pkg/reject.h"

namespace ss::pkg {

namespace {

struct PathNode {
  // The path of the directory being checked, as a chain, so no string is built per entry; it is
  // rendered only for a rejection message.
  const PathNode* parent;
  kj::StringPtr name;

  kj::String render(kj::StringPtr leaf) const {
    kj::Vector<kj::String> parts;
    parts.add(renderName(leaf));
    for (const PathNode* p = this; p != nullptr && p->parent != nullptr; p = p->parent) {
      parts.add(renderName(p->name));
    }
    kj::Vector<kj::StringPtr> ordered;
    for (size_t i = parts.size(); i > 0; i--) ordered.add(parts[i - 1]);
    return kj::strArray(ordered, "/");
  }
};

class Checker {
public:
  Checker(kj::StringPtr package, const ReadLimits& bounds): package(package), bounds(bounds) {}

  void checkDirectory(capnp::List<spk::Archive::File>::Reader files, const PathNode& dir,
                      unsigned depth) {
    if (depth > bounds.maxDepth) {
      reject(package, dir.render(""), kj::str("directories nested more than ",
                                             bounds.maxDepth, " levels deep"));
    }
    kj::HashSet<kj::StringPtr> seen;
    for (auto file: files) {
      kj::StringPtr name = file.getName();
      KJ_IF_MAYBE(problem, checkName(name)) {
        reject(package, dir.render(name), *problem);
      }
      if (seen.contains(name)) {
        reject(package, dir.render(name), "duplicate name in its directory");
      }
      seen.insert(name);
      if (++totals.entries > bounds.maxEntries) {
        reject(package, dir.render(name),
               kj::str("more than ", bounds.maxEntries, " entries in the package"));
      }
      checkEntry(file, dir, depth);
    }
  }

  ArchiveTotals totals;

private:
  kj::StringPtr package;
  const ReadLimits& bounds;

  void addBytes(uint64_t n, const PathNode& dir, kj::StringPtr name) {
    totals.bytes += n;
    if (totals.bytes > bounds.maxUnpackedBytes) {
      reject(package, dir.render(name),
             kj::str("package unpacks to more than ", bounds.maxUnpackedBytes, " bytes"));
    }
  }

  void checkEntry(spk::Archive::File::Reader file, const PathNode& dir, unsigned depth) {
    kj::StringPtr name = file.getName();
    switch (file.which()) {
      case spk::Archive::File::REGULAR:
        addBytes(file.getRegular().size(), dir, name);
        return;
      case spk::Archive::File::EXECUTABLE:
        addBytes(file.getExecutable().size(), dir, name);
        return;
      case spk::Archive::File::SYMLINK: {
        kj::StringPtr target = file.getSymlink();
        if (target.size() == 0) reject(package, dir.render(name), "symlink with an empty target");
        if (target.size() > limits::MAX_SYMLINK_BYTES) {
          reject(package, dir.render(name), "symlink target longer than PATH_MAX");
        }
        if (memchr(target.begin(), '\0', target.size()) != nullptr) {
          reject(package, dir.render(name), "symlink target contains a NUL byte");
        }
        if (symlinkEscapes(depth, target)) {
          reject(package, dir.render(name),
                 kj::str("symlink target \"", renderName(target),
                         "\" climbs above the package root"));
        }
        addBytes(target.size(), dir, name);
        return;
      }
      case spk::Archive::File::DIRECTORY: {
        PathNode child{&dir, name};
        checkDirectory(file.getDirectory(), child, depth + 1);
        return;
      }
    }
    // A union discriminant this schema does not know: a hardlink, device or anything else a
    // future or hostile writer might invent. We unpack only the four kinds we understand.
    reject(package, dir.render(name),
           "entry is not a regular file, executable, symlink or directory");
  }
};

}  // namespace

kj::String renderName(kj::StringPtr name) {
  for (char c: name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      return kj::encodeCEscape(name.asArray());
    }
  }
  return kj::str(name);
}

kj::Maybe<kj::StringPtr> checkName(kj::StringPtr name) {
  if (name.size() == 0) return kj::StringPtr("empty name");
  if (name == "." || name == "..") return kj::StringPtr("names \".\" and \"..\" are not allowed");
  if (memchr(name.begin(), '/', name.size()) != nullptr) {
    return kj::StringPtr("name contains '/'");
  }
  if (memchr(name.begin(), '\0', name.size()) != nullptr) {
    return kj::StringPtr("name contains a NUL byte");
  }
  if (name.size() > limits::MAX_NAME_BYTES) return kj::StringPtr("name longer than 255 bytes");
  return nullptr;
}

bool symlinkEscapes(unsigned depth, kj::StringPtr target) {
  // Walk the components: ".." pops a level; climbing below zero escapes. Absolute targets start
  // from the package root (the grain's "/"), relative ones from the link's own directory.
  long level = target.startsWith("/") ? 0 : static_cast<long>(depth);
  size_t i = 0;
  while (i < target.size()) {
    size_t end = i;
    while (end < target.size() && target[end] != '/') end++;
    auto part = target.slice(i, end);
    if (part.size() == 2 && part[0] == '.' && part[1] == '.') {
      if (--level < 0) return true;
    } else if (part.size() > 0 && !(part.size() == 1 && part[0] == '.')) {
      level++;
    }
    i = end + 1;
  }
  return false;
}

ArchiveTotals checkArchive(spk::Archive::Reader archive, kj::StringPtr package,
                           const ReadLimits& bounds) {
  Checker checker(package, bounds);
  PathNode root{nullptr, ""};
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    checker.checkDirectory(archive.getFiles(), root, 0);
  })) {
    if (isRejection(*e)) kj::throwFatalException(kj::mv(*e));
    reject(package, "", kj::str("malformed archive: ", e->getDescription()));
  }
  return checker.totals;
}

}  // namespace ss::pkg
