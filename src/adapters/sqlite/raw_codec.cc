#include "adapters/sqlite/raw_codec.h"

#include <zstd.h>

namespace dl::adapters::sqlite {

// Below this size compression cannot pay for its frame header.
constexpr size_t kMinCompressBytes = 128;

struct RawJsonCodec::Contexts {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  ~Contexts() {
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

RawJsonCodec::RawJsonCodec(bool compress, int level)
    : compress_(compress), level_(level), contexts_(std::make_unique<Contexts>()) {
  ZSTD_CCtx_setParameter(contexts_->compress, ZSTD_c_compressionLevel, level_);
  // No checksum and no size in the frame beyond what decoding needs.
  ZSTD_CCtx_setParameter(contexts_->compress, ZSTD_c_checksumFlag, 0);
}

RawJsonCodec::~RawJsonCodec() = default;

EncodedRaw RawJsonCodec::Encode(std::string_view json) {
  if (!compress_ || json.size() < kMinCompressBytes) return {RawCodec::kPlain, json};
  buffer_.resize(ZSTD_compressBound(json.size()));
  const size_t n = ZSTD_compress2(contexts_->compress, buffer_.data(), buffer_.size(), json.data(), json.size());
  if (ZSTD_isError(n) || n >= json.size()) return {RawCodec::kPlain, json};
  return {RawCodec::kZstd, std::string_view(buffer_.data(), n)};
}

Result<std::string> RawJsonCodec::Decode(RawCodec codec, std::string_view bytes) {
  if (codec == RawCodec::kPlain) return std::string(bytes);
  if (codec != RawCodec::kZstd) {
    return Fail(ErrorCode::kIo, "unknown raw JSON codec " + std::to_string(static_cast<int64_t>(codec)));
  }
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ULL << 30)) {
    return Fail(ErrorCode::kIo, "corrupt compressed raw JSON (bad frame header)");
  }
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompressDCtx(contexts_->decompress, out.data(), out.size(), bytes.data(), bytes.size());
  if (ZSTD_isError(n) || n != out.size()) {
    return Fail(ErrorCode::kIo, std::string("corrupt compressed raw JSON: ") +
                                    (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return out;
}

}  // namespace dl::adapters::sqlite
