#include "sim/simulator.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <variant>

#include "sim/generator.h"
#include "sim/rate_buckets.h"
#include "sim/webhooks.h"

namespace dl::sim {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kJsonType = "application/json; charset=utf-8";

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t NowS() { return NowUs() / 1'000'000; }

// Strava's Fault body: {"message":..,"errors":[{"resource","field","code"}]}.
std::string FaultBody(std::string_view message, std::string_view resource, std::string_view field,
                      std::string_view code) {
  Json j;
  j["message"] = message;
  j["errors"] = Json::array({Json{{"resource", resource}, {"field", field}, {"code", code}}});
  return j.dump();
}

struct Reply {
  int status = 200;
  std::string body;
  std::string location;  // 302 target
};

Reply JsonReply(int status, std::string body) { return Reply{status, std::move(body), {}}; }
Reply BadRequest(std::string_view resource, std::string_view field, std::string_view code = "invalid") {
  return JsonReply(400, FaultBody("Bad Request", resource, field, code));
}
Reply Unauthorized(std::string_view resource, std::string_view field, std::string_view code) {
  return JsonReply(401, FaultBody("Authorization Error", resource, field, code));
}
Reply RecordNotFound() { return JsonReply(404, FaultBody("Record Not Found", "Activity", "id", "invalid")); }

// ---- scopes ----------------------------------------------------------------

constexpr std::array<std::string_view, 7> kScopeNames = {
    "read", "read_all", "profile:read_all", "profile:write", "activity:read", "activity:read_all", "activity:write"};
constexpr unsigned kActivityRead = 1u << 4;
constexpr unsigned kActivityReadAll = 1u << 5;

// Comma (or space) separated scope list to a bit set; nullopt on an unknown
// scope (the legacy view_private/write included).
std::optional<unsigned> ParseScopes(std::string_view csv) {
  unsigned bits = 0;
  size_t pos = 0;
  while (pos <= csv.size()) {
    size_t end = csv.find_first_of(", ", pos);
    if (end == std::string_view::npos) end = csv.size();
    const std::string_view name = csv.substr(pos, end - pos);
    if (!name.empty()) {
      auto it = std::find(kScopeNames.begin(), kScopeNames.end(), name);
      if (it == kScopeNames.end()) return std::nullopt;
      bits |= 1u << (it - kScopeNames.begin());
    }
    pos = end + 1;
  }
  return bits;
}

std::string FormatScopes(unsigned bits) {
  std::string out;
  for (size_t i = 0; i < kScopeNames.size(); ++i) {
    if (bits & (1u << i)) out += (out.empty() ? "" : ",") + std::string(kScopeNames[i]);
  }
  return out;
}

// ---- helpers -----------------------------------------------------------------

std::string RandomHex(std::mt19937_64& rng, int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kHex[rng() & 15]);
  return s;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return s[0] == '-' ? -v : v;
}

// A form, multipart or query parameter.
std::string Param(const httplib::Request& req, const std::string& name) {
  if (req.has_param(name)) return req.get_param_value(name);
  if (req.has_file(name)) return req.get_file_value(name).content;
  return {};
}

// "GET /api/v3/activities/123" -> "GET /api/v3/activities/{id}".
std::string EndpointKey(const std::string& method, const std::string& path) {
  std::string key = method + " ";
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos + 1);
    if (end == std::string::npos) end = path.size();
    const std::string_view segment(path.data() + pos + 1, end - pos - 1);
    const bool numeric =
        !segment.empty() && std::all_of(segment.begin(), segment.end(), [](char c) { return c >= '0' && c <= '9'; });
    key += "/" + (numeric ? std::string("{id}") : std::string(segment));
    pos = end;
  }
  return key;
}

// Splits a JSON array into the exact text of its elements (objects only), so
// file data can be served byte for byte as given.
Result<std::vector<std::string>> SplitJsonArray(const std::string& text) {
  std::vector<std::string> out;
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string::npos || text[i] != '[')
    return Fail(ErrorCode::kInvalidArgument, "activities: not a JSON array");
  ++i;
  while (true) {
    i = text.find_first_not_of(" \t\r\n,", i);
    if (i == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "activities: unterminated array");
    if (text[i] == ']') return out;
    if (text[i] != '{') return Fail(ErrorCode::kInvalidArgument, "activities: elements must be objects");
    const size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    if (i >= text.size()) return Fail(ErrorCode::kInvalidArgument, "activities: unterminated object");
    out.push_back(text.substr(start, i - start + 1));
    ++i;
  }
}

// ---- the activity store ------------------------------------------------------

struct Entry {
  int64_t id = 0;
  int64_t athlete_id = 0;
  int64_t start = 0;  // start_date, epoch seconds
  bool only_me = false;
  std::string summary;  // served by the list endpoint, exactly
  std::string detail;   // served by GET /activities/{id}
};

bool EntryBefore(const Entry& a, const Entry& b) { return std::tie(a.start, a.id) < std::tie(b.start, b.id); }

bool IsOnlyMe(const Json& a) {
  auto vis = a.find("visibility");
  if (vis != a.end() && vis->is_string()) return *vis == "only_me";
  auto priv = a.find("private");
  return priv != a.end() && priv->is_boolean() && priv->get<bool>();
}

// Detail from a summary that came without DetailedActivity fields.
Json DetailFromSummary(Json a) {
  a["resource_state"] = 3;
  if (!a.contains("description")) a["description"] = nullptr;
  if (!a.contains("calories")) {
    auto kj = a.find("kilojoules");
    a["calories"] = kj != a.end() && kj->is_number() ? std::round(kj->get<double>() * 10.5) / 10 : 0.0;
  }
  return a;
}

Result<Entry> MakeEntry(const Json& summary, const Json& detail, int64_t default_athlete) {
  if (!summary.is_object() || !summary.contains("id") || !summary["id"].is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument, "activity without an integer id");
  }
  Entry e;
  e.id = summary["id"].get<int64_t>();
  const auto start = summary.contains("start_date") && summary["start_date"].is_string()
                         ? ParseIso(summary["start_date"].get<std::string>())
                         : std::nullopt;
  if (!start) return Fail(ErrorCode::kInvalidArgument, "activity " + std::to_string(e.id) + ": bad start_date");
  e.start = *start;
  const auto athlete = summary.find("athlete");
  e.athlete_id = athlete != summary.end() && athlete->is_object() && athlete->contains("id") &&
                         (*athlete)["id"].is_number_integer()
                     ? (*athlete)["id"].get<int64_t>()
                     : default_athlete;
  e.only_me = IsOnlyMe(summary);
  e.summary = summary.dump();
  e.detail = detail.dump();
  return e;
}

