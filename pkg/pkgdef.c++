#include "pkg/pkgdef.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capnp/dynamic.h>
#include <capnp/schema-parser.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/filesystem.h>
#include <kj/time.h>

#include "base/fd.h"
#include "pkg/embedded-schemas.h"

extern char** environ;

namespace ss::pkg {

namespace {

kj::String joinPath(kj::StringPtr a, kj::StringPtr b) {
  if (a.size() == 0) return kj::str(b);
  if (b.size() == 0) return kj::str(a);
  return a.endsWith("/") ? kj::str(a, b) : kj::str(a, "/", b);
}

int64_t mtimeOf(const struct stat& st) {
  return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

bool underPrefix(kj::StringPtr path, kj::StringPtr prefix, kj::StringPtr& rest) {
  // Component-wise: "usr/lib" is under "usr", "usrx" is not.
  if (prefix.size() == 0) { rest = path; return true; }
  if (path == prefix) { rest = ""; return true; }
  if (path.startsWith(prefix) && path[prefix.size()] == '/') {
    rest = path.slice(prefix.size() + 1);
    return true;
  }
  return false;
}

class SourceMapper {
  // Sandstorm's searchPath: a package path is looked up in each mapping in order; the first
  // mapping holding it (and not hiding it) supplies it.
public:
  SourceMapper(spk::SourceMap::Reader map, kj::StringPtr baseDir) {
    for (auto m: map.getSearchPath()) {
      Mapping mapping;
      mapping.packagePath = kj::str(m.getPackagePath());
      while (mapping.packagePath.endsWith("/")) {
        mapping.packagePath = kj::str(mapping.packagePath.slice(0, mapping.packagePath.size() - 1));
      }
      kj::StringPtr source = m.getSourcePath();
      mapping.sourceDir = source.startsWith("/") ? kj::str(source) : joinPath(baseDir, source);
      for (auto hide: m.getHidePaths()) mapping.hidden.add(kj::str(hide));
      mappings.add(kj::mv(mapping));
    }
  }

  enum class Found { NOTHING, HOST, VIRTUAL_DIRECTORY };

  Found lookup(kj::StringPtr path, kj::String& hostPath, struct stat& st) const {
    for (auto& m: mappings) {
      kj::StringPtr rest;
      if (underPrefix(path, m.packagePath, rest)) {
        if (isHidden(m, rest)) continue;
        auto host = joinPath(m.sourceDir, rest);
        if (::lstat(host.cStr(), &st) == 0) {
          hostPath = kj::mv(host);
          return Found::HOST;
        }
      } else if (underPrefix(m.packagePath, path, rest)) {
        return Found::VIRTUAL_DIRECTORY;  // a parent of a mapping's packagePath
      }
    }
    return Found::NOTHING;
  }

  kj::Vector<kj::String> list(kj::StringPtr path) const {
    kj::Vector<kj::String> names;
    auto addName = [&](kj::StringPtr name) {
      for (auto& existing: names) if (existing == name) return;
      names.add(kj::str(name));
    };
    for (auto& m: mappings) {
      kj::StringPtr rest;
      if (underPrefix(path, m.packagePath, rest)) {
        if (isHidden(m, rest)) continue;
        auto host = joinPath(m.sourceDir, rest);
        DIR* dir = ::opendir(host.cStr());
        if (dir == nullptr) continue;
        KJ_DEFER(::closedir(dir));
        while (struct dirent* entry = ::readdir(dir)) {
          kj::StringPtr name = entry->d_name;
          if (name == "." || name == "..") continue;
          if (!isHidden(m, joinPath(rest, name))) addName(name);
        }
      } else if (underPrefix(m.packagePath, path, rest) && rest.size() > 0) {
        KJ_IF_MAYBE(slash, rest.findFirst('/')) {
          addName(kj::heapString(rest.slice(0, *slash)));
        } else {
          addName(rest);
        }
      }
    }
    return names;
  }

private:
  struct Mapping {
    kj::String packagePath;
    kj::String sourceDir;
    kj::Vector<kj::String> hidden;
  };
  kj::Vector<Mapping> mappings;

  static bool isHidden(const Mapping& m, kj::StringPtr rest) {
    for (auto& h: m.hidden) {
      kj::StringPtr ignored;
      if (h.size() > 0 && underPrefix(rest, h, ignored)) return true;
    }
    return false;
  }
};

class TreeBuilder {
public:
  TreeBuilder(PackageTree& tree, const SourceMapper& mapper, bool verbose)
      : tree(tree), mapper(mapper), verbose(verbose) {}

  void add(kj::StringPtr path, bool recursive) {
    if (path == "." || path == "/") path = "";  // "the whole source tree"
    kj::String host;
    struct stat st;
    switch (mapper.lookup(path, host, st)) {
      case SourceMapper::Found::NOTHING:
        KJ_FAIL_REQUIRE("path not found through the sourceMap", path);
      case SourceMapper::Found::VIRTUAL_DIRECTORY:
        if (path.size() > 0) tree.makeDirectory(path);
        if (recursive) addChildren(path);
        return;
      case SourceMapper::Found::HOST:
        break;
    }
    if (S_ISREG(st.st_mode)) {
      tree.addHostFile(path, host, (st.st_mode & 0111) != 0, mtimeOf(st));
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n;
      KJ_SYSCALL(n = ::readlink(host.cStr(), target, sizeof(target) - 1), host);
      target[n] = '\0';
      tree.addSymlink(path, target, mtimeOf(st));
    } else if (S_ISDIR(st.st_mode)) {
      if (path.size() > 0) tree.makeDirectory(path);
      if (recursive) addChildren(path);
    } else if (verbose) {
      // Devices, sockets and FIFOs cannot be expressed in an Archive (and must not be).
      KJ_LOG(WARNING, "skipping special file (not a file, link or directory)", host);
    }
  }

private:
  PackageTree& tree;
  const SourceMapper& mapper;
  bool verbose;

  void addChildren(kj::StringPtr path) {
    for (auto& name: mapper.list(path)) add(joinPath(path, name), true);
  }
};

kj::String runLdd(kj::StringPtr binary) {
  auto pipe = makePipe(false);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  posix_spawn_file_actions_adddup2(&actions, pipe.second, STDOUT_FILENO);
  const char* argv[] = {"ldd", binary.cStr(), nullptr};
  pid_t pid;
  int error = posix_spawnp(&pid, "ldd", &actions, nullptr, const_cast<char**>(argv), environ);
  if (error != 0) KJ_FAIL_SYSCALL("posix_spawnp(ldd)", error, binary);
  pipe.second = nullptr;
  kj::Vector<char> output;
  char buffer[4096];
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(pipe.first, buffer, sizeof(buffer)));
    if (n == 0) break;
    output.addAll(buffer, buffer + n);
  }
  int status;
  KJ_SYSCALL(::waitpid(pid, &status, 0));
  output.add('\0');
  // ldd exits 1 for static binaries ("not a dynamic executable"): that just means no libraries.
  return kj::String(output.releaseAsArray());
}

kj::Vector<kj::String> parseLdd(kj::StringPtr output, kj::StringPtr binary) {
  // Lines look like:
  //   linux-vdso.so.1 (0x...)                              <- in the kernel, nothing to copy
  //   libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)
  //   /lib64/ld-linux-x86-64.so.2 (0x...)                  <- the ELF interpreter
  //   libfoo.so => not found                               <- an error
  kj::Vector<kj::String> paths;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = start;
    while (end < output.size() && output[end] != '\n') end++;
    auto line = kj::heapString(output.slice(start, end));
    start = end + 1;
    kj::StringPtr text = line;
    while (text.size() > 0 && (text[0] == ' ' || text[0] == '\t')) text = text.slice(1);
    KJ_IF_MAYBE(arrow, text.findFirst('=')) {
      if (text.slice(*arrow).startsWith("=> ")) {
        kj::StringPtr target = text.slice(*arrow + 3);
        KJ_REQUIRE(!target.startsWith("not found"), "shared library not found", binary, line);
        text = target;
      }
    }
    if (!text.startsWith("/")) continue;
    size_t pathEnd = 0;
    while (pathEnd < text.size() && text[pathEnd] != ' ') pathEnd++;
    paths.add(kj::heapString(text.slice(0, pathEnd)));
  }
  return paths;
}

}  // namespace

