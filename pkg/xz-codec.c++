// xz via liblzma: Sandstorm packages are `xz --threads=0` streams (multi-block, so the threaded
// decoder can use both cores).
#include <lzma.h>

#include <kj/debug.h>

#include "pkg/codec.h"
#include "pkg/limits.h"

namespace ss::pkg {

namespace {

kj::StringPtr lzmaProblem(lzma_ret ret) {
  switch (ret) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "xz stream needs more memory than allowed (hostile header?)";
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt xz data";
    case LZMA_BUF_ERROR: return "truncated xz stream";
    default: return "xz error";
  }
}

class XzCodec final: public Decoder, public CompressingOutputStream::Encoder {
public:
  explicit XzCodec(bool decode, int level = 6, int threads = 1) {
    lzma_ret ret;
    if (decode) {
#if LZMA_VERSION >= 50040000
      lzma_mt mt = {};
      mt.threads = 2;  // this machine's cores; single-block streams simply use one
      mt.memlimit_threading = limits::XZ_MEMLIMIT_BYTES;
      mt.memlimit_stop = limits::XZ_MEMLIMIT_BYTES;
      ret = lzma_stream_decoder_mt(&stream, &mt);
#else
      ret = lzma_stream_decoder(&stream, limits::XZ_MEMLIMIT_BYTES, 0);
#endif
    } else {
      lzma_mt mt = {};
      mt.threads = threads < 1 ? 1 : threads;
      mt.preset = level;
      mt.check = LZMA_CHECK_CRC64;  // what the xz tool writes by default
      ret = lzma_stream_encoder_mt(&stream, &mt);
    }
    KJ_REQUIRE(ret == LZMA_OK, "liblzma init failed", lzmaProblem(ret));
  }
  ~XzCodec() noexcept(false) { lzma_end(&stream); }

  bool step(kj::ArrayPtr<const kj::byte>& in, kj::ArrayPtr<kj::byte>& out,
            bool last) override {
    stream.next_in = in.begin();
    stream.avail_in = in.size();
    stream.next_out = out.begin();
    stream.avail_out = out.size();
    lzma_ret ret = lzma_code(&stream, last ? LZMA_FINISH : LZMA_RUN);
    in = kj::arrayPtr(stream.next_in, stream.avail_in);
    out = kj::arrayPtr(stream.next_out, stream.avail_out);
    if (ret == LZMA_STREAM_END) return true;
    if (ret == LZMA_OK) return false;
    // LZMA_BUF_ERROR with output space left means no progress is possible: with the input
    // ended, that is truncation.
    if (ret == LZMA_BUF_ERROR && !last) return false;
    KJ_FAIL_REQUIRE(lzmaProblem(ret)) { break; }
    return false;
  }

private:
  lzma_stream stream = LZMA_STREAM_INIT;
};

}  // namespace

kj::Own<Decoder> newXzDecoder() { return kj::heap<XzCodec>(true); }

kj::Own<CompressingOutputStream::Encoder> newXzEncoder(int level, int threads) {
  return kj::heap<XzCodec>(false, level, threads);
}

}  // namespace ss::pkg