// Overlays a partial SummaryActivity and restores the invariants the partial
// leaves to us: type/sport_type, private/visibility, start_date_local and
// utc_offset from start_date in the activity's time zone.
void Overlay(Json& a, const Json& partial) {
  const std::string old_visibility = a.value("visibility", "everyone");
  for (const auto& [key, value] : partial.items()) {
    if (key != "resource_state") a[key] = value;
  }
  auto has = [&partial](const char* k) { return partial.contains(k); };
  if (has("sport_type") && !has("type") && a["sport_type"].is_string()) {
    a["type"] = LegacyTypeOf(a["sport_type"].get<std::string>());
  }
  if (has("type") && !has("sport_type")) a["sport_type"] = a["type"];
  if (has("private") && !has("visibility") && a["private"].is_boolean()) {
    a["visibility"] =
        a["private"].get<bool>() ? "only_me" : (old_visibility == "only_me" ? "everyone" : old_visibility);
  }
  if (has("visibility") && !has("private")) a["private"] = a["visibility"] == "only_me";
  if (has("start_date") && !has("start_date_local") && a["start_date"].is_string()) {
    const auto start = ParseIso(a["start_date"].get<std::string>());
    const std::string zone = ZoneNameFromLabel(a.value("timezone", ""));
    const auto offset = start ? UtcOffsetAt(zone, *start) : std::nullopt;
    if (start) {
      const double off = offset ? static_cast<double>(*offset) : a.value("utc_offset", 0.0);
      if (!has("utc_offset")) a["utc_offset"] = off;
      a["start_date_local"] = FormatIso(*start + static_cast<int64_t>(off));
    }
  }
}

Json AthleteJson(int64_t id, bool detailed) {
  Json a;
  a["id"] = id;
  a["username"] = "sim_athlete";
  a["resource_state"] = detailed ? 3 : 2;
  a["firstname"] = "Sam";
  a["lastname"] = "Simulé";
  a["bio"] = "";
  a["city"] = "New York";
  a["state"] = "New York";
  a["country"] = "United States";
  a["sex"] = "F";
  a["premium"] = true;
  a["summit"] = true;
  a["created_at"] = "2015-03-14T09:26:53Z";
  a["updated_at"] = "2025-10-01T06:00:00Z";
  a["badge_type_id"] = 1;
  a["weight"] = 61.5;
  a["profile_medium"] = "avatar/athlete/medium.png";
  a["profile"] = "avatar/athlete/large.png";
  a["friend"] = nullptr;
  a["follower"] = nullptr;
  if (detailed) {
    a["follower_count"] = 42;
    a["friend_count"] = 57;
    a["measurement_preference"] = "meters";
    a["ftp"] = nullptr;
    a["clubs"] = Json::array();
    a["bikes"] =
        Json::array({Json{{"id", "b8423916"}, {"primary", true}, {"name", "Road bike"}, {"resource_state", 2}}});
    a["shoes"] =
        Json::array({Json{{"id", "g12873466"}, {"primary", true}, {"name", "Pegasus 40"}, {"resource_state", 2}}});
  }
  return a;
}

// Closes the client's TCP connection with a RST and no response: the socket
// of this request is found by its addresses, given SO_LINGER 0, and replaced
// under httplib's feet by /dev/null (dup2 closes the real socket atomically,
// so the descriptor number never dangles; httplib's later writes just fail).
bool ResetConnection(const httplib::Request& req, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool done = false;
  while (dirent* ent = readdir(dir)) {
    const int fd = std::atoi(ent->d_name);
    struct stat st {};
    if (fd == dirfd(dir) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;
    }
    auto port_of = [](const sockaddr_storage& s) {
      return s.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port)
                                     : ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port);
    };
    if (port_of(local) != local_port || port_of(peer) != req.remote_port) continue;
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    done = null_fd >= 0 && dup2(null_fd, fd) == fd;
    if (null_fd >= 0) close(null_fd);
    break;
  }
  closedir(dir);
  return done;
}

struct AccessToken {
  unsigned scopes = 0;
  int64_t expires_at = 0;
};

struct Subscription {
  int64_t id = 0;
  std::string callback_url;
  std::string created_at;
};

}  // namespace

// ---- state -----------------------------------------------------------------

struct Simulator::Impl {
  explicit Impl(SimOptions o)
      : options(std::move(o)),
        buckets(options.limits, options.window_scale),
        faults(options.faults),
        fault_rng(options.faults.seed),
        webhooks(options.webhooks),
        token_rng(std::random_device{}() ^ static_cast<uint64_t>(NowUs())) {}

  // Data (shared_mutex: many concurrent readers of pages).
  Status Load();
  std::string ListPage(const httplib::Request& req, unsigned scopes, Reply& error) const;
  Reply GetActivity(const std::string& id_text, unsigned scopes) const;
  // Create/Update turn JSON of the wrong shape into kInvalidArgument.
  Result<std::string> Create(const std::string& partial_json);
  Result<std::string> Update(int64_t id, const std::string& partial_json);
  Result<std::string> CreateUnguarded(const std::string& partial_json);
  Result<std::string> UpdateUnguarded(int64_t id, const std::string& partial_json);
  Status Delete(int64_t id);
  std::string AllActivities() const;
  void Insert(Entry e);                           // data_mu held
  std::vector<Entry>::iterator Find(int64_t id);  // data_mu held
  int64_t NewId(int64_t start);                   // data_mu held

  // OAuth.
  Reply Authorize(const httplib::Request& req);
  Reply Token(const httplib::Request& req);
  Reply Deauthorize(const httplib::Request& req);
  std::string IssueTokens(unsigned scopes, bool with_athlete);  // auth_mu held
  std::variant<unsigned, Reply> Authenticate(const httplib::Request& req);
  void DeauthorizeAthlete();
  std::optional<Reply> CheckClient(const httplib::Request& req);

  // API. Admit() counts the request (stats, rate buckets) and draws its fault.
  struct Admission {
    RateVerdict verdict = RateVerdict::kAllowed;
    std::vector<std::pair<std::string, std::string>> headers;  // the four rate-limit headers
    std::optional<FaultKind> fault;
    bool inactive = false;
    int slow_ms = 0;
  };
  Admission Admit(const httplib::Request& req);
  void Api(const httplib::Request& req, httplib::Response& res);
  Reply Route(const httplib::Request& req);
  Reply CreateSubscription(const httplib::Request& req);
  Reply ViewSubscription(const httplib::Request& req);
  Reply DeleteSubscription(const httplib::Request& req);
  std::optional<FaultKind> NextFault();  // stats_mu held
  bool SleepUnlessStopped(int ms);

