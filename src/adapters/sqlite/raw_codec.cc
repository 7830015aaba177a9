#include "adapters/sqlite/raw_codec.h"

#include <zstd.h>

#include <cstdio>

namespace dl::adapters::sqlite {
namespace {

constexpr std::string_view kPolylineKey = "\"summary_polyline\":\"";

// The index of the '"' that ends the JSON string whose first character is at
// `from`, or npos.
size_t EndOfJsonString(std::string_view json, size_t from) {
  for (size_t i = from; i < json.size(); ++i) {
    if (json[i] == '\\') {
      ++i;
    } else if (json[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads a LEB128 varint at the front of `bytes` and drops it; nullopt when
// truncated or longer than 9 bytes.
std::optional<uint64_t> TakeVarint(std::string_view& bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes.size() && i < 9; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i]) & 0x7f) << (7 * i);
    if ((static_cast<unsigned char>(bytes[i]) & 0x80) == 0) {
      bytes.remove_prefix(i + 1);
      return v;
    }
  }
  return std::nullopt;
}

// Whether `escaped` is exactly EscapeJsonString(value), without building it
// (this runs for every stored row).
bool IsEscapeOf(std::string_view escaped, std::string_view value) {
  size_t j = 0;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      if (escaped.size() - j < 2 || escaped[j] != '\\' || escaped[j + 1] != ch) return false;
      j += 2;
    } else if (c < 0x20) {
      const std::string e = EscapeJsonString(std::string_view(&ch, 1));
      if (escaped.substr(j, e.size()) != e) return false;  // j <= escaped.size() throughout
      j += e.size();
    } else {
      if (j >= escaped.size() || escaped[j] != ch) return false;
      ++j;
    }
  }
  return j == escaped.size();
}

Error Corrupt(const std::string& what) { return Error{ErrorCode::kIo, "corrupt raw JSON in the store: " + what}; }

}  // namespace

std::string EscapeJsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

struct RawJsonCodec::Contexts {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  ZSTD_CDict* cdict = nullptr;  // made on first use (level-dependent)
  ZSTD_DDict* ddict = nullptr;
  ~Contexts() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeDDict(ddict);
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

RawJsonCodec::RawJsonCodec(bool compact, int level)
    : compact_(compact), level_(level), contexts_(std::make_unique<Contexts>()) {}

RawJsonCodec::~RawJsonCodec() = default;

EncodedRaw RawJsonCodec::Encode(std::string_view json, const std::optional<std::string>& polyline) {
  if (!compact_) return {RawCodec::kPlain, json};
  // Cut the polyline only when the bytes received are exactly its escape.
  size_t cut = std::string_view::npos, cut_end = 0;
  if (polyline && !polyline->empty()) {
    const size_t key = json.find(kPolylineKey);
    if (key != std::string_view::npos) {
      const size_t from = key + kPolylineKey.size();
      const size_t end = EndOfJsonString(json, from);
      if (end != std::string_view::npos && IsEscapeOf(json.substr(from, end - from), *polyline)) {
        cut = from;
        cut_end = end;
      }
    }
  }
  std::string_view rest = json;
  if (cut != std::string_view::npos) {
    elided_.assign(json.substr(0, cut));
    elided_.append(json.substr(cut_end));
    rest = elided_;
  }
  if (!contexts_->cdict) {
    contexts_->cdict = ZSTD_createCDict(RawDictionaryV1().data(), RawDictionaryV1().size(), level_);
    ZSTD_CCtx_refCDict(contexts_->compress, contexts_->cdict);
    // A 4-byte checksum per frame: a damaged row is an error, never a
    // different JSON (frames written without one still decode).
    ZSTD_CCtx_setParameter(contexts_->compress, ZSTD_c_checksumFlag, 1);
  }
  buffer_.clear();
  PutVarint(buffer_, cut == std::string_view::npos ? 0 : cut + 1);
  const size_t header = buffer_.size();
  buffer_.resize(header + ZSTD_compressBound(rest.size()));
  const size_t n = ZSTD_compress2(contexts_->compress, buffer_.data() + header, buffer_.size() - header,
                                  rest.data(), rest.size());
  if (ZSTD_isError(n)) return {RawCodec::kPlain, json};
  buffer_.resize(header + n);
  return {RawCodec::kCompact, buffer_};
}

Result<std::string> RawJsonCodec::Decode(RawCodec codec, std::string_view bytes,
                                         const std::optional<std::string>& polyline) {
  if (codec == RawCodec::kPlain) return std::string(bytes);
  if (codec != RawCodec::kZstd && codec != RawCodec::kCompact)
    return std::unexpected(Corrupt("unknown codec " + std::to_string(static_cast<int64_t>(codec))));
  std::optional<uint64_t> cut_plus_one = 0;
  if (codec == RawCodec::kCompact) {
    cut_plus_one = TakeVarint(bytes);
    if (!cut_plus_one) return std::unexpected(Corrupt("bad header"));
  }
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ULL << 30))
    return std::unexpected(Corrupt("bad frame header"));
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = 0;
  if (codec == RawCodec::kCompact) {
    if (!contexts_->ddict) contexts_->ddict = ZSTD_createDDict(RawDictionaryV1().data(), RawDictionaryV1().size());
    n = ZSTD_decompress_usingDDict(contexts_->decompress, out.data(), out.size(), bytes.data(), bytes.size(),
                                   contexts_->ddict);
  } else {
    n = ZSTD_decompressDCtx(contexts_->decompress, out.data(), out.size(), bytes.data(), bytes.size());
  }
  if (ZSTD_isError(n) || n != out.size())
    return std::unexpected(Corrupt(ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  if (*cut_plus_one == 0) return out;
  // The cut is always right after the key's opening quote, before the closing one.
  const uint64_t at = *cut_plus_one - 1;
  if (at < kPolylineKey.size() || at >= out.size() || out[at] != '"' ||
      std::string_view(out).substr(at - kPolylineKey.size(), kPolylineKey.size()) != kPolylineKey)
    return std::unexpected(Corrupt("bad polyline offset"));
  if (!polyline || polyline->empty()) return std::unexpected(Corrupt("the cut-out polyline cannot be put back"));
  out.insert(static_cast<size_t>(at), EscapeJsonString(*polyline));
  return out;
}

}  // namespace dl::adapters::sqlite
