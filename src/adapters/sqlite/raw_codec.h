// How the raw JSON of an activity is kept. Every format gives back the JSON
// byte for byte; the codec is stored beside the bytes, so rows of every
// format live in one database and the setting can change at any time.
//
//   codec 0 (kText)    the JSON as received, UTF-8 text.
//   codec 1 (kZstd)    the JSON compressed with zstd (decoded for old rows;
//                      no longer written).
//   codec 3 (kCompact) "elided + dictionary": the map's summary_polyline, which
//                      the row also keeps in its typed column
//                      map_summary_polyline, is cut out of the JSON (its byte
//                      offset recorded), and the rest is compressed with zstd
//                      and a built-in dictionary of Strava activity JSON
//                      (kRawDictionaryV1, never to change: add a codec instead).
//                      The polyline is cut only when its JSON-escaped typed
//                      value is exactly the bytes received, so decoding is
//                      exact. Layout: LEB128 varint (offset + 1, or 0 when
//                      nothing was cut), then the zstd frame.
//
// Measured on strava-sim's activities (1,974 bytes of JSON, 764 of them the
// polyline): codec 3 stores about 220 bytes, codec 1 about 1,220.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::adapters::sqlite {

enum class RawCodec : int64_t { kPlain = 0, kZstd = 1, kCompact = 3 };

struct EncodedRaw {
  RawCodec codec = RawCodec::kPlain;
  std::string_view bytes;  // points into the input or the codec's buffer
};

// The built-in zstd dictionary of codec 3 (raw content: typical Strava
// activity JSON). Its bytes are part of the file format.
std::string_view RawDictionaryV1();

// Reuses its zstd contexts and buffers; not thread-safe (one per thread).
class RawJsonCodec {
 public:
  // compact=false keeps plain text (codec 0); level: the zstd level of codec 3.
  RawJsonCodec(bool compact, int level);
  ~RawJsonCodec();
  RawJsonCodec(const RawJsonCodec&) = delete;
  RawJsonCodec& operator=(const RawJsonCodec&) = delete;

  // `polyline`: the activity's typed map_summary_polyline. The result's bytes
  // stay valid until the next Encode().
  EncodedRaw Encode(std::string_view json, const std::optional<std::string>& polyline);
  // `polyline` must be the row's map_summary_polyline (codec 3 needs it back).
  Result<std::string> Decode(RawCodec codec, std::string_view bytes, const std::optional<std::string>& polyline);

 private:
  struct Contexts;
  bool compact_;
  int level_;
  std::unique_ptr<Contexts> contexts_;
  std::string elided_, buffer_;
};

// The JSON string escape of `s` as Strava writes it ('"' and '\\' escaped,
// control characters as \u00XX, everything else as is).
std::string EscapeJsonString(std::string_view s);

}  // namespace dl::adapters::sqlite