  // Webhooks.
  void FireActivityEvent(std::string_view aspect, int64_t id, const Json& updates);
  void Notify(std::string_view aspect, int64_t id, bool was_only_me, bool now_only_me, const Json& updates);

  // Admin.
  Reply Admin(const httplib::Request& req);
  Reply AdminRoute(const httplib::Request& req);
  Reply AdminFaults(const std::string& body);
  Reply AdminGrant(const std::string& body);
  std::string StatsJson();
  std::string WebhookLogJson() const;

  void Handle(const httplib::Request& req, httplib::Response& res);
  static void Send(httplib::Response& res, Reply reply);

  SimOptions options;
  int64_t athlete = 0;

  mutable std::shared_mutex data_mu;
  std::vector<Entry> entries;  // sorted by (start_date, id)

  std::mutex auth_mu;
  std::map<std::string, AccessToken> access_tokens;
  std::map<std::string, unsigned> refresh_tokens;
  std::map<std::string, unsigned> codes;  // single use
  unsigned grantable = 0;                 // what the athlete ticks on /oauth/authorize
  unsigned athlete_scopes = 0;            // the app's current authorization
  bool authorized = true;
  bool deny = false;
  std::optional<Subscription> subscription;
  int64_t next_subscription_id = 120475;

  std::mutex stats_mu;
  RateBuckets buckets;
  SimStats stats;
  FaultOptions faults;
  SplitMix fault_rng;
  std::deque<FaultKind> queued_faults;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;

  WebhookDispatcher webhooks;
  std::mt19937_64 token_rng;  // guarded by auth_mu
  httplib::Server server;
  std::thread server_thread;
  int port = 0;
  bool started = false;
};

// ---- data --------------------------------------------------------------------

Status Simulator::Impl::Load() {
  std::optional<std::string> text = options.activities_json;
  if (!text && !options.activities_file.empty()) {
    std::ifstream in(options.activities_file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "cannot read " + options.activities_file);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  athlete = options.athlete_id;
  if (!text) {
    for (GeneratedActivity& g : GenerateActivities(options.generate, athlete)) {
      entries.push_back(
          Entry{g.id, athlete, g.start_epoch_s, g.only_me, std::move(g.summary_json), std::move(g.detail_json)});
    }
    return Ok();
  }
  auto raw = SplitJsonArray(*text);
  if (!raw) return std::unexpected(raw.error());
  std::map<int64_t, int> athletes;
  for (std::string& object : *raw) {
    const Json summary = Json::parse(object, nullptr, false);
    auto entry = MakeEntry(summary, DetailFromSummary(summary), options.athlete_id);
    if (!entry) return std::unexpected(entry.error());
    entry->summary = std::move(object);  // served exactly as given
    ++athletes[entry->athlete_id];
    entries.push_back(std::move(*entry));
  }
  // The athlete is the one most activities name.
  int best = 0;
  for (const auto& [id, n] : athletes) {
    if (n > best) best = n, athlete = id;
  }
  std::sort(entries.begin(), entries.end(), EntryBefore);
  std::set<int64_t> ids;
  for (const Entry& e : entries) {
    if (!ids.insert(e.id).second)
      return Fail(ErrorCode::kInvalidArgument, "duplicate activity id " + std::to_string(e.id));
  }
  return Ok();
}

std::string Simulator::Impl::ListPage(const httplib::Request& req, unsigned scopes, Reply& error) const {
  std::optional<int64_t> bound[2];
  const char* names[2] = {"after", "before"};
  for (int i = 0; i < 2; ++i) {
    if (!req.has_param(names[i])) continue;
    bound[i] = ParseInt(req.get_param_value(names[i]));
    if (!bound[i]) error = BadRequest("Application", names[i]);
  }
  const auto page_param = req.has_param("page") ? ParseInt(req.get_param_value("page")) : std::optional<int64_t>(1);
  const auto per_param =
      req.has_param("per_page") ? ParseInt(req.get_param_value("per_page")) : std::optional<int64_t>(30);
  if (!page_param || !per_param) error = BadRequest("Application", !page_param ? "page" : "per_page");
  if (error.status != 200) return {};
  const int64_t page = std::clamp<int64_t>(*page_param, 1, 1'000'000'000);
  const int64_t per_page = *per_param < 1 ? 30 : std::min<int64_t>(*per_param, 200);
  const bool read_all = scopes & kActivityReadAll;

  std::shared_lock lock(data_mu);
  // Exclusive bounds on start_date: after < start < before.
  auto lo = bound[0] ? std::upper_bound(entries.begin(), entries.end(), *bound[0],
                                        [](int64_t t, const Entry& e) { return t < e.start; })
                     : entries.begin();
  auto hi = bound[1] ? std::lower_bound(entries.begin(), entries.end(), *bound[1],
                                        [](const Entry& e, int64_t t) { return e.start < t; })
                     : entries.end();
  if (hi < lo) hi = lo;
  int64_t skip = (page - 1) * per_page, taken = 0;
  std::string out = "[";
  out.reserve(static_cast<size_t>(per_page) * 2200);
  auto visit = [&](const Entry& e) {
    if (e.athlete_id != athlete || (e.only_me && !read_all)) return true;
    if (skip > 0) {
      --skip;
      return true;
    }
    if (taken++ > 0) out.push_back(',');
    out += e.summary;
    return taken < per_page;
  };
  if (bound[0]) {  // oldest first whenever `after` is given
    for (auto it = lo; it != hi && visit(*it); ++it) {
    }
  } else {
    for (auto it = hi; it != lo && visit(*(it - 1)); --it) {
    }
  }
  out.push_back(']');
  return out;
}

Reply Simulator::Impl::GetActivity(const std::string& id_text, unsigned scopes) const {
  const auto id = ParseInt(id_text);
  if (!id) return RecordNotFound();
  std::shared_lock lock(data_mu);
  auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == *id; });
  if (it == entries.end() || it->athlete_id != athlete || (it->only_me && !(scopes & kActivityReadAll))) {
    return RecordNotFound();
  }
  return JsonReply(200, it->detail);
}

void Simulator::Impl::Insert(Entry e) {
  entries.insert(std::upper_bound(entries.begin(), entries.end(), e, EntryBefore), std::move(e));
}

