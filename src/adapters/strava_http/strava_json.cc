#include "adapters/strava_http/strava_json.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <array>
#include <cmath>
#include <optional>
#include <string_view>
#include <variant>

namespace dl::adapters::strava_http {
namespace {

namespace sj = simdjson;
namespace od = simdjson::ondemand;
using A = core::Activity;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

// The activity keys read into typed columns (sorted by name for the reader's
// sake). Fields whose handling is not a plain assignment are Special.
enum class Special { kId, kAthlete, kMap };
using Member = std::variant<double A::*, std::optional<double> A::*, int64_t A::*,
                            std::optional<int64_t> A::*, std::string A::*, std::optional<std::string> A::*,
                            bool A::*, std::optional<bool> A::*, std::optional<core::LatLng> A::*, Special>;
struct FieldSpec {
  std::string_view name;
  Member member;
};

constexpr FieldSpec kFields[] = {
    {"achievement_count", &A::achievement_count},
    {"athlete", Special::kAthlete},
    {"athlete_count", &A::athlete_count},
    {"average_cadence", &A::average_cadence},
    {"average_heartrate", &A::average_heartrate},
    {"average_speed", &A::average_speed_mps},
    {"average_temp", &A::average_temp_c},
    {"average_watts", &A::average_watts},
    {"calories", &A::calories},
    {"comment_count", &A::comment_count},
    {"commute", &A::commute},
    {"description", &A::description},
    {"device_name", &A::device_name},
    {"device_watts", &A::device_watts},
    {"distance", &A::distance_m},
    {"elapsed_time", &A::elapsed_time_s},
    {"elev_high", &A::elev_high_m},
    {"elev_low", &A::elev_low_m},
    {"end_latlng", &A::end_latlng},
    {"external_id", &A::external_id},
    {"flagged", &A::flagged},
    {"gear_id", &A::gear_id},
    {"has_heartrate", &A::has_heartrate},
    {"id", Special::kId},
    {"kilojoules", &A::kilojoules},
    {"kudos_count", &A::kudos_count},
    {"manual", &A::manual},
    {"map", Special::kMap},
    {"max_heartrate", &A::max_heartrate},
    {"max_speed", &A::max_speed_mps},
    {"max_watts", &A::max_watts},
    {"moving_time", &A::moving_time_s},
    {"name", &A::name},
    {"photo_count", &A::photo_count},
    {"pr_count", &A::pr_count},
    {"private", &A::is_private},
    {"sport_type", &A::sport_type},
    {"start_date", &A::start_date},
    {"start_date_local", &A::start_date_local},
    {"start_latlng", &A::start_latlng},
    {"suffer_score", &A::suffer_score},
    {"timezone", &A::timezone},
    {"total_elevation_gain", &A::total_elevation_gain_m},
    {"total_photo_count", &A::total_photo_count},
    {"trainer", &A::trainer},
    {"type", &A::type},
    {"upload_id", &A::upload_id},
    {"utc_offset", &A::utc_offset_s},
    {"visibility", &A::visibility},
    {"weighted_average_watts", &A::weighted_average_watts},
    {"workout_type", &A::workout_type},
};

// Key lookup is on the hot path (about 60 keys per activity): an
// open-addressing table built at compile time. The hash reads only the
// length and three bytes (constants picked so that today's keys rarely
// share a slot); a key added later still works, at most a probe slower.
constexpr size_t KeyHash(std::string_view k) {
  if (k.empty()) return 0;
  return k.size() * 23 + static_cast<uint8_t>(k.front()) * 50u + static_cast<uint8_t>(k[k.size() / 2]) * 7u +
         static_cast<uint8_t>(k.back());
}

constexpr size_t kSlots = 128;  // a power of two, well above 2x the field count
static_assert(std::size(kFields) * 2 < kSlots);

constexpr std::array<int8_t, kSlots> BuildKeyTable() {
  std::array<int8_t, kSlots> slots{};
  slots.fill(-1);
  for (size_t i = 0; i < std::size(kFields); ++i) {
    size_t h = KeyHash(kFields[i].name) % kSlots;
    while (slots[h] != -1) h = (h + 1) % kSlots;
    slots[h] = static_cast<int8_t>(i);
  }
  return slots;
}
constexpr std::array<int8_t, kSlots> kKeyTable = BuildKeyTable();

const FieldSpec* FindField(std::string_view key) {
  for (size_t h = KeyHash(key) % kSlots; kKeyTable[h] != -1; h = (h + 1) % kSlots) {
    const FieldSpec& spec = kFields[static_cast<size_t>(kKeyTable[h])];
    if (spec.name == key) return &spec;
  }
  return nullptr;
}

// Reads JSON values tolerantly: a value of an unexpected type reads as
// absent, while a malformed token (what truncation produces) is remembered
// as the first error and ends the parse.
class Reader {
 public:
  bool ok() const { return error_ == sj::SUCCESS; }
  sj::error_code error() const { return error_; }
  bool Check(sj::error_code e) {
    if (e != sj::SUCCESS && error_ == sj::SUCCESS) error_ = e;
    return e == sj::SUCCESS;
  }

