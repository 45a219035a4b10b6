// fuzz-replay TARGET PATH...: runs every file under each PATH (files or directories, not
// recursive) through the target's body, as the libFuzzer binary would, and prints how many. A
// failing input aborts with its name printed first. ctest runs one replay per target over
// tests/fuzz/corpus/<target>/ (seeds, and every finding as a regression input).
// fuzz-replay --signed-spk xz|zstd ARCHIVE OUT: see main().
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/spk-support.h"

namespace {

std::vector<uint8_t> readFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) { perror(path.c_str()); exit(1); }
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) { perror(path.c_str()); exit(1); }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  close(fd);
  return out;
}

std::vector<std::string> filesUnder(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) { perror(path.c_str()); exit(1); }
  if (!S_ISDIR(st.st_mode)) return {path};
  std::vector<std::string> out;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) { perror(path.c_str()); exit(1); }
  while (auto* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name[0] == '.') continue;
    out.push_back(path + "/" + name);
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--signed-spk") {
    // Seed maker: fuzz-replay --signed-spk xz|zstd ARCHIVE OUT writes ARCHIVE (a plaintext
    // Archive message) as an .spk signed with the fuzz targets' test key (for corpus/spk-raw).
    auto archive = readFile(argv[3]);
    auto codec = std::string(argv[2]) == "xz" ? ss::pkg::Codec::XZ : ss::pkg::Codec::ZSTD;
    auto spk = ss::fuzz::signedSpk(codec, kj::arrayPtr(archive.data(), archive.size()));
    FILE* f = fopen(argv[4], "wb");
    if (f == nullptr || fwrite(spk.begin(), 1, spk.size(), f) != spk.size() || fclose(f) != 0) {
      perror(argv[4]);
      return 1;
    }
    return 0;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: fuzz-replay TARGET PATH...\n");
    return 2;
  }
  auto body = ss::fuzz::find(argv[1]);
  if (body == nullptr) {
    fprintf(stderr, "fuzz-replay: no target named %s\n", argv[1]);
    return 2;
  }
  size_t count = 0;
  for (int i = 2; i < argc; i++) {
    for (auto& file: filesUnder(argv[i])) {
      auto bytes = readFile(file);
      fprintf(stderr, "%s\n", file.c_str());
      // A copy of exactly the input's size, so ASan sees any read past its end.
      auto* copy = static_cast<uint8_t*>(malloc(bytes.size() + 1));
      std::copy(bytes.begin(), bytes.end(), copy);
      body(copy, bytes.size());
      free(copy);
      count++;
    }
  }
  if (count == 0) {
    fprintf(stderr, "fuzz-replay: no inputs for %s\n", argv[1]);
    return 1;
  }
  printf("%s: %zu inputs replayed, no failure\n", argv[1], count);
  return 0;
}