std::vector<Entry>::iterator Simulator::Impl::Find(int64_t id) {
  return std::find_if(entries.begin(), entries.end(), [id](const Entry& e) { return e.id == id; });
}

int64_t Simulator::Impl::NewId(int64_t start) {
  int64_t id = IdForStart(start);
  for (const Entry& e : entries) id = std::max(id, e.id + 1);
  return id;
}

namespace {
// Admin input is the tester's: a field of the wrong JSON type is a 400, not a 500.
template <class F>
auto GuardJson(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("bad JSON field: ") + e.what());
  }
}
}  // namespace

Result<std::string> Simulator::Impl::Create(const std::string& partial_json) {
  return GuardJson([&] { return CreateUnguarded(partial_json); });
}

Result<std::string> Simulator::Impl::Update(int64_t id, const std::string& partial_json) {
  return GuardJson([&] { return UpdateUnguarded(id, partial_json); });
}

Result<std::string> Simulator::Impl::CreateUnguarded(const std::string& partial_json) {
  const Json partial = Json::parse(partial_json, nullptr, false);
  if (!partial.is_object()) return Fail(ErrorCode::kInvalidArgument, "body must be a JSON object");
  const std::string sport = partial.value("sport_type", partial.value("type", std::string("Ride")));
  const std::string start_text = partial.value("start_date", FormatIso(NowS()));
  const auto start = ParseIso(start_text);
  if (!start) return Fail(ErrorCode::kInvalidArgument, "start_date must look like 2025-10-18T12:49:52Z");
  const std::string zone = ZoneNameFromLabel(partial.value("timezone", "America/New_York"));
  std::unique_lock lock(data_mu);
  const int64_t id =
      partial.contains("id") && partial["id"].is_number_integer() ? partial["id"].get<int64_t>() : NewId(*start);
  if (Find(id) != entries.end()) return Fail(ErrorCode::kConflict, "activity " + std::to_string(id) + " exists");
  const GeneratedActivity g = TemplateActivity(id, athlete, *start, sport, zone);
  Json summary = Json::parse(g.summary_json), detail = Json::parse(g.detail_json);
  Overlay(summary, partial);
  Overlay(detail, partial);
  auto entry = MakeEntry(summary, detail, athlete);
  if (!entry) return std::unexpected(entry.error());
  const bool only_me = entry->only_me, mine = entry->athlete_id == athlete;
  std::string stored = entry->summary;
  Insert(std::move(*entry));
  lock.unlock();
  if (mine) Notify("create", id, only_me, only_me, Json::object());
  return stored;
}

Result<std::string> Simulator::Impl::UpdateUnguarded(int64_t id, const std::string& partial_json) {
  const Json partial = Json::parse(partial_json, nullptr, false);
  if (!partial.is_object()) return Fail(ErrorCode::kInvalidArgument, "body must be a JSON object");
  if (partial.contains("id") && partial["id"] != id) return Fail(ErrorCode::kInvalidArgument, "id cannot change");
  std::unique_lock lock(data_mu);
  auto it = Find(id);
  if (it == entries.end()) return Fail(ErrorCode::kNotFound, "no activity " + std::to_string(id));
  Json summary = Json::parse(it->summary), detail = Json::parse(it->detail);
  const Json before = summary;
  const bool was_only_me = it->only_me;
  Overlay(summary, partial);
  Overlay(detail, partial);
  auto entry = MakeEntry(summary, detail, athlete);
  if (!entry) return std::unexpected(entry.error());
  const bool now_only_me = entry->only_me, mine = entry->athlete_id == athlete;
  std::string stored = entry->summary;
  entries.erase(it);
  Insert(std::move(*entry));
  lock.unlock();
  // Only title, type and privacy changes fire events (D-WH).
  Json updates = Json::object();
  if (summary.value("name", Json()) != before.value("name", Json())) updates["title"] = summary["name"];
  if (summary.value("type", Json()) != before.value("type", Json()) ||
      summary.value("sport_type", Json()) != before.value("sport_type", Json())) {
    updates["type"] = summary.value("type", Json());
  }
  if (was_only_me != now_only_me) updates["private"] = now_only_me ? "true" : "false";
  if (mine) Notify("update", id, was_only_me, now_only_me, updates);
  return stored;
}

Status Simulator::Impl::Delete(int64_t id) {
  std::unique_lock lock(data_mu);
  auto it = Find(id);
  if (it == entries.end()) return Fail(ErrorCode::kNotFound, "no activity " + std::to_string(id));
  const bool only_me = it->only_me, mine = it->athlete_id == athlete;
  entries.erase(it);
  lock.unlock();
  if (mine) Notify("delete", id, only_me, only_me, Json::object());
  return Ok();
}

std::string Simulator::Impl::AllActivities() const {
  std::shared_lock lock(data_mu);
  std::string out = "[";
  for (const Entry& e : entries) {
    if (out.size() > 1) out.push_back(',');
    out += e.summary;
  }
  return out + "]";
}

// ---- webhooks ------------------------------------------------------------------

void Simulator::Impl::FireActivityEvent(std::string_view aspect, int64_t id, const Json& updates) {
  std::string url;
  Json event;
  {
    std::lock_guard lock(auth_mu);
    if (!subscription || !authorized) return;
    url = subscription->callback_url;
    event["aspect_type"] = aspect;
    event["event_time"] = NowS();
    event["object_id"] = id;
    event["object_type"] = "activity";
    event["owner_id"] = athlete;
    event["subscription_id"] = subscription->id;
    event["updates"] = updates;
  }
  webhooks.Enqueue(url, event.dump());
}

// What the app hears of a change. Updates fire only for title, type and
// privacy (an empty `updates` fires nothing). An app without
// activity:read_all never hears of only-me activities: a flip to only-me
// looks like a delete and a flip back like a create (D-WH).
void Simulator::Impl::Notify(std::string_view aspect, int64_t id, bool was_only_me, bool now_only_me,
                             const Json& updates) {
  bool read_all = false;
  {
    std::lock_guard lock(auth_mu);
    read_all = athlete_scopes & kActivityReadAll;
  }
  if (aspect == "update" && updates.empty()) return;
  if (read_all) return FireActivityEvent(aspect, id, updates);
  if (was_only_me && now_only_me) return;
  if (was_only_me != now_only_me) return FireActivityEvent(now_only_me ? "delete" : "create", id, Json::object());
  FireActivityEvent(aspect, id, updates);
}

// ---- OAuth ------------------------------------------------------------------------