PackageDefinition loadPackageDefinition(kj::StringPtr pkgdefSpec,
                                        kj::ArrayPtr<const kj::StringPtr> importPaths) {
  kj::StringPtr file = pkgdefSpec;
  kj::String fileStorage;
  kj::StringPtr constName = "pkgdef";
  KJ_IF_MAYBE(colon, pkgdefSpec.findLast(':')) {
    fileStorage = kj::heapString(pkgdefSpec.slice(0, *colon));
    file = fileStorage;
    constName = pkgdefSpec.slice(*colon + 1);
  }

  auto fs = kj::newDiskFilesystem();
  auto path = fs->getCurrentPath().evalNative(file);

  // "/sandstorm/package.capnp" and "/capnp/c++.capnp" come from memory; -I dirs follow.
  auto builtin = kj::newInMemoryDirectory(kj::nullClock());
  auto put = [&](kj::StringPtr a, kj::StringPtr b, kj::StringPtr text) {
    builtin->openFile(kj::Path({a, b}), kj::WriteMode::CREATE | kj::WriteMode::CREATE_PARENT)
        ->writeAll(text);
  };
  put("sandstorm", "package.capnp", EMBEDDED_PACKAGE_CAPNP);
  put("sandstorm", "util.capnp", EMBEDDED_UTIL_CAPNP);
  put("capnp", "c++.capnp", EMBEDDED_CXX_CAPNP);
  kj::Vector<kj::Own<const kj::ReadableDirectory>> extraDirs;
  kj::Vector<const kj::ReadableDirectory*> searchDirs;
  searchDirs.add(builtin.get());
  for (auto dir: importPaths) {
    extraDirs.add(fs->getRoot().openSubdir(fs->getCurrentPath().evalNative(dir)));
    searchDirs.add(extraDirs.back().get());
  }

  capnp::SchemaParser parser;
  auto schema = parser.parseFromDirectory(fs->getRoot(), path.clone(), searchDirs.asPtr());
  auto maybeConst = schema.findNested(constName);
  KJ_REQUIRE(maybeConst != nullptr, "package definition has no such constant", file, constName);
  auto constSchema = KJ_ASSERT_NONNULL(maybeConst);
  KJ_REQUIRE(constSchema.getProto().isConst(), "not a constant", file, constName);
  auto value = constSchema.asConst().as<capnp::DynamicStruct>();
  KJ_REQUIRE(value.getSchema().getProto().getId() == capnp::typeId<spk::PackageDefinition>(),
             "constant must be of type Spk.PackageDefinition "
             "(using Spk = import \"/sandstorm/package.capnp\")", file, constName);

  PackageDefinition result;
  result.message = kj::heap<capnp::MallocMessageBuilder>();
  // Copy out through the wire format: the parsed schema and our compiled one are different
  // objects describing the same type, and this keeps the result valid after the parser dies.
  result.message->setRoot(value);
  result.def = result.message->getRoot<spk::PackageDefinition>().asReader();
  result.baseDir = path.parent().toNativeString(true);
  return result;
}

