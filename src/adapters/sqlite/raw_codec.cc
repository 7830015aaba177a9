#include "adapters/sqlite/raw_codec.h"

#include <zstd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <bit>
#include <cstdio>
#include <cstring>

namespace dl::adapters::sqlite {
namespace {

constexpr std::string_view kPolylineKey = "\"summary_polyline\":\"";

// The first occurrence of `needle` in `haystack`, or npos. memmem: the key
// starts with '"', which std::string_view::find stops at before every key.
size_t Find(std::string_view haystack, std::string_view needle) {
  const void* at = memmem(haystack.data(), haystack.size(), needle.data(), needle.size());
  return at ? static_cast<size_t>(static_cast<const char*>(at) - haystack.data()) : std::string_view::npos;
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

// Eight bytes of which one is '"', '\\' or a control character (then
// checked one by one); exact as to whether there is one.
bool HasSpecialByte(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  return (zero_byte(w ^ (kOnes * '"')) | zero_byte(w ^ (kOnes * '\\')) | ((w - kOnes * 0x20) & ~w & kHigh)) != 0;
}

// When json[from, end) is exactly the JSON escape of `value` (EscapeJsonString)
// and json[end] is the '"' that closes it: end; otherwise npos. Eight bytes at
// a time while they need no escape: a polyline has a backslash about every
// 64 characters.
size_t MatchEscaped(std::string_view json, size_t from, std::string_view value) {
  size_t i = 0, j = from;
  while (i < value.size()) {
#if defined(__SSE2__)
    // Sixteen bytes at a time, and past the ones that match up to the first
    // that does not or needs an escape: compacting a page spent more here
    // than in anything of its own but zstd (2.5 instructions a byte, 8 at a
    // time; this is under 1).
    if (i + 16 <= value.size() && j + 16 <= json.size()) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(value.data() + i));
      const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(json.data() + j));
      const __m128i special =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                       _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));  // v <= 0x1f
      const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(special, _mm_cmpeq_epi8(v, w))));
      if (ok == 0xffff) {
        i += 16;
        j += 16;
        continue;
      }
      const auto same = static_cast<size_t>(std::countr_one(ok));  // bytes before the first to look at
      i += same;
      j += same;
    }
#endif
    if (i + 8 <= value.size() && j + 8 <= json.size()) {
      uint64_t v = 0, w = 0;
      std::memcpy(&v, value.data() + i, 8);
      std::memcpy(&w, json.data() + j, 8);
      if (v == w && !HasSpecialByte(v)) {
        i += 8;
        j += 8;
        continue;
      }
    }
    const char ch = value[i++];
    if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) {
      const std::string e = EscapeJsonString(std::string_view(&ch, 1));
      if (json.compare(j, e.size(), e) != 0) return std::string_view::npos;  // j <= json.size() throughout
      j += e.size();
    } else {
      if (j >= json.size() || json[j] != ch) return std::string_view::npos;
      ++j;
    }
  }
  return j < json.size() && json[j] == '"' ? j : std::string_view::npos;
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
    const size_t key = Find(json, kPolylineKey);
    if (key != std::string_view::npos) {
      const size_t from = key + kPolylineKey.size();
      if (const size_t end = MatchEscaped(json, from, *polyline); end != std::string_view::npos) {
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