std::string Simulator::Impl::IssueTokens(unsigned scopes, bool with_athlete) {
  const std::string access = RandomHex(token_rng, 40), refresh = RandomHex(token_rng, 40);
  const int64_t expires_at = NowS() + options.token_lifetime_s;
  access_tokens[access] = AccessToken{scopes, expires_at};
  refresh_tokens[refresh] = scopes;
  Json j;
  j["token_type"] = "Bearer";
  j["expires_at"] = expires_at;
  j["expires_in"] = options.token_lifetime_s;
  j["refresh_token"] = refresh;
  j["access_token"] = access;
  if (with_athlete) j["athlete"] = AthleteJson(athlete, false);
  return j.dump();
}

Reply Simulator::Impl::Authorize(const httplib::Request& req) {
  const std::string client_id = Param(req, "client_id"), redirect = Param(req, "redirect_uri");
  if (!ParseInt(client_id)) return BadRequest("Application", "client_id");
  if (client_id != std::to_string(options.client_id)) {
    return JsonReply(403, FaultBody("Authorization Error", "Application", "internal", "forbidden"));
  }
  if (!redirect.starts_with("http://") && !redirect.starts_with("https://")) {
    return BadRequest("Application", "redirect_uri");
  }
  if (Param(req, "response_type") != "code") return BadRequest("Application", "response_type");
  const auto requested = ParseScopes(req.has_param("scope") ? Param(req, "scope") : "read");
  if (!requested) return BadRequest("Authorize", "scope");
  const std::string state = httplib::detail::encode_query_param(Param(req, "state"));
  const char sep = redirect.find('?') == std::string::npos ? '?' : '&';
  std::lock_guard lock(auth_mu);
  if (deny) return Reply{302, "", redirect + sep + "state=" + state + "&error=access_denied"};
  const unsigned granted = *requested & grantable;
  const std::string code = RandomHex(token_rng, 40);
  codes[code] = granted;
  return Reply{302, "", redirect + sep + "state=" + state + "&code=" + code + "&scope=" + FormatScopes(granted)};
}

// client_id then client_secret, as Strava checks them (§7 bodies).
std::optional<Reply> Simulator::Impl::CheckClient(const httplib::Request& req) {
  if (Param(req, "client_id") != std::to_string(options.client_id)) return BadRequest("Application", "client_id");
  if (Param(req, "client_secret") != options.client_secret) return Unauthorized("Application", "", "invalid");
  return std::nullopt;
}

Reply Simulator::Impl::Token(const httplib::Request& req) {
  if (auto bad = CheckClient(req)) return *bad;
  const std::string grant = Param(req, "grant_type");
  std::lock_guard lock(auth_mu);
  if (grant == "authorization_code") {
    auto it = codes.find(Param(req, "code"));
    if (it == codes.end()) return BadRequest("AuthorizationCode", "code");
    const unsigned scopes = it->second;
    codes.erase(it);  // single use
    athlete_scopes = scopes;
    authorized = true;
    return JsonReply(200, IssueTokens(scopes, true));
  }
  if (grant == "refresh_token") {
    auto it = refresh_tokens.find(Param(req, "refresh_token"));
    if (it == refresh_tokens.end()) return BadRequest("RefreshToken", "refresh_token");
    const unsigned scopes = it->second;
    refresh_tokens.erase(it);  // rotation: the old refresh token dies at once (§11)
    return JsonReply(200, IssueTokens(scopes, false));
  }
  return BadRequest("Application", "grant_type");
}

// The Bearer header, else the access_token parameter (stravalib sends that).
std::string AccessTokenOf(const httplib::Request& req) {
  const std::string header = req.get_header_value("Authorization");
  if (header.size() > 7 && strncasecmp(header.c_str(), "Bearer ", 7) == 0) return header.substr(7);
  return req.has_param("access_token") ? req.get_param_value("access_token") : "";
}

std::variant<unsigned, Reply> Simulator::Impl::Authenticate(const httplib::Request& req) {
  const std::string token = AccessTokenOf(req);
  std::lock_guard lock(auth_mu);
  auto it = access_tokens.find(token);
  if (it == access_tokens.end() || it->second.expires_at <= NowS()) {
    return Unauthorized("Athlete", "access_token", "invalid");
  }
  return it->second.scopes;
}

void Simulator::Impl::DeauthorizeAthlete() {
  std::string url;
  Json event;
  {
    std::lock_guard lock(auth_mu);
    access_tokens.clear();
    refresh_tokens.clear();
    codes.clear();
    const bool was_authorized = authorized;
    authorized = false;
    if (!subscription || !was_authorized) return;
    url = subscription->callback_url;
    event["aspect_type"] = "update";
    event["event_time"] = NowS();
    event["object_id"] = athlete;
    event["object_type"] = "athlete";
    event["owner_id"] = athlete;
    event["subscription_id"] = subscription->id;
    event["updates"] = Json{{"authorized", "false"}};
  }
  webhooks.Enqueue(url, event.dump());
}

Reply Simulator::Impl::Deauthorize(const httplib::Request& req) {
  auto auth = Authenticate(req);
  if (auto* error = std::get_if<Reply>(&auth)) return *error;
  DeauthorizeAthlete();
  return JsonReply(200, Json{{"access_token", AccessTokenOf(req)}}.dump());
}

// ---- API -----------------------------------------------------------------------------

std::optional<FaultKind> Simulator::Impl::NextFault() {
  if (!queued_faults.empty()) {
    const FaultKind kind = queued_faults.front();
    queued_faults.pop_front();
    return kind;
  }
  if (faults.rate <= 0 || faults.kinds.empty() || fault_rng.Unit() >= faults.rate) return std::nullopt;
  return faults.kinds[static_cast<size_t>(fault_rng.Range(0, static_cast<int64_t>(faults.kinds.size()) - 1))];
}

bool Simulator::Impl::SleepUnlessStopped(int ms) {
  std::unique_lock lock(stop_mu);
  return !stop_cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping; });
}

Simulator::Impl::Admission Simulator::Impl::Admit(const httplib::Request& req) {
  Admission a;
  std::lock_guard lock(stats_mu);
  ++stats.api_requests;
  ++stats.by_endpoint[EndpointKey(req.method, req.path)];
  const int64_t now = NowUs();
  a.verdict = buckets.Count(req.method == "GET" || req.method == "HEAD", now);
  const RateUsage u = buckets.Usage(now);
  a.headers = {{"X-Ratelimit-Limit", buckets.LimitHeader()},
               {"X-Ratelimit-Usage", RateBuckets::UsageHeader(u.overall_15min, u.overall_daily)},
               {"X-Readratelimit-Limit", buckets.ReadLimitHeader()},
               {"X-Readratelimit-Usage", RateBuckets::UsageHeader(u.read_15min, u.read_daily)}};
  a.inactive = faults.inactive;
  a.slow_ms = faults.slow_ms;
  if (a.verdict != RateVerdict::kAllowed) ++stats.rate_limited;
  if (a.verdict == RateVerdict::kAllowed && !a.inactive && (a.fault = NextFault())) ++stats.faults;
  return a;
}