kj::Array<kj::byte> serializeManifest(spk::Manifest::Reader manifest) {
  capnp::MallocMessageBuilder message;
  message.setRoot(manifest);
  auto words = capnp::messageToFlatArray(message);
  return kj::heapArray<kj::byte>(words.asBytes());
}

void addBinaryWithLibraries(PackageTree& tree, kj::StringPtr hostBinary) {
  KJ_REQUIRE(hostBinary.startsWith("/"), "--include-binary needs an absolute path", hostBinary);
  struct stat st;
  KJ_SYSCALL(::stat(hostBinary.cStr(), &st), hostBinary);
  KJ_REQUIRE(S_ISREG(st.st_mode), "--include-binary must name a regular file", hostBinary);
  tree.addHostFile(hostBinary.slice(1), hostBinary, true, mtimeOf(st));
  for (auto& lib: parseLdd(runLdd(hostBinary), hostBinary)) {
    // Stored as a regular file at the path the loader asks for (symlinks on the host, such as
    // /lib64 -> usr/lib64, are resolved here), keeping the host's exec bit: the kernel needs it
    // on the ELF interpreter.
    KJ_SYSCALL(::stat(lib.cStr(), &st), lib);
    tree.addHostFile(lib.slice(1), lib, (st.st_mode & 0111) != 0, mtimeOf(st));
  }
}

PackageTree buildPackageTree(const PackageDefinition& pkgdef, BuildOptions options) {
  PackageTree tree;
  auto def = pkgdef.def;
  if (def.hasManifest()) {
    tree.addContent("sandstorm-manifest", serializeManifest(def.getManifest()), false);
  }
  if (def.hasBridgeConfig()) {
    capnp::MallocMessageBuilder message;
    message.setRoot(def.getBridgeConfig());
    auto words = capnp::messageToFlatArray(message);
    tree.addContent("sandstorm-http-bridge-config", kj::heapArray<kj::byte>(words.asBytes()),
                    false);
  }

  SourceMapper mapper(def.getSourceMap(), pkgdef.baseDir);
  TreeBuilder builder(tree, mapper, options.verbose);
  bool listed = false;
  if (def.hasFileList()) {
    kj::StringPtr listName = def.getFileList();
    auto listPath = listName.startsWith("/") ? kj::str(listName)
                                             : joinPath(pkgdef.baseDir, listName);
    auto text = readFile(listPath);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = start;
      while (end < text.size() && text[end] != '\n') end++;
      auto line = kj::heapString(text.slice(start, end));
      start = end + 1;
      if (line.size() > 0 && !line.startsWith("#")) builder.add(line, false);
    }
    listed = true;
  }
  for (auto path: def.getAlwaysInclude()) {
    builder.add(path, true);
    listed = true;
  }
  if (!listed) builder.add("", true);

  for (auto binary: options.includeBinaries) addBinaryWithLibraries(tree, binary);

  for (auto dir: {"dev", "tmp", "var"}) tree.makeDirectory(dir);
  tree.addContent("proc/cpuinfo", nullptr, false);

  KJ_REQUIRE(tree.root().find("sandstorm-manifest") != nullptr,
             "pkgdef has no manifest and the sources have no sandstorm-manifest");
  return tree;
}

}  // namespace ss::pkg