  std::optional<od::json_type> Type(od::value& v) {
    od::json_type t;
    if (!Check(v.type().get(t))) return std::nullopt;
    if (t == od::json_type::null) {
      bool is_null = false;  // validates the atom: "nul" is not null
      if (Check(v.is_null().get(is_null)) && !is_null) Check(sj::INCORRECT_TYPE);
    }
    return t;
  }

  // A getter for `wanted` failed with `e`. Another well-formed type (null, a
  // string for a number...) reads as absent; a malformed token is an error,
  // including one that looks like the wanted type but is not ("tru").
  void Unwanted(od::value& v, sj::error_code e, od::json_type wanted) {
    if (e != sj::INCORRECT_TYPE) {
      Check(e);
      return;
    }
    std::optional<od::json_type> t = Type(v);
    if (t == wanted) Check(e);
  }

  // Each reader tries its type's getter first (the common case, one step)
  // and only looks closer when that fails.
  std::optional<double> Double(od::value v) {
    double d = 0;
    sj::error_code e = v.get_double().get(d);
    if (e == sj::SUCCESS) return d;
    Unwanted(v, e, od::json_type::number);
    return std::nullopt;
  }

  // Integers may arrive as floats (174.0); those are rounded.
  std::optional<int64_t> Int(od::value v) {
    int64_t i = 0;
    if (v.get_int64().get(i) == sj::SUCCESS) return i;
    double d = 0;
    sj::error_code e = v.get_double().get(d);
    if (e != sj::SUCCESS) {
      Unwanted(v, e, od::json_type::number);
      return std::nullopt;
    }
    if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return std::nullopt;
    return std::llround(d);
  }

  std::optional<std::string> String(od::value v) {
    std::string_view s;
    if (StringView(v, s)) return std::string(s);
    return std::nullopt;
  }

  // The string without a copy (it points into the parser's buffers): lets a
  // reused Activity assign it into a string that keeps its capacity.
  bool StringView(od::value& v, std::string_view& s) {
    sj::error_code e = v.get_string().get(s);
    if (e == sj::SUCCESS) return true;
    Unwanted(v, e, od::json_type::string);
    return false;
  }

  std::optional<bool> Bool(od::value v) {
    bool b = false;
    sj::error_code e = v.get_bool().get(b);
    if (e == sj::SUCCESS) return b;
    Unwanted(v, e, od::json_type::boolean);
    return std::nullopt;
  }

  // [lat, lng]; null, [] and anything else read as absent.
  std::optional<core::LatLng> LatLng(od::value v) {
    if (Type(v) != od::json_type::array) return std::nullopt;
    od::array arr;
    if (!Check(v.get_array().get(arr))) return std::nullopt;
    double xy[2] = {0, 0};
    int n = 0;
    bool all_numbers = true;
    for (auto element : arr) {
      od::value e;
      if (!Check(element.get(e))) return std::nullopt;
      std::optional<double> d = Double(e);
      if (!ok()) return std::nullopt;
      all_numbers = all_numbers && d.has_value();
      if (d && n < 2) xy[n] = *d;
      ++n;
    }
    if (n != 2 || !all_numbers) return std::nullopt;
    return core::LatLng{xy[0], xy[1]};
  }

  // Calls visit(key, value) for every member of an object value. Returns
  // false when v is not an object (or is malformed).
  template <class Visit>
  bool Fields(od::value v, Visit&& visit) {
    if (Type(v) != od::json_type::object) return false;
    od::object obj;
    if (!Check(v.get_object().get(obj))) return false;
    return Members(obj, visit);
  }