void Simulator::Impl::Api(const httplib::Request& req, httplib::Response& res) {
  const Admission a = Admit(req);
  for (const auto& [name, value] : a.headers) res.set_header(name, value);
  if (a.verdict != RateVerdict::kAllowed) {
    const char* field = a.verdict == RateVerdict::kReadExceeded ? "read rate limit" : "rate limit";
    return Send(res, JsonReply(429, FaultBody("Rate Limit Exceeded", "Application", field, "exceeded")));
  }
  if (a.inactive) return Send(res, JsonReply(403, FaultBody("Forbidden", "Application", "status", "inactive")));
  const std::optional<FaultKind> fault = a.fault;
  if (fault == FaultKind::kHttp500) return Send(res, JsonReply(500, R"({"message":"error"})"));
  if (fault == FaultKind::kHttp502) return Send(res, JsonReply(502, R"({"message":"Bad Gateway"})"));
  if (fault == FaultKind::kHttp503) return Send(res, JsonReply(503, R"({"message":"Service Unavailable"})"));
  if (fault == FaultKind::kReset && ResetConnection(req, port)) return Send(res, JsonReply(500, "{}"));
  if (fault == FaultKind::kSlow && !SleepUnlessStopped(a.slow_ms)) {
    return Send(res, JsonReply(503, R"({"message":"Service Unavailable"})"));
  }
  Reply reply = Route(req);
  if (fault != FaultKind::kTruncate) return Send(res, std::move(reply));
  // Content-Length of the whole body, then half of it and a closed connection.
  res.status = reply.status;
  auto body = std::make_shared<std::string>(std::move(reply.body));
  const size_t cut = body->size() / 2;
  res.set_content_provider(body->size(), kJsonType, [body, cut](size_t offset, size_t length, httplib::DataSink& sink) {
    if (offset >= cut) return false;
    sink.write(body->data() + offset, std::min(length, cut - offset));
    return true;
  });
}

Reply Simulator::Impl::Route(const httplib::Request& req) {
  const std::string& path = req.path;
  const std::string& method = req.method;
  constexpr std::string_view kActivities = "/api/v3/activities/", kSubs = "/api/v3/push_subscriptions";
  if (path.starts_with(kSubs)) {
    if (path == kSubs && method == "POST") return CreateSubscription(req);
    if (path == kSubs && method == "GET") return ViewSubscription(req);
    if (path.size() > kSubs.size() + 1 && path[kSubs.size()] == '/' && method == "DELETE")
      return DeleteSubscription(req);
    return JsonReply(404, R"({"message":"Resource Not Found"})");
  }
  const bool known = method == "GET" && (path == "/api/v3/athlete" || path == "/api/v3/athlete/activities" ||
                                         (path.starts_with(kActivities) && path.size() > kActivities.size()));
  if (!known) return JsonReply(404, FaultBody("Record Not Found", "resource", "path", "invalid"));
  auto auth = Authenticate(req);
  if (auto* error = std::get_if<Reply>(&auth)) return *error;
  const unsigned scopes = std::get<unsigned>(auth);
  if (path == "/api/v3/athlete") return JsonReply(200, AthleteJson(athlete, true).dump());
  if (!(scopes & (kActivityRead | kActivityReadAll))) {
    return Unauthorized("AccessToken", "activity:read_permission", "missing");
  }
  if (path.starts_with(kActivities)) return GetActivity(path.substr(kActivities.size()), scopes);
  Reply error;
  std::string page = ListPage(req, scopes, error);
  return error.status != 200 ? error : JsonReply(200, std::move(page));
}

Reply Simulator::Impl::CreateSubscription(const httplib::Request& req) {
  if (auto bad = CheckClient(req)) return *bad;
  const std::string callback = Param(req, "callback_url"), verify = Param(req, "verify_token");
  if (callback.empty() || callback.size() > 255 || !SplitUrl(callback)) {
    return BadRequest("PushSubscription", "callback url");
  }
  if (verify.empty()) return BadRequest("PushSubscription", "verify token");
  std::string challenge;
  {
    std::lock_guard lock(auth_mu);
    if (subscription) return BadRequest("PushSubscription", "", "already exists");
    challenge = RandomHex(token_rng, 32);
  }
  // The validation GET runs without locks: the callback may call us back.
  if (!ValidateCallback(callback, verify, challenge, options.webhooks.timeout_ms)) {
    return BadRequest("PushSubscription", "callback url", "GET to callback URL does not return 200");
  }
  std::lock_guard lock(auth_mu);
  if (subscription) return BadRequest("PushSubscription", "", "already exists");
  subscription = Subscription{next_subscription_id++, callback, FormatIso(NowS())};
  return JsonReply(201, Json{{"id", subscription->id}}.dump());
}

Reply Simulator::Impl::ViewSubscription(const httplib::Request& req) {
  if (auto bad = CheckClient(req)) return *bad;
  std::lock_guard lock(auth_mu);
  Json list = Json::array();
  if (subscription) {
    list.push_back(Json{{"id", subscription->id},
                        {"resource_state", 2},
                        {"application_id", options.client_id},
                        {"callback_url", subscription->callback_url},
                        {"created_at", subscription->created_at},
                        {"updated_at", subscription->created_at}});
  }
  return JsonReply(200, list.dump());
}

Reply Simulator::Impl::DeleteSubscription(const httplib::Request& req) {
  if (auto bad = CheckClient(req)) return *bad;
  const auto id = ParseInt(req.path.substr(req.path.rfind('/') + 1));
  std::lock_guard lock(auth_mu);
  if (!subscription || !id || *id != subscription->id) return JsonReply(404, R"({"message":"Resource Not Found"})");
  subscription.reset();
  return JsonReply(204, "");
}

// ---- admin ------------------------------------------------------------------------------

Reply ErrorReply(const Error& e) {
  const int status = e.code == ErrorCode::kNotFound ? 404 : e.code == ErrorCode::kConflict ? 409 : 400;
  return JsonReply(status, Json{{"error", e.message}}.dump());
}

