// The file tree a package will contain, as the packer assembles it: each entry either points at a
// file on the build machine (read only when the archive is written) or holds its bytes inline
// (the manifest, generated files). Paths are package paths: relative, '/'-separated, canonical.
#pragma once

#include <stdint.h>

#include <kj/array.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ss::pkg {

class PackageTree {
public:
  enum class Kind { REGULAR, EXECUTABLE, SYMLINK, DIRECTORY };

  struct Entry {
    kj::String name;
    Kind kind = Kind::DIRECTORY;
    kj::String hostPath;         // REGULAR/EXECUTABLE read from here, unless `inlineContent`
    kj::Maybe<kj::Array<kj::byte>> inlineContent;
    kj::String linkTarget;       // SYMLINK
    int64_t mtimeNs = 0;
    kj::Vector<kj::Own<Entry>> children;  // DIRECTORY, kept sorted by name when written

    kj::Maybe<Entry&> find(kj::StringPtr childName);
    kj::Maybe<const Entry&> find(kj::StringPtr childName) const;
  };

  PackageTree();

  Entry& root() { return *rootEntry; }
  const Entry& root() const { return *rootEntry; }

  kj::Maybe<Entry&> find(kj::StringPtr path);

  Entry& makeDirectory(kj::StringPtr path);
  // mkdir -p. Throws if a component exists and is not a directory.

  bool addHostFile(kj::StringPtr path, kj::StringPtr hostPath, bool executable, int64_t mtimeNs);
  bool addSymlink(kj::StringPtr path, kj::StringPtr target, int64_t mtimeNs);
  bool addContent(kj::StringPtr path, kj::Array<kj::byte> content, bool executable);
  // Each returns false (and changes nothing) if `path` is already in the tree: the first source
  // of a path wins, as with Sandstorm's searchPath.

  static kj::Vector<kj::String> splitPath(kj::StringPtr path);
  // Components of a canonical package path; throws on "", ".", ".." or NUL components.

private:
  kj::Own<Entry> rootEntry;
  Entry* newEntry(kj::StringPtr path, Kind kind);
};

}  // namespace ss::pkg
