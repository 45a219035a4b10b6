#include "pkg/utf8.h"

#include <stdint.h>

namespace ss::pkg {

bool isValidUtf8(kj::ArrayPtr<const kj::byte> text) {
  size_t i = 0;
  while (i < text.size()) {
    kj::byte c = text[i];
    if (c < 0x80) { i++; continue; }
    size_t length;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) { length = 2; min = 0x80; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { length = 3; min = 0x800; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { length = 4; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; k++) {
      if ((text[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (text[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

}  // namespace ss::pkg