Reply Simulator::Impl::AdminFaults(const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return JsonReply(400, R"({"error":"body must be a JSON object"})");
  std::lock_guard lock(stats_mu);
  FaultOptions next = faults;
  std::vector<FaultKind> queue;
  for (const char* key : {"kinds", "next"}) {
    if (!j.contains(key)) continue;
    std::vector<FaultKind> kinds;
    for (const auto& name : j[key]) {
      auto kind = name.is_string() ? ParseFaultKind(name.get<std::string>()) : ParseFaultKind("");
      if (!kind) return ErrorReply(kind.error());
      kinds.push_back(*kind);
    }
    (std::string_view(key) == "kinds" ? next.kinds : queue) = kinds;
  }
  next.rate = j.value("rate", next.rate);
  next.slow_ms = j.value("slow_ms", next.slow_ms);
  next.inactive = j.value("inactive", next.inactive);
  if (j.contains("seed")) fault_rng = SplitMix(next.seed = j["seed"].get<uint64_t>());
  faults = next;
  queued_faults.insert(queued_faults.end(), queue.begin(), queue.end());
  Json kinds = Json::array();
  for (FaultKind k : faults.kinds) kinds.push_back(FaultKindName(k));
  return JsonReply(200, Json{{"rate", faults.rate},
                             {"kinds", kinds},
                             {"slow_ms", faults.slow_ms},
                             {"inactive", faults.inactive},
                             {"queued", queued_faults.size()}}
                            .dump());
}

Reply Simulator::Impl::AdminGrant(const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return JsonReply(400, R"({"error":"body must be a JSON object"})");
  std::lock_guard lock(auth_mu);
  if (j.contains("scopes")) {
    const auto scopes = j["scopes"].is_string() ? ParseScopes(j["scopes"].get<std::string>()) : std::nullopt;
    if (!scopes) return JsonReply(400, R"({"error":"unknown scope"})");
    grantable = *scopes;
  }
  deny = j.value("deny", deny);
  return JsonReply(200, Json{{"scopes", FormatScopes(grantable)}, {"deny", deny}}.dump());
}

std::string Simulator::Impl::StatsJson() {
  std::lock_guard lock(stats_mu);
  const RateUsage u = buckets.Usage(NowUs());
  Json by = Json::object();
  for (const auto& [key, n] : stats.by_endpoint) by[key] = n;
  Json j;
  j["api_requests"] = stats.api_requests;
  j["rate_limited"] = stats.rate_limited;
  j["faults"] = stats.faults;
  j["oauth_requests"] = stats.oauth_requests;
  j["by_endpoint"] = by;
  j["usage"] = Json{{"overall", {u.overall_15min, u.overall_daily}}, {"read", {u.read_15min, u.read_daily}}};
  return j.dump();
}

std::string Simulator::Impl::WebhookLogJson() const {
  Json list = Json::array();
  for (const WebhookDelivery& d : webhooks.Log()) {
    Json attempts = Json::array();
    for (const WebhookAttempt& a : d.attempts) {
      attempts.push_back(Json{{"status", a.status}, {"error", a.error}, {"elapsed_ms", a.elapsed_ms}});
    }
    list.push_back(Json{{"id", d.id},
                        {"callback_url", d.callback_url},
                        {"body", d.body},
                        {"delivered", d.delivered},
                        {"pending", d.pending},
                        {"attempts", attempts}});
  }
  return list.dump();
}

Reply Simulator::Impl::Admin(const httplib::Request& req) {
  try {
    return AdminRoute(req);
  } catch (const nlohmann::json::exception& e) {
    return JsonReply(400, Json{{"error", std::string("bad JSON field: ") + e.what()}}.dump());
  }
}

Reply Simulator::Impl::AdminRoute(const httplib::Request& req) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  constexpr std::string_view kOne = "/_sim/activities/";
  if (p == "/_sim/activities" && m == "GET") return JsonReply(200, AllActivities());
  if (p == "/_sim/activities" && m == "POST") {
    auto created = Create(req.body);
    return created ? JsonReply(201, *created) : ErrorReply(created.error());
  }
  if (p.starts_with(kOne) && (m == "PUT" || m == "DELETE")) {
    const auto id = ParseInt(p.substr(kOne.size()));
    if (!id) return JsonReply(404, R"({"error":"bad id"})");
    if (m == "DELETE") {
      auto deleted = Delete(*id);
      return deleted ? JsonReply(204, "") : ErrorReply(deleted.error());
    }
    auto updated = Update(*id, req.body);
    return updated ? JsonReply(200, *updated) : ErrorReply(updated.error());
  }
  if (p == "/_sim/deauthorize" && m == "POST") {
    DeauthorizeAthlete();
    return JsonReply(200, R"({"deauthorized":true})");
  }
  if (p == "/_sim/faults" && m == "POST") return AdminFaults(req.body);
  if (p == "/_sim/grant" && m == "POST") return AdminGrant(req.body);
  if (p == "/_sim/tokens" && m == "POST") {
    const Json j = Json::parse(req.body, nullptr, false);
    const auto scopes = ParseScopes(j.is_object() ? j.value("scopes", options.scopes) : options.scopes);
    if (!scopes) return JsonReply(400, R"({"error":"unknown scope"})");
    std::lock_guard lock(auth_mu);
    return JsonReply(200, IssueTokens(*scopes, false));
  }
  if (p == "/_sim/events" && m == "POST") {
    std::string url;
    {
      std::lock_guard lock(auth_mu);
      if (!subscription) return JsonReply(409, R"({"error":"no subscription"})");
      url = subscription->callback_url;
    }
    return JsonReply(202, Json{{"delivery_id", webhooks.Enqueue(url, req.body)}}.dump());
  }
  if (p == "/_sim/webhook-log" && m == "GET") return JsonReply(200, WebhookLogJson());
  if (p == "/_sim/stats" && m == "GET") return JsonReply(200, StatsJson());
  if (p == "/_sim/stats/reset" && m == "POST") {
    std::lock_guard lock(stats_mu);
    stats = SimStats{};
    return JsonReply(200, R"({"reset":true})");
  }
  return JsonReply(404, R"({"error":"unknown admin endpoint"})");
}

// ---- dispatch ---------------------------------------------------------------------------

void Simulator::Impl::Send(httplib::Response& res, Reply reply) {
  res.status = reply.status;
  if (!reply.location.empty()) res.set_header("Location", reply.location);
  if (reply.body.empty()) return;
  res.body = std::move(reply.body);  // a page is 400 KB: move, don't copy
  res.set_header("Content-Type", kJsonType);
}

