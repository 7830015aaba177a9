// The raw JSON codecs: every format gives the JSON back byte for byte, the
// polyline is cut only when that is exact, damaged bytes are an error (never
// a crash or a wrong answer), and the built-in dictionary never changes.
#include "adapters/sqlite/raw_codec.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "adapters/sqlite/connection.h"
#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "contract/store_contract.h"

namespace dl::adapters::sqlite {
namespace {

// A Strava-like activity whose polyline holds the characters JSON escapes.
const std::string kPolyline = "_p~iF~ps|U_ulLnnqC_mqNvxq`@\\gB\"x\ty";
std::string Json(const std::string& escaped_polyline) {
  return R"({"resource_state":2,"athlete":{"id":7,"resource_state":1},"name":"Tempo \"hill\" ride","distance":31000.5,)"
         R"("type":"Ride","sport_type":"Ride","id":99,"map":{"id":"a99","summary_polyline":")" +
         escaped_polyline + R"(","resource_state":2},"trainer":false})";
}

std::string RoundTrip(RawJsonCodec& codec, const std::string& json, const std::optional<std::string>& polyline,
                      RawCodec* used = nullptr) {
  EncodedRaw encoded = codec.Encode(json, polyline);
  if (used) *used = encoded.codec;
  std::string bytes(encoded.bytes);  // Encode's buffer is reused by the next call
  auto decoded = codec.Decode(encoded.codec, bytes, polyline);
  EXPECT_TRUE(decoded.has_value()) << decoded.error().message;
  return decoded.value_or("");
}

