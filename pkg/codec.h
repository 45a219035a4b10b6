// Streaming compression for package bodies: xz (Sandstorm's format, liblzma) and zstd (ours).
// Both directions work chunk by chunk, so a package is never held in memory compressed; the
// reader decompresses straight into the capnp message buffer.
#pragma once

#include <kj/array.h>
#include <kj/io.h>
#include <kj/memory.h>

namespace ss::pkg {

enum class Codec { XZ, ZSTD };

class Decoder {
public:
  virtual ~Decoder() noexcept(false) = default;

  virtual bool step(kj::ArrayPtr<const kj::byte>& in, kj::ArrayPtr<kj::byte>& out,
                    bool inputEnded) = 0;
  // Decompresses from the front of `in` into the front of `out`, advancing both past what was
  // used. Returns true once the compressed stream has ended (then `in` holds what follows it).
  // `inputEnded` says no more input will ever come: a stream that needs more is truncated.
  // Throws a kj::Exception whose description names the problem on corrupt or truncated data.
};

kj::Own<Decoder> newDecoder(Codec codec);

class CompressingOutputStream final: public kj::OutputStream {
  // Compresses everything written and passes it to `inner`. Call finish() exactly once at the
  // end; without it the stream is incomplete (a reader will report truncation).
public:
  CompressingOutputStream(Codec codec, kj::OutputStream& inner, int level, int threads);
  ~CompressingOutputStream() noexcept(false);

  void write(const void* buffer, size_t size) override;
  void finish();

  class Encoder;

private:
  kj::Own<Encoder> encoder;
  kj::OutputStream& inner;
  kj::Array<kj::byte> buffer;
};

class CompressingOutputStream::Encoder {
public:
  virtual ~Encoder() noexcept(false) = default;
  virtual bool step(kj::ArrayPtr<const kj::byte>& in, kj::ArrayPtr<kj::byte>& out,
                    bool finishing) = 0;
  // Like Decoder::step in the other direction; with `finishing`, returns true once everything
  // (including the stream trailer) has been produced.
};

kj::Own<CompressingOutputStream::Encoder> newXzEncoder(int level, int threads);
kj::Own<CompressingOutputStream::Encoder> newZstdEncoder(int level, int threads);
kj::Own<Decoder> newXzDecoder();
kj::Own<Decoder> newZstdDecoder();

}  // namespace ss::pkg