void Simulator::Impl::Handle(const httplib::Request& req, httplib::Response& res) {
  const std::string& p = req.path;
  if (p.starts_with("/_sim/")) return Send(res, Admin(req));
  const bool token_path = p == "/oauth/token" || p == "/api/v3/oauth/token";
  const bool authorize_path =
      p == "/oauth/authorize" || p == "/oauth/mobile/authorize" || p == "/api/v3/oauth/authorize";
  if (token_path || authorize_path || p.starts_with("/oauth/")) {  // no rate-limit headers, never counted
    {
      std::lock_guard lock(stats_mu);
      ++stats.oauth_requests;
    }
    if (authorize_path && req.method == "GET") return Send(res, Authorize(req));
    if (token_path && req.method == "POST") return Send(res, Token(req));
    if ((p == "/oauth/deauthorize" || p == "/oauth/revoke") && req.method == "POST") return Send(res, Deauthorize(req));
    return Send(res, JsonReply(404, R"({"message":"Not Found"})"));
  }
  if (p.starts_with("/api/v3/")) return Api(req, res);
  Send(res, JsonReply(404, R"({"message":"Not Found"})"));
}

// ---- public ---------------------------------------------------------------------------

Result<FaultKind> ParseFaultKind(std::string_view name) {
  if (name == "500") return FaultKind::kHttp500;
  if (name == "502") return FaultKind::kHttp502;
  if (name == "503") return FaultKind::kHttp503;
  if (name == "slow") return FaultKind::kSlow;
  if (name == "reset") return FaultKind::kReset;
  if (name == "truncate") return FaultKind::kTruncate;
  return Fail(ErrorCode::kInvalidArgument, "unknown fault kind '" + std::string(name) + "'");
}

std::string_view FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kHttp500:
      return "500";
    case FaultKind::kHttp502:
      return "502";
    case FaultKind::kHttp503:
      return "503";
    case FaultKind::kSlow:
      return "slow";
    case FaultKind::kReset:
      return "reset";
    case FaultKind::kTruncate:
      return "truncate";
  }
  return "?";
}

Simulator::Simulator(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Simulator::~Simulator() { Stop(); }

Status Simulator::Start() {
  Impl& s = *impl_;
  if (s.started) return Fail(ErrorCode::kInternal, "already started");
  if (!(s.options.window_scale > 0)) return Fail(ErrorCode::kInvalidArgument, "window scale must be > 0");
  const auto scopes = ParseScopes(s.options.scopes);
  if (!scopes) return Fail(ErrorCode::kInvalidArgument, "unknown scope in '" + s.options.scopes + "'");
  s.grantable = s.athlete_scopes = *scopes;
  s.deny = s.options.deny_authorization;
  s.refresh_tokens[s.options.refresh_token] = *scopes;
  if (auto loaded = s.Load(); !loaded) return loaded;

  const int threads = std::max(4, s.options.threads);
  s.server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.server.set_tcp_nodelay(true);
  // httplib's default adds SO_REUSEPORT, which lets a second simulator bind
  // the same port and silently share its connections.
  s.server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.server.set_keep_alive_max_count(1000000);
  s.server.set_keep_alive_timeout(5);
  s.server.set_payload_max_length(64u << 20);
  s.server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(R"({"message":"error"})", kJsonType);
  });
  auto handler = [&s](const httplib::Request& req, httplib::Response& res) { s.Handle(req, res); };
  s.server.Get(".*", handler).Post(".*", handler).Put(".*", handler).Delete(".*", handler).Patch(".*", handler);
  s.port = s.options.port == 0 ? s.server.bind_to_any_port(s.options.host)
                               : (s.server.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1);
  if (s.port <= 0)
    return Fail(ErrorCode::kIo, "cannot listen on " + s.options.host + ":" + std::to_string(s.options.port));
  s.webhooks.Start();
  s.server_thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so wait for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s.server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  s.started = true;
  return Ok();
}

uint16_t Simulator::port() const { return static_cast<uint16_t>(impl_->port); }

std::string Simulator::base_url() const {
  const std::string& h = impl_->options.host;
  const std::string host = h.find(':') != std::string::npos ? "[" + h + "]" : h;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

void Simulator::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.stop_mu);
    s.stopping = true;
  }
  s.stop_cv.notify_all();
  if (s.server_thread.joinable()) {
    s.server.stop();
    s.server_thread.join();
  }
  s.webhooks.Stop();
}

Result<std::string> Simulator::CreateActivity(const std::string& partial_json) { return impl_->Create(partial_json); }
Result<std::string> Simulator::UpdateActivity(int64_t id, const std::string& partial_json) {
  return impl_->Update(id, partial_json);
}
Status Simulator::DeleteActivity(int64_t id) { return impl_->Delete(id); }
std::string Simulator::ActivitiesJson() const { return impl_->AllActivities(); }
size_t Simulator::ActivityCount() const {
  std::shared_lock lock(impl_->data_mu);
  return impl_->entries.size();
}
int64_t Simulator::athlete_id() const { return impl_->athlete; }
void Simulator::Deauthorize() { impl_->DeauthorizeAthlete(); }

std::string Simulator::MintAccessToken(const std::string& scopes) {
  std::lock_guard lock(impl_->auth_mu);
  const std::string access = RandomHex(impl_->token_rng, 40);
  impl_->access_tokens[access] = AccessToken{ParseScopes(scopes).value_or(0), NowS() + impl_->options.token_lifetime_s};
  return access;
}

void Simulator::SetFaults(const FaultOptions& faults) {
  std::lock_guard lock(impl_->stats_mu);
  impl_->faults = faults;
  impl_->fault_rng = SplitMix(faults.seed);
}

void Simulator::QueueFaults(const std::vector<FaultKind>& kinds) {
  std::lock_guard lock(impl_->stats_mu);
  impl_->queued_faults.insert(impl_->queued_faults.end(), kinds.begin(), kinds.end());
}

Result<int64_t> Simulator::SendEvent(const std::string& raw_body) {
  std::string url;
  {
    std::lock_guard lock(impl_->auth_mu);
    if (!impl_->subscription) return Fail(ErrorCode::kNotFound, "no subscription");
    url = impl_->subscription->callback_url;
  }
  return impl_->webhooks.Enqueue(url, raw_body);
}

std::vector<WebhookDelivery> Simulator::WebhookLog() const { return impl_->webhooks.Log(); }

SimStats Simulator::Stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

void Simulator::ResetStats() {
  std::lock_guard lock(impl_->stats_mu);
  impl_->stats = SimStats{};
}

}  // namespace dl::sim