TEST(RawCodecTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(EscapeJsonString(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(EscapeJsonString(std::string("x\ny\x01", 4)), "x\\u000ay\\u0001");
  EXPECT_EQ(EscapeJsonString("_p~iF"), "_p~iF");
}

TEST(RawCodecTest, CompactCutsThePolylineAndStillGivesTheJsonBackExactly) {
  RawJsonCodec codec(true, 1);
  const std::string json = Json(EscapeJsonString(kPolyline));
  RawCodec used{};
  EncodedRaw encoded = codec.Encode(json, kPolyline);
  EXPECT_EQ(encoded.codec, RawCodec::kCompact);
  EXPECT_EQ(encoded.bytes.find("_p~iF"), std::string_view::npos) << "the polyline is kept once, in its column";
  EXPECT_LT(encoded.bytes.size(), json.size() - kPolyline.size());
  EXPECT_EQ(RoundTrip(codec, json, kPolyline, &used), json);
  EXPECT_EQ(used, RawCodec::kCompact);
}

TEST(RawCodecTest, APolylineEscapedDifferentlyIsKeptInTheCompressedJson) {
  RawJsonCodec codec(true, 1);
  // Strava could escape '~' as \u007e: equal as JSON, not as bytes.
  std::string escaped = EscapeJsonString(kPolyline);
  escaped.replace(escaped.find('~'), 1, "\\u007e");
  const std::string json = Json(escaped);
  EXPECT_EQ(RoundTrip(codec, json, kPolyline), json);
  // The typed column disagreeing with the JSON (not what Strava sent): exact anyway.
  EXPECT_EQ(RoundTrip(codec, json, std::string("other")), json);
}

// Most polylines need no escape: they are compared byte for byte, and cut
// only when the received string is exactly the value and ends right there.
TEST(RawCodecTest, APolylineWithoutEscapesIsCutOnlyWhenTheBytesAreExactlyIt) {
  RawJsonCodec codec(true, 1);
  const std::string plain = "_p~iF~ps|U_ulLnnqC_mqNvxq`@";
  const std::string json = Json(plain);
  RawCodec used{};
  EncodedRaw encoded = codec.Encode(json, plain);
  EXPECT_EQ(encoded.codec, RawCodec::kCompact);
  EXPECT_EQ(encoded.bytes.find("_p~iF"), std::string_view::npos) << "the polyline is kept once, in its column";
  EXPECT_EQ(RoundTrip(codec, json, plain, &used), json);
  // Not the value itself: escaped differently, longer, shorter, or cut off.
  std::string escaped = plain;
  escaped.replace(escaped.find('~'), 1, "\\u007e");
  const std::string other_jsons[] = {Json(escaped), Json(plain + "x"), Json(plain.substr(0, plain.size() - 1)),
                                     Json(plain).substr(0, Json(plain).find(plain) + plain.size())};
  for (const std::string& other : other_jsons) {
    EXPECT_EQ(RoundTrip(codec, other, plain), other);
    EncodedRaw kept = codec.Encode(other, plain);
    ASSERT_EQ(kept.codec, RawCodec::kCompact);
    EXPECT_EQ(kept.bytes.front(), 0) << "no cut (offset 0) for " << other;
  }
}

// Random polylines of every length with the characters JSON escapes at
// random places: cut exactly when the received bytes are the value's escape.
TEST(RawCodecTest, RandomPolylinesAreCutExactlyWhenTheBytesAreTheirEscape) {
  RawJsonCodec codec(true, 1);
  std::mt19937 rng(20261129);
  // UTF-8 bytes (>= 0x80) too: the 16-byte comparison must not take them for control characters.
  const std::string alphabet = std::string("_~`@?|\\\"ABCxyz019") + '\x01' + '\t' + "\xc3\xa9\xff";
  for (int round = 0; round < 4000; ++round) {
    std::string polyline;
    const size_t length = 1 + rng() % (round % 2 == 0 ? 100 : 400);  // and past several 16-byte blocks
    for (size_t i = 0; i < length; ++i)
      polyline += rng() % 4 == 0 ? alphabet[rng() % alphabet.size()] : static_cast<char>('?' + rng() % 64);
    std::string escaped = EscapeJsonString(polyline);
    // Equal as JSON text, not as bytes: one printable character written as
    // \u00XX (control characters already are).
    const size_t at = rng() % polyline.size();
    const bool exact = rng() % 2 == 0 || static_cast<unsigned char>(polyline[at]) < 0x20;
    if (!exact) {
      const size_t in_escaped = EscapeJsonString(polyline.substr(0, at)).size();
      const std::string one = EscapeJsonString(polyline.substr(at, 1));
      char u[8];
      std::snprintf(u, sizeof u, "\\u%04X", static_cast<unsigned char>(polyline[at]));
      escaped.replace(in_escaped, one.size(), u);
    }
    const std::string json = Json(escaped);
    EncodedRaw encoded = codec.Encode(json, polyline);
    ASSERT_EQ(encoded.codec, RawCodec::kCompact);
    EXPECT_EQ(encoded.bytes.front() != 0, exact) << escaped;
    EXPECT_EQ(RoundTrip(codec, json, polyline), json) << escaped;
  }
}

TEST(RawCodecTest, NoPolylineNullPolylineAndNonJsonAllRoundTrip) {
  RawJsonCodec codec(true, 1);
  EXPECT_EQ(RoundTrip(codec, Json(""), std::string()), Json(""));
  EXPECT_EQ(RoundTrip(codec, R"({"map":{"summary_polyline":null}})", std::nullopt),
            R"({"map":{"summary_polyline":null}})");
  EXPECT_EQ(RoundTrip(codec, "", std::nullopt), "");
  EXPECT_EQ(RoundTrip(codec, "not json \"summary_polyline\":\"abc", std::string("abc")),
            "not json \"summary_polyline\":\"abc")
      << "an unterminated string is not cut";
}

TEST(RawCodecTest, TextModeStoresTheJsonAsIs) {
  RawJsonCodec codec(false, 1);
  const std::string json = Json(EscapeJsonString(kPolyline));
  EncodedRaw encoded = codec.Encode(json, kPolyline);
  EXPECT_EQ(encoded.codec, RawCodec::kPlain);
  EXPECT_EQ(encoded.bytes, json);
}

TEST(RawCodecTest, OldZstdRowsStillDecode) {
  const std::string json = Json(EscapeJsonString(kPolyline));
  std::string frame(ZSTD_compressBound(json.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), json.data(), json.size(), 1));
  RawJsonCodec codec(true, 1);
  EXPECT_EQ(codec.Decode(RawCodec::kZstd, frame, std::nullopt).value(), json);
}

TEST(RawCodecTest, DamagedBytesAreAnErrorNotAWrongAnswer) {
  RawJsonCodec codec(true, 1);
  const std::string json = Json(EscapeJsonString(kPolyline));
  const std::string good(codec.Encode(json, kPolyline).bytes);
  // Without the polyline it was cut from.
  EXPECT_FALSE(codec.Decode(RawCodec::kCompact, good, std::nullopt).has_value());
  // Truncated, emptied, flipped, an unknown codec.
  EXPECT_FALSE(codec.Decode(RawCodec::kCompact, good.substr(0, good.size() / 2), kPolyline).has_value());
  EXPECT_FALSE(codec.Decode(RawCodec::kCompact, "", kPolyline).has_value());
  EXPECT_FALSE(codec.Decode(RawCodec::kCompact, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", kPolyline).has_value());
  // Every single damaged byte (header, frame, checksum) is an error or,
  // where the decoder ignores the bits, the same JSON: never another JSON.
  int errors = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bits : {0x01, 0x5a, 0xff}) {
      std::string damaged = good;
      damaged[i] = static_cast<char>(damaged[i] ^ bits);
      auto decoded = codec.Decode(RawCodec::kCompact, damaged, kPolyline);
      if (!decoded) ++errors;
      EXPECT_TRUE(!decoded || *decoded == json) << "byte " << i << " ^ " << bits << " gave another JSON";
    }
  }
  EXPECT_GT(errors, static_cast<int>(good.size()) * 2);
  auto unknown = codec.Decode(static_cast<RawCodec>(7), good, kPolyline);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("unknown codec 7"), std::string::npos);
}

