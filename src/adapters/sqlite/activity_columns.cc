#include "adapters/sqlite/activity_columns.h"

#include <bit>
#include <cstring>
#include <optional>

#include "adapters/activity_column_list.h"
#include "adapters/sqlite/connection.h"
#include "adapters/sqlite/content_hash.h"

namespace dl::adapters::sqlite {
namespace {

using core::Activity;
using core::LatLng;

void ReadValue(const Query& q, int c, std::string& out) { out = q.Text(c); }
void ReadValue(const Query& q, int c, double& out) { out = q.Double(c); }
void ReadValue(const Query& q, int c, int64_t& out) { out = q.Int64(c); }
void ReadValue(const Query& q, int c, bool& out) { out = q.Int64(c) != 0; }
template <class T>
void ReadValue(const Query& q, int c, std::optional<T>& out) {
  if (q.IsNull(c)) {
    out.reset();
    return;
  }
  T value{};
  ReadValue(q, c, value);
  out = std::move(value);
}

// Canonical little-endian encoding: the hash is stored, so it must not depend
// on the machine.
void AppendValue(std::string& key, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap64(u);
  char bytes[8];
  std::memcpy(bytes, &u, 8);
  key.append(bytes, 8);
}
void AppendValue(std::string& key, double v) { AppendValue(key, std::bit_cast<int64_t>(v)); }
void AppendValue(std::string& key, bool v) { key.push_back(v ? '\1' : '\0'); }
void AppendValue(std::string& key, const std::string& s) {
  AppendValue(key, static_cast<int64_t>(s.size()));
  key.append(s);
}
template <class T>
void AppendValue(std::string& key, const std::optional<T>& v) {
  key.push_back(v ? '\1' : '\0');
  if (v) AppendValue(key, *v);
}

// Text is bound by reference: the activity outlives the statement's use
// (the binder's contract, see ActivityColumn::bind).
void BindValue(Query& q, int i, const std::string& v) { q.BindTextRef(i, v); }
void BindValue(Query& q, int i, const std::optional<std::string>& v) {
  if (v)
    q.BindTextRef(i, *v);
  else
    q.BindNull(i);
}
template <class T>
void BindValue(Query& q, int i, const T& v) {
  q.Bind(i, v);
}

template <auto M>
void BindMember(Query& q, int i, const Activity& a) {
  BindValue(q, i, a.*M);
}
template <auto M>
void ReadMember(const Query& q, int c, Activity& a) {
  ReadValue(q, c, a.*M);
}
template <auto M>
void AppendMember(std::string& key, const Activity& a) {
  AppendValue(key, a.*M);
}

template <auto M>
constexpr ActivityColumn Col(const char* name) {
  return {name, &BindMember<M>, &ReadMember<M>, &AppendMember<M>};
}

// A lat/lng pair is two nullable columns; the pair is present when lat is.
template <std::optional<LatLng> Activity::*M, bool kLat>
void BindCoord(Query& q, int i, const Activity& a) {
  if (!(a.*M))
    q.BindNull(i);
  else
    q.Bind(i, kLat ? (a.*M)->lat : (a.*M)->lng);
}
template <std::optional<LatLng> Activity::*M, bool kLat>
void ReadCoord(const Query& q, int c, Activity& a) {
  if (kLat) {
    a.*M = q.IsNull(c) ? std::nullopt : std::optional<LatLng>(LatLng{q.Double(c), 0});
  } else if (a.*M && !q.IsNull(c)) {
    (a.*M)->lng = q.Double(c);
  }
}
template <std::optional<LatLng> Activity::*M, bool kLat>
void AppendCoord(std::string& key, const Activity& a) {
  const auto& v = a.*M;
  AppendValue(key, v ? std::optional<double>(kLat ? v->lat : v->lng) : std::nullopt);
}
template <std::optional<LatLng> Activity::*M, bool kLat>
constexpr ActivityColumn Coord(const char* name) {
  return {name, &BindCoord<M, kLat>, &ReadCoord<M, kLat>, &AppendCoord<M, kLat>};
}

#define DL_COL(member, name) Col<&Activity::member>(name),
#define DL_COORD(member, is_lat, name) Coord<&Activity::member, is_lat>(name),
constexpr ActivityColumn kColumns[] = {DL_ACTIVITY_COLUMNS(DL_COL, DL_COORD)};
#undef DL_COL
#undef DL_COORD

constexpr const char* kBookkeeping[] = {"category",      "local_date", "start_epoch_s",      "content_hash",
                                        "first_seen_at", "updated_at", "webhook_changed_at", "seen_by_run"};

std::string Join(const char* prefix, bool with_bookkeeping) {
  std::string out;
  auto add = [&](const char* name) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += name;
  };
  for (const auto& c : kColumns) add(c.name);
  if (with_bookkeeping) {
    for (const char* name : kBookkeeping) add(name);
  }
  return out;
}

// "?N". (Written out: GCC 12 gives a bogus -Wrestrict for "?" + to_string.)
std::string Param(int index) {
  std::string p = "?";
  p += std::to_string(index);
  return p;
}

constexpr int kParams = static_cast<int>(std::size(kColumns) + std::size(kBookkeeping));

std::string BuildInsert() {
  std::string sql = "INSERT INTO activities (" + Join("", true) + ") VALUES (";
  for (int i = 1; i <= kParams; ++i) {
    if (i > 1) sql += ", ";
    sql += Param(i);
  }
  return sql + ")";
}

std::string BuildUpdate() {
  std::string sql = "UPDATE activities SET ";
  int param = 1;
  bool first = true;
  auto set = [&](const std::string& assignment) {
    if (!first) sql += ", ";
    sql += assignment;
    first = false;
  };
  for (const auto& c : kColumns) {
    const std::string name = c.name;
    const std::string placeholder = Param(param++);
    if (name != "id" && name != "athlete_id") set(name + " = " + placeholder);
  }
  for (const char* name : kBookkeeping) {
    const std::string n = name;
    const std::string placeholder = Param(param++);
    if (n == "first_seen_at") continue;
    if (n == "webhook_changed_at" || n == "seen_by_run") {
      set(n + " = COALESCE(" + placeholder + ", " + n + ")");
    } else {
      set(n + " = " + placeholder);
    }
  }
  return sql + " WHERE row_id = " + Param(param);
}

constexpr const char* kRawJoin = " FROM activities a LEFT JOIN activity_raw r ON r.row_id = a.row_id";

ActivitySql BuildSql() {
  ActivitySql s;
  s.insert = BuildInsert();
  s.update = BuildUpdate();
  const std::string select = "SELECT " + Join("a.", false) + ", r.codec, r.raw" + kRawJoin;
  s.select_one = select + " WHERE a.athlete_id = ?1 AND a.id = ?2";
  s.select_range = select + " WHERE a.athlete_id = ?1 AND a.local_date BETWEEN ?2 AND ?3 ORDER BY a.start_date, a.id";
  s.archive = "INSERT INTO deleted_activities (deleted_at, reason, " + Join("", true) +
              ", raw_codec, raw_json) SELECT ?3, ?4, " + Join("a.", true) + ", r.codec, r.raw" + kRawJoin +
              " WHERE a.athlete_id = ?1 AND a.id = ?2";
  s.bookkeeping_first_param = static_cast<int>(std::size(kColumns)) + 1;
  s.row_id_param = kParams + 1;
  return s;
}

}  // namespace

std::span<const ActivityColumn> ActivityColumns() { return kColumns; }

const MultiRowInsert& InsertRows() {
  static const MultiRowInsert kInsert = [] {
    std::string tuple = "(?";
    for (int i = 1; i <= kParams; ++i) tuple += ", ?";
    tuple += ")";
    return MultiRowInsert("INSERT OR FAIL INTO activities (row_id, " + Join("", true) + ")", tuple, 16);
  }();
  return kInsert;
}

int64_t ContentHash(const Activity& a) {
  thread_local std::string key;  // reused: this runs for every upserted row
  key.clear();
  for (const auto& c : kColumns) c.append(key, a);
  return std::bit_cast<int64_t>(Xxh64(key, Xxh64(a.raw_json)));
}

const ActivitySql& Sql() {
  static const ActivitySql kSql = BuildSql();
  return kSql;
}

}  // namespace dl::adapters::sqlite