  template <class Visit>
  bool Members(od::object& obj, Visit&& visit) {
    for (auto field : obj) {
      std::string_view key;
      if (!Check(Key(field, key))) return false;
      od::value value;
      if (!Check(field.value().get(value))) return false;
      visit(key, value);
      if (!ok()) return false;
    }
    return ok();
  }

 private:
  // The key as written when it has no escapes (all of Strava's keys), which
  // spares copying it to the string buffer; unescaped otherwise. Keys are
  // closed strings in a padded buffer (checked by simdjson's first pass), so
  // the scan for the closing quote stays inside the document.
  static sj::error_code Key(sj::simdjson_result<od::field>& field, std::string_view& key) {
    od::raw_json_string raw;
    if (sj::error_code e = field.key().get(raw)) return e;
    const char* begin = raw.raw();
    const char* end = begin;
    while (*end != '"' && *end != '\\') ++end;
    if (*end == '"') {
      key = std::string_view(begin, static_cast<size_t>(end - begin));
      return sj::SUCCESS;
    }
    return field.unescaped_key().get(key);
  }

  sj::error_code error_ = sj::SUCCESS;
};

struct ActivityPresence {
  bool id = false;
  bool athlete_id = false;
  bool map_id = false, map_summary_polyline = false;
  uint64_t fields = 0;  // bit i: kFields[i] was read
};
static_assert(std::size(kFields) < 64);

// Assigns in place: a string already there keeps its buffer. False (and
// `out` unchanged) when the value is not a string.
bool AssignString(Reader& r, od::value& v, std::string& out) {
  std::string_view s;
  if (!r.StringView(v, s)) return false;
  out.assign(s);
  return true;
}
void AssignString(Reader& r, od::value& v, std::optional<std::string>& out) {
  std::string_view s;
  if (!r.StringView(v, s)) {
    out.reset();
  } else if (out) {
    out->assign(s);
  } else {
    out.emplace(s);
  }
}

void ApplySpecial(Special s, od::value v, A& a, ActivityPresence& seen, Reader& r) {
  switch (s) {
    case Special::kId:
      if (auto id = r.Int(v)) {
        a.id = *id;
        seen.id = true;
      }
      return;
    case Special::kAthlete:
      r.Fields(v, [&](std::string_view k, od::value& x) {
        if (k != "id") return;
        if (auto id = r.Int(x)) {
          a.athlete_id = *id;
          seen.athlete_id = true;
        }
      });
      return;
    case Special::kMap:
      r.Fields(v, [&](std::string_view k, od::value& x) {
        if (k == "id") {
          AssignString(r, x, a.map_id);
          seen.map_id = true;
        }
        if (k == "summary_polyline") {
          AssignString(r, x, a.map_summary_polyline);
          seen.map_summary_polyline = true;
        }
      });
      return;
  }
}

// The defaults of a fresh Activity: what a field of a reused one becomes when
// the object leaves it out, or (the first time its key appears) sends a
// value of the wrong type.
const A kFresh{};

// `first`: the key's first appearance in the object. A value of the wrong
// type leaves the field as it was: a fresh Activity's default the first
// time (a reused Activity holds its last page's value), the value of the
// key's earlier appearance after.
void ApplyField(const FieldSpec& spec, od::value v, A& a, ActivityPresence& seen, Reader& r, bool first) {
  std::visit(Overloaded{
                 [&](double A::*p) { a.*p = r.Double(v).value_or(first ? kFresh.*p : a.*p); },
                 [&](std::optional<double> A::*p) { a.*p = r.Double(v); },
                 [&](int64_t A::*p) { a.*p = r.Int(v).value_or(first ? kFresh.*p : a.*p); },
                 [&](std::optional<int64_t> A::*p) { a.*p = r.Int(v); },
                 [&](std::string A::*p) {
                   if (!AssignString(r, v, a.*p) && first) (a.*p).assign(kFresh.*p);
                 },
                 [&](std::optional<std::string> A::*p) { AssignString(r, v, a.*p); },
                 [&](bool A::*p) { a.*p = r.Bool(v).value_or(first ? kFresh.*p : a.*p); },
                 [&](std::optional<bool> A::*p) { a.*p = r.Bool(v); },
                 [&](std::optional<core::LatLng> A::*p) { a.*p = r.LatLng(v); },
                 [&](Special s) { ApplySpecial(s, v, a, seen, r); },
             },
             spec.member);
}

std::string_view TrimRight(const char* begin, const char* end) {
  while (end > begin && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t')) --end;
  return {begin, static_cast<size_t>(end - begin)};
}

Error Malformed(sj::error_code e) {
  return Error{
      ErrorCode::kTransient,
      std::string("Strava's response body was malformed (truncated or garbled): ") + sj::error_message(e)};
}

// Where the document's cursor is; `end` when it is past the last token.
const char* Cursor(od::document& doc, const char* end) {
  const char* at = nullptr;
  return doc.current_location().get(at) == sj::SUCCESS ? at : end;
}

// The fields the object left out get a fresh Activity's defaults: `a` may
// be reused, holding the last page's values. Strings are assigned, keeping
// their buffers.
void ResetUnread(A& a, const ActivityPresence& seen) {
  for (uint64_t unread = ~seen.fields & ((uint64_t{1} << std::size(kFields)) - 1); unread != 0; unread &= unread - 1) {
    std::visit(Overloaded{
                   [&](std::string A::*p) { (a.*p).assign(kFresh.*p); },
                   [&](Special) {},
                   [&](auto p) { a.*p = kFresh.*p; },
               },
               kFields[std::countr_zero(unread)].member);
  }
  if (!seen.map_id) a.map_id = kFresh.map_id;
  if (!seen.map_summary_polyline) a.map_summary_polyline = kFresh.map_summary_polyline;
}

// Reads the activity object under the cursor into `a`. Its raw text runs
// from the cursor before to the cursor after (less whitespace): simdjson 3.0
// has no object::raw_json(), and this costs nothing extra.
Status ReadActivity(od::document& doc, od::value v, const char* body_end, A& a) {
  Reader r;
  const char* begin = Cursor(doc, body_end);
  ActivityPresence seen;
  bool is_object = r.Fields(v, [&](std::string_view key, od::value& x) {
    if (const FieldSpec* spec = FindField(key)) {
      const uint64_t bit = uint64_t{1} << (spec - kFields);
      ApplyField(*spec, x, a, seen, r, (seen.fields & bit) == 0);
      seen.fields |= bit;
    }
  });
  ResetUnread(a, seen);
  if (!r.ok()) return std::unexpected(Malformed(r.error()));
  if (!is_object) return Fail(ErrorCode::kProtocol, "Strava sent a non-object where an activity belongs");
  if (!seen.id || !seen.athlete_id)
    return Fail(ErrorCode::kProtocol,
                std::string("Strava sent an activity without ") + (seen.id ? "athlete.id" : "id"));
  if (a.id <= 0 || a.athlete_id <= 0)  // Strava's ids are positive; the store refuses others
    return Fail(ErrorCode::kProtocol, "Strava sent an activity with a non-positive " +
                                          std::string(a.id <= 0 ? "id " + std::to_string(a.id)
                                                                : "athlete.id " + std::to_string(a.athlete_id)));
  a.raw_json.assign(TrimRight(begin, Cursor(doc, body_end)));
  return Ok();
}

// A parse of a whole body: simdjson needs padding after the bytes.
struct Document {
  sj::padded_string text;  // a padded copy of the body (Open)
  const char* end = nullptr;
  od::document doc;
  sj::error_code Open(od::parser& parser, std::string_view body) {
    text = sj::padded_string(body);
    end = text.data() + text.size();
    return parser.iterate(text).get(doc);
  }
  // The body itself, padded in place: no copy, and no allocation once its
  // buffer has the room (a reused buffer keeps it).
  sj::error_code OpenInPlace(od::parser& parser, std::string& body) {
    body.reserve(body.size() + sj::SIMDJSON_PADDING);
    end = body.data() + body.size();
    return parser.iterate(sj::padded_string_view(body.data(), body.size(), body.capacity())).get(doc);
  }
  const char* End() const { return end; }
  // Trailing bytes after the root value mean the body is garbled.
  bool AtEnd() { return Cursor(doc, End()) == End(); }
};

// The activities of an opened page into `out` (ParsePageInto).
Status ReadPage(Document& d, std::vector<A>& out);

}  // namespace

struct ActivityParser::Impl {
  od::parser parser;
};

ActivityParser::ActivityParser() : impl_(std::make_unique<Impl>()) {}
ActivityParser::~ActivityParser() = default;

Result<std::vector<A>> ActivityParser::ParsePage(std::string_view body) {
  std::vector<A> out;
  if (Status s = ParsePageInto(body, out); !s) return std::unexpected(s.error());
  return out;
}

Status ActivityParser::ParsePageInto(std::string_view body, std::vector<A>& out) {
  Document d;
  if (sj::error_code e = d.Open(impl_->parser, body)) return std::unexpected(Malformed(e));
  return ReadPage(d, out);
}

Status ActivityParser::ParsePageInPlace(std::string& body, std::vector<A>& out) {
  Document d;
  if (sj::error_code e = d.OpenInPlace(impl_->parser, body)) return std::unexpected(Malformed(e));
  return ReadPage(d, out);
}

namespace {

Status ReadPage(Document& d, std::vector<A>& out) {
  od::array arr;
  od::json_type t;
  if (sj::error_code e = d.doc.type().get(t)) return std::unexpected(Malformed(e));
  if (t != od::json_type::array)
    return Fail(ErrorCode::kProtocol, "Strava sent a non-array where a page of activities belongs");
  if (sj::error_code e = d.doc.get_array().get(arr)) return std::unexpected(Malformed(e));
  // A new vector is reserved after a first pass that counts the elements
  // (growing it would move activities); a recycled one has a page's worth
  // already, and the pass (a walk over the whole page) is skipped.
  if (out.empty()) {
    size_t count = 0;
    if (sj::error_code e = arr.count_elements().get(count)) return std::unexpected(Malformed(e));
    out.reserve(count);
  }
  size_t i = 0;  // the activities already there are read into, keeping their strings' buffers
  for (auto element : arr) {
    od::value v;
    if (sj::error_code e = element.get(v)) return std::unexpected(Malformed(e));
    if (i == out.size()) out.emplace_back();
    if (Status s = ReadActivity(d.doc, v, d.End(), out[i++]); !s) return std::unexpected(s.error());
  }
  out.resize(i);
  if (!d.AtEnd()) return std::unexpected(Malformed(sj::TRAILING_CONTENT));
  return Ok();
}

}  // namespace

Result<A> ActivityParser::ParseOne(std::string_view body) {
  Document d;
  if (sj::error_code e = d.Open(impl_->parser, body)) return std::unexpected(Malformed(e));
  od::json_type t;
  if (sj::error_code e = d.doc.type().get(t)) return std::unexpected(Malformed(e));
  if (t != od::json_type::object)
    return Fail(ErrorCode::kProtocol, "Strava sent a non-object where an activity belongs");
  od::value root;
  // simdjson allows get_value() on a non-scalar root, so ReadActivity serves
  // both a page's elements and a root object.
  if (sj::error_code e = d.doc.get_value().get(root)) return std::unexpected(Malformed(e));
  A a;
  if (Status s = ReadActivity(d.doc, root, d.End(), a); !s) return std::unexpected(s.error());
  if (!d.AtEnd()) return std::unexpected(Malformed(sj::TRAILING_CONTENT));
  return a;
}

Result<std::vector<A>> ParseActivityPage(std::string_view body) { return ActivityParser().ParsePage(body); }

Result<A> ParseActivity(std::string_view body) { return ActivityParser().ParseOne(body); }

namespace {

// Parses a body that must be a JSON object, visiting each member with `r`
// (whose first error, if any, ends the parse).
template <class Visit>
Status ParseObject(std::string_view body, const char* what, Reader& r, Visit&& visit) {
  od::parser parser;
  Document d;
  if (sj::error_code e = d.Open(parser, body)) return std::unexpected(Malformed(e));
  od::json_type t;
  if (!r.Check(d.doc.type().get(t))) return std::unexpected(Malformed(r.error()));
  if (t != od::json_type::object)
    return Fail(ErrorCode::kProtocol, std::string("Strava sent a non-object for ") + what);
  od::object obj;
  if (!r.Check(d.doc.get_object().get(obj))) return std::unexpected(Malformed(r.error()));
  if (!r.Members(obj, visit)) return std::unexpected(Malformed(r.error()));
  if (!d.AtEnd()) return std::unexpected(Malformed(sj::TRAILING_CONTENT));
  return Ok();
}

}  // namespace

Result<ports::TokenSet> ParseTokenSet(std::string_view body) {
  ports::TokenSet t;
  bool has_expiry = false;
  Reader r;
  Status s = ParseObject(body, "a token", r, [&](std::string_view k, od::value& v) {
    if (k == "access_token") t.access_token = r.String(v).value_or("");
    if (k == "refresh_token") t.refresh_token = r.String(v).value_or("");
    if (k == "expires_at")
      if (auto e = r.Int(v)) t.expires_at_epoch_s = *e, has_expiry = true;
    if (k == "athlete")
      r.Fields(v, [&](std::string_view ak, od::value& av) {
        if (ak == "id") t.athlete_id = r.Int(av).value_or(0);
      });
  });
  if (!s) return std::unexpected(s.error());
  if (t.access_token.empty() || t.refresh_token.empty() || !has_expiry)
    return Fail(ErrorCode::kProtocol,
                "Strava's token answer lacks access_token, refresh_token or expires_at");
  return t;
}

Result<ports::Athlete> ParseAthlete(std::string_view body) {
  ports::Athlete a;
  Reader r;
  Status s = ParseObject(body, "the athlete", r, [&](std::string_view k, od::value& v) {
    if (k == "id") a.id = r.Int(v).value_or(0);
    if (k == "firstname") a.firstname = r.String(v).value_or("");
    if (k == "lastname") a.lastname = r.String(v).value_or("");
  });
  if (!s) return std::unexpected(s.error());
  if (a.id == 0) return Fail(ErrorCode::kProtocol, "Strava's athlete answer lacks an id");
  return a;
}

Result<int64_t> ParseSubscriptionId(std::string_view body) {
  int64_t id = 0;
  Reader r;
  Status s = ParseObject(body, "the subscription", r, [&](std::string_view k, od::value& v) {
    if (k == "id") id = r.Int(v).value_or(0);
  });
  if (!s) return std::unexpected(s.error());
  if (id == 0) return Fail(ErrorCode::kProtocol, "Strava's subscription answer lacks an id");
  return id;
}

Result<std::vector<ports::Subscription>> ParseSubscriptions(std::string_view body) {
  od::parser parser;
  Document d;
  if (sj::error_code e = d.Open(parser, body)) return std::unexpected(Malformed(e));
  Reader r;
  od::json_type t;
  if (!r.Check(d.doc.type().get(t))) return std::unexpected(Malformed(r.error()));
  if (t != od::json_type::array)
    return Fail(ErrorCode::kProtocol, "Strava sent a non-array for the subscriptions");
  od::array arr;
  if (!r.Check(d.doc.get_array().get(arr))) return std::unexpected(Malformed(r.error()));
  std::vector<ports::Subscription> out;
  for (auto element : arr) {
    od::value v;
    if (!r.Check(element.get(v))) break;
    ports::Subscription sub;
    r.Fields(v, [&](std::string_view k, od::value& x) {
      if (k == "id") sub.id = r.Int(x).value_or(0);
      if (k == "callback_url") sub.callback_url = r.String(x).value_or("");
    });
    if (!r.ok()) break;
    out.push_back(std::move(sub));
  }
  if (!r.ok()) return std::unexpected(Malformed(r.error()));
  if (!d.AtEnd()) return std::unexpected(Malformed(sj::TRAILING_CONTENT));
  return out;
}

Fault ParseFault(std::string_view body) {
  Fault f;
  Reader r;
  (void)ParseObject(body, "the error", r, [&](std::string_view k, od::value& v) {
    if (k == "message") f.message = r.String(v).value_or("");
    if (k != "errors" || r.Type(v) != od::json_type::array) return;
    od::array arr;
    if (!r.Check(v.get_array().get(arr))) return;
    for (auto element : arr) {
      od::value e;
      if (!r.Check(element.get(e))) return;
      FaultItem item;
      bool is_object = r.Fields(e, [&](std::string_view ek, od::value& ev) {
        if (ek == "resource") item.resource = r.String(ev).value_or("");
        if (ek == "field") item.field = r.String(ev).value_or("");
        if (ek == "code") item.code = r.String(ev).value_or("");
      });
      if (!r.ok()) return;
      if (is_object) f.errors.push_back(std::move(item));
    }
  });
  return f;
}

std::string Fault::Describe() const {
  std::string out = message.empty() ? "no message" : message;
  for (size_t i = 0; i < errors.size(); ++i) {
    out += i == 0 ? " (" : "; ";
    out += errors[i].resource + "/" + errors[i].field + "/" + errors[i].code;
    if (i + 1 == errors.size()) out += ")";
  }
  // Bounded and printable: this text ends up in logs and terminals.
  constexpr size_t kMax = 300;
  if (out.size() > kMax) out = out.substr(0, kMax) + "...";
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

}  // namespace dl::adapters::strava_http
