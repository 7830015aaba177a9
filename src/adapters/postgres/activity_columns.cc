#include "adapters/postgres/activity_columns.h"

#include <openssl/evp.h>

#include <bit>
#include <cstring>
#include <optional>

#include "adapters/activity_column_list.h"
#include "adapters/postgres/connection.h"

namespace dl::adapters::postgres {
namespace {

using core::Activity;
using core::LatLng;

// ---- per C++ type: SQL type, binary element, reading, hashing ----

template <class T>
struct Traits;
template <>
struct Traits<int64_t> {
  static constexpr const char* kSql = "bigint";
  static constexpr uint32_t kOid = oid::kInt8;
  static void Add(ArrayBuilder& b, int64_t v) { b.AddInt8(v); }
  static int64_t Read(const Rows& r, int row, int col) { return r.Int64(row, col); }
};
template <>
struct Traits<double> {
  static constexpr const char* kSql = "double precision";
  static constexpr uint32_t kOid = oid::kFloat8;
  static void Add(ArrayBuilder& b, double v) { b.AddFloat8(v); }
  static double Read(const Rows& r, int row, int col) { return r.Double(row, col); }
};
template <>
struct Traits<bool> {
  static constexpr const char* kSql = "boolean";
  static constexpr uint32_t kOid = oid::kBool;
  static void Add(ArrayBuilder& b, bool v) { b.AddBool(v); }
  static bool Read(const Rows& r, int row, int col) { return r.Bool(row, col); }
};
template <>
struct Traits<std::string> {
  static constexpr const char* kSql = "text";
  static constexpr uint32_t kOid = oid::kText;
  static void Add(ArrayBuilder& b, const std::string& v) { b.AddBytes(v); }
  static std::string Read(const Rows& r, int row, int col) { return r.Text(row, col); }
};

template <class T>
struct Unwrap {
  using type = T;
};
template <class T>
struct Unwrap<std::optional<T>> {
  using type = T;
};

// Canonical little-endian encoding: the hash is stored, so it must not depend
// on the machine.
void HashValue(std::string& key, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap64(u);
  char bytes[8];
  std::memcpy(bytes, &u, 8);
  key.append(bytes, 8);
}
void HashValue(std::string& key, double v) { HashValue(key, std::bit_cast<int64_t>(v)); }
void HashValue(std::string& key, bool v) { key.push_back(v ? '\1' : '\0'); }
void HashValue(std::string& key, const std::string& s) {
  HashValue(key, static_cast<int64_t>(s.size()));
  key.append(s);
}
template <class T>
void HashValue(std::string& key, const std::optional<T>& v) {
  key.push_back(v ? '\1' : '\0');
  if (v) HashValue(key, *v);
}

template <auto M>
void AppendMember(ArrayBuilder& b, const Activity& a) {
  const auto& v = a.*M;
  using V = std::remove_cvref_t<decltype(v)>;
  using T = typename Unwrap<V>::type;
  if constexpr (std::is_same_v<V, T>) {
    Traits<T>::Add(b, v);
  } else if (v) {
    Traits<T>::Add(b, *v);
  } else {
    b.AddNull();
  }
}

template <auto M>
void ReadMember(const Rows& r, int row, int col, Activity& a) {
  auto& v = a.*M;
  using V = std::remove_cvref_t<decltype(v)>;
  using T = typename Unwrap<V>::type;
  if constexpr (std::is_same_v<V, T>) {
    v = Traits<T>::Read(r, row, col);
  } else if (r.IsNull(row, col)) {
    v.reset();
  } else {
    v = Traits<T>::Read(r, row, col);
  }
}

template <auto M>
void HashMember(std::string& key, const Activity& a) {
  HashValue(key, a.*M);
}

template <auto M>
constexpr ActivityColumn Col(const char* name) {
  using V = std::remove_cvref_t<decltype(std::declval<Activity>().*M)>;
  using T = typename Unwrap<V>::type;
  return {name, Traits<T>::kSql, Traits<T>::kOid, &AppendMember<M>, &ReadMember<M>, &HashMember<M>};
}

// A lat/lng pair is two nullable columns; the pair is present when lat is.
template <std::optional<LatLng> Activity::*M, bool kLat>
void AppendCoord(ArrayBuilder& b, const Activity& a) {
  if (!(a.*M))
    b.AddNull();
  else
    b.AddFloat8(kLat ? (a.*M)->lat : (a.*M)->lng);
}
template <std::optional<LatLng> Activity::*M, bool kLat>
void ReadCoord(const Rows& r, int row, int col, Activity& a) {
  if (kLat) {
    a.*M = r.IsNull(row, col) ? std::nullopt : std::optional<LatLng>(LatLng{r.Double(row, col), 0});
  } else if (a.*M && !r.IsNull(row, col)) {
    (a.*M)->lng = r.Double(row, col);
  }
}
template <std::optional<LatLng> Activity::*M, bool kLat>
void HashCoord(std::string& key, const Activity& a) {
  const auto& v = a.*M;
  HashValue(key, v ? std::optional<double>(kLat ? v->lat : v->lng) : std::nullopt);
}
template <std::optional<LatLng> Activity::*M, bool kLat>
constexpr ActivityColumn Coord(const char* name) {
  return {name, "double precision", oid::kFloat8, &AppendCoord<M, kLat>, &ReadCoord<M, kLat>, &HashCoord<M, kLat>};
}

#define DL_COL(member, name) Col<&Activity::member>(name),
#define DL_COORD(member, is_lat, name) Coord<&Activity::member, is_lat>(name),
constexpr ActivityColumn kColumns[] = {DL_ACTIVITY_COLUMNS(DL_COL, DL_COORD)};
#undef DL_COL
#undef DL_COORD

struct Extra {
  const char* name;
  const char* sql_type;
};
// After the typed columns, in parameter order (see ActivitySql::insert).
constexpr Extra kExtras[] = {
    {"raw_json", "bytea"},     {"category", "text"},        {"local_date", "text"},   {"start_epoch_s", "bigint"},
    {"content_hash", "bytea"}, {"first_seen_at", "bigint"}, {"updated_at", "bigint"}, {"webhook_changed_at", "bigint"},
    {"seen_by_run", "bigint"}};

// "a.id, a.athlete_id, ..." over the typed columns and (optionally) the extras.
std::string Join(const char* prefix, bool typed, size_t extras) {
  std::string out;
  auto add = [&](const char* name) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += name;
  };
  if (typed) {
    for (const auto& c : kColumns) add(c.name);
  }
  for (size_t i = 0; i < extras; ++i) add(kExtras[i].name);
  return out;
}

// unnest($1::bigint[], $2::text[], ...) AS u(id, athlete_id, ...) over every parameter.
std::string Unnest() {
  std::string args, names;
  int param = 1;
  auto add = [&](const char* name, const char* type) {
    if (!args.empty()) {
      args += ", ";
      names += ", ";
    }
    // Appended piece by piece: GCC 12 gives a bogus -Wrestrict for "$" + to_string.
    args += '$';
    args += std::to_string(param++);
    args += "::";
    args += type;
    args += "[]";
    names += name;
  };
  for (const auto& c : kColumns) add(c.name, c.sql_type);
  for (const auto& e : kExtras) add(e.name, e.sql_type);
  return "unnest(" + args + ") AS u(" + names + ")";
}

std::string BuildUpdate() {
  std::string sets;
  auto set = [&](const char* name) {
    const std::string n = name;
    if (n == "id" || n == "athlete_id" || n == "first_seen_at") return;
    if (!sets.empty()) sets += ", ";
    sets += n + " = u." + n;
  };
  for (const auto& c : kColumns) set(c.name);
  for (const auto& e : kExtras) set(e.name);
  return "UPDATE activities a SET " + sets + " FROM " + Unnest() + " WHERE a.athlete_id = u.athlete_id AND a.id = u.id";
}

ActivitySql BuildSql() {
  constexpr size_t kAllExtras = std::size(kExtras);
  ActivitySql s;
  s.insert = "INSERT INTO activities (" + Join("", true, kAllExtras) + ") SELECT " + Join("u.", true, kAllExtras) +
             " FROM " + Unnest();
  s.update = BuildUpdate();
  const std::string select = "SELECT " + Join("", true, 1) + " FROM activities";
  s.select_one = select + " WHERE athlete_id = $1 AND id = $2";
  s.select_one_for_update = s.select_one + " FOR UPDATE";
  s.select_range = select + " WHERE athlete_id = $1 AND local_date BETWEEN $2 AND $3 ORDER BY start_date, id";
  s.archive = "INSERT INTO deleted_activities (deleted_at, reason, " + Join("", true, kAllExtras) +
              ") SELECT $3, $4, " + Join("", true, kAllExtras) +
              " FROM activities WHERE athlete_id = $1 AND id = ANY($2) ORDER BY id";
  return s;
}

}  // namespace

std::span<const ActivityColumn> ActivityColumns() { return kColumns; }

std::string ContentHash(const Activity& a) {
  thread_local std::string key;  // reused: this runs for every upserted row
  key.clear();
  for (const auto& c : kColumns) c.hash(key, a);
  HashValue(key, a.raw_json);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return {};  // never expected; empty equals no stored hash, so the row is rewritten
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

const ActivitySql& Sql() {
  static const ActivitySql kSql = BuildSql();
  return kSql;
}

}  // namespace dl::adapters::postgres
