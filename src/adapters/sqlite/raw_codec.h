// How the raw JSON of an activity is kept: as text, or compressed with zstd
// when that is smaller. The codec is stored beside the bytes, so both kinds
// can live in one database and the setting can change at any time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::adapters::sqlite {

enum class RawCodec : int64_t { kPlain = 0, kZstd = 1 };

struct EncodedRaw {
  RawCodec codec = RawCodec::kPlain;
  std::string_view bytes;  // points into the input or the codec's buffer
};

// Reuses its zstd contexts and buffer; not thread-safe (one per connection).
class RawJsonCodec {
 public:
  // level: a zstd level (negative = faster); compress=false keeps plain text.
  RawJsonCodec(bool compress, int level);
  ~RawJsonCodec();
  RawJsonCodec(const RawJsonCodec&) = delete;
  RawJsonCodec& operator=(const RawJsonCodec&) = delete;

  // The result's bytes stay valid until the next Encode().
  EncodedRaw Encode(std::string_view json);
  Result<std::string> Decode(RawCodec codec, std::string_view bytes);

 private:
  struct Contexts;
  bool compress_;
  int level_;
  std::unique_ptr<Contexts> contexts_;
  std::string buffer_;
};

}  // namespace dl::adapters::sqlite