// The dictionary's bytes are part of the file format: changing them would
// make every stored codec-3 row unreadable.
TEST(RawCodecTest, TheBuiltInDictionaryNeverChanges) {
  const std::string_view dict = RawDictionaryV1();
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (char c : dict) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  EXPECT_EQ(dict.size(), 5042u);
  EXPECT_EQ(h, 14337822382337194636ULL) << "FNV-1a of RawDictionaryV1: " << h;
}

TEST(RawCodecTest, TheStoreKeepsCompactRowsAndGivesThemBackExactly) {
  std::string dir = (std::filesystem::temp_directory_path() / "dl_raw_codec_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/store.db";
  core::Activity a = contract::MakeActivity(7, 99, "2024-05-01T08:00:00Z");
  a.map_summary_polyline = kPolyline;
  a.raw_json = Json(EscapeJsonString(kPolyline));
  auto store = SqliteStore::Open(path, core::SportCategories::Default());
  ASSERT_TRUE(store.has_value()) << store.error().message;
  ports::UpsertOptions options;
  options.now_epoch_s = 1'714'550'400;
  ASSERT_TRUE((*store)->UpsertActivities(std::vector{a}, options).has_value());
  auto back = (*store)->GetActivity(7, 99);
  ASSERT_TRUE(back.has_value() && back->has_value());
  EXPECT_EQ((*back)->raw_json, a.raw_json);
  EXPECT_EQ(**back, a);
  store->reset();
  std::filesystem::remove_all(dir);
}

// PrepareUpsert's work (done on another thread) gives the same rows as the
// store's own, in both formats; a row changed after it was prepared is
// encoded again rather than stored from the stale preparation.
TEST(RawCodecTest, PreparedUpsertsStoreTheSameRowsAndIgnoreAStalePreparation) {
  std::string dir = (std::filesystem::temp_directory_path() / "dl_raw_prepared_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  for (bool compact : {true, false}) {
    SqliteOptions options;
    options.compact_raw_json = compact;
    auto store = SqliteStore::Open(dir + (compact ? "/compact.db" : "/text.db"), core::SportCategories::Default(), options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
    std::vector<core::Activity> batch;
    for (int64_t id = 1; id <= 3; ++id) {
      core::Activity a = contract::MakeActivity(7, id, "2024-05-0" + std::to_string(id) + "T08:00:00Z");
      a.map_summary_polyline = kPolyline;
      a.raw_json = Json(EscapeJsonString(kPolyline));
      batch.push_back(a);
    }
    auto prepared = (*store)->PrepareUpsert(batch);
    ASSERT_NE(prepared, nullptr);
    batch[1].raw_json.insert(batch[1].raw_json.size() - 1, R"(,"edited":true)");  // after preparing
    ports::UpsertOptions upsert;
    upsert.now_epoch_s = 1'714'550'400;
    upsert.prepared = prepared.get();
    auto summary = (*store)->UpsertActivities(batch, upsert);
    ASSERT_TRUE(summary.has_value()) << summary.error().message;
    EXPECT_EQ(summary->inserted, 3);
    for (const auto& a : batch) EXPECT_EQ((*store)->GetActivity(7, a.id).value().value(), a) << a.id;
    // The same rows again, unprepared: unchanged (the prepared hashes were the store's own).
    upsert.prepared = nullptr;
    EXPECT_EQ((*store)->UpsertActivities(batch, upsert).value().unchanged, 3);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dl::adapters::sqlite
