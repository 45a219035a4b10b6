#include "pkg/codec.h"

#include <kj/debug.h>

#include "pkg/limits.h"

namespace ss::pkg {

kj::Own<Decoder> newDecoder(Codec codec) {
  switch (codec) {
    case Codec::XZ: return newXzDecoder();
    case Codec::ZSTD: return newZstdDecoder();
  }
  KJ_UNREACHABLE;
}

CompressingOutputStream::CompressingOutputStream(Codec codec, kj::OutputStream& inner, int level,
                                                 int threads)
    : encoder(codec == Codec::XZ ? newXzEncoder(level, threads) : newZstdEncoder(level, threads)),
      inner(inner), buffer(kj::heapArray<kj::byte>(limits::READ_CHUNK_BYTES)) {}

CompressingOutputStream::~CompressingOutputStream() noexcept(false) {}

void CompressingOutputStream::write(const void* data, size_t size) {
  kj::ArrayPtr<const kj::byte> in(static_cast<const kj::byte*>(data), size);
  while (in.size() > 0) {
    auto out = buffer.asPtr();
    encoder->step(in, out, false);
    size_t produced = buffer.size() - out.size();
    if (produced > 0) inner.write(buffer.begin(), produced);
  }
}

void CompressingOutputStream::finish() {
  kj::ArrayPtr<const kj::byte> in;
  for (;;) {
    auto out = buffer.asPtr();
    bool done = encoder->step(in, out, true);
    size_t produced = buffer.size() - out.size();
    if (produced > 0) inner.write(buffer.begin(), produced);
    if (done) return;
  }
}

}  // namespace ss::pkg
