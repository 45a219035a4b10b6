#include "pkg/package-tree.h"

#include <kj/debug.h>

#include "pkg/archive-check.h"

namespace ss::pkg {

kj::Maybe<PackageTree::Entry&> PackageTree::Entry::find(kj::StringPtr childName) {
  for (auto& child: children) {
    if (child->name == childName) return *child;
  }
  return nullptr;
}

kj::Maybe<const PackageTree::Entry&> PackageTree::Entry::find(kj::StringPtr childName) const {
  for (auto& child: children) {
    if (child->name == childName) return *child;
  }
  return nullptr;
}

PackageTree::PackageTree(): rootEntry(kj::heap<Entry>()) {}

kj::Vector<kj::String> PackageTree::splitPath(kj::StringPtr path) {
  kj::Vector<kj::String> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = start;
    while (end < path.size() && path[end] != '/') end++;
    auto name = kj::heapString(path.slice(start, end));
    KJ_IF_MAYBE(problem, checkName(name)) {
      KJ_FAIL_REQUIRE("invalid package path (must be canonical and relative)", path, *problem);
    }
    parts.add(kj::mv(name));
    start = end + 1;
  }
  return parts;
}

kj::Maybe<PackageTree::Entry&> PackageTree::find(kj::StringPtr path) {
  Entry* entry = rootEntry.get();
  for (auto& part: splitPath(path)) {
    KJ_IF_MAYBE(child, entry->find(part)) {
      entry = child;
    } else {
      return nullptr;
    }
  }
  return *entry;
}

PackageTree::Entry& PackageTree::makeDirectory(kj::StringPtr path) {
  Entry* entry = rootEntry.get();
  for (auto& part: splitPath(path)) {
    KJ_IF_MAYBE(child, entry->find(part)) {
      KJ_REQUIRE(child->kind == Kind::DIRECTORY,
                 "package path is both a directory and a file or link", path);
      entry = child;
    } else {
      auto created = kj::heap<Entry>();
      created->name = kj::mv(part);
      created->kind = Kind::DIRECTORY;
      Entry* next = created.get();
      entry->children.add(kj::mv(created));
      entry = next;
    }
  }
  return *entry;
}

PackageTree::Entry* PackageTree::newEntry(kj::StringPtr path, Kind kind) {
  auto parts = splitPath(path);
  KJ_REQUIRE(parts.size() > 0, "cannot replace the package root", path);
  Entry* parent = rootEntry.get();
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    KJ_IF_MAYBE(child, parent->find(parts[i])) {
      if (child->kind != Kind::DIRECTORY) return nullptr;  // shadowed by a file or link
      parent = child;
    } else {
      auto created = kj::heap<Entry>();
      created->name = kj::str(parts[i]);
      Entry* next = created.get();
      parent->children.add(kj::mv(created));
      parent = next;
    }
  }
  if (parent->find(parts.back()) != nullptr) return nullptr;
  auto created = kj::heap<Entry>();
  created->name = kj::mv(parts.back());
  created->kind = kind;
  Entry* result = created.get();
  parent->children.add(kj::mv(created));
  return result;
}

bool PackageTree::addHostFile(kj::StringPtr path, kj::StringPtr hostPath, bool executable,
                              int64_t mtimeNs) {
  Entry* entry = newEntry(path, executable ? Kind::EXECUTABLE : Kind::REGULAR);
  if (entry == nullptr) return false;
  entry->hostPath = kj::str(hostPath);
  entry->mtimeNs = mtimeNs;
  return true;
}

bool PackageTree::addSymlink(kj::StringPtr path, kj::StringPtr target, int64_t mtimeNs) {
  Entry* entry = newEntry(path, Kind::SYMLINK);
  if (entry == nullptr) return false;
  entry->linkTarget = kj::str(target);
  entry->mtimeNs = mtimeNs;
  return true;
}

bool PackageTree::addContent(kj::StringPtr path, kj::Array<kj::byte> content, bool executable) {
  Entry* entry = newEntry(path, executable ? Kind::EXECUTABLE : Kind::REGULAR);
  if (entry == nullptr) return false;
  entry->inlineContent = kj::mv(content);
  return true;
}

}  // namespace ss::pkg
