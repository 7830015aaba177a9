// desirelines replay: post synthetic `create` webhook events to a dispatcher
// at a set rate, to validate the pipeline (or to feed it what it missed).
// desirelines subscription create|view|delete: the Strava push subscription.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>

#include "adapters/sqlite/activity_keys.h"
#include "app/strava_session.h"
#include "commands.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct ReplayFlags {
  std::string dispatcher_url;
  int64_t subscription_id = 0;
  std::string ids_file;
  bool from_store = false;
  std::string start_date, end_date;
  std::string missing_from;
  int64_t limit = 0;
  double rate = 0.2;
  int concurrency = 1;
  bool dry_run = false;
};

struct Target {
  int64_t athlete_id = 0;
  int64_t id = 0;
  int64_t event_time = 0;
  std::string label;  // name and date when known
};

Result<std::vector<Target>> FromStore(ports::Store& store, std::optional<core::Date> start, std::optional<core::Date> end,
                                      int this_year) {
  auto athletes = store.AthletesWithTokens();
  if (!athletes) return std::unexpected(athletes.error());
  int first = start ? static_cast<int>(start->year()) : 2000;
  int last = end ? static_cast<int>(end->year()) : this_year;
  std::vector<Target> out;
  for (int64_t athlete : *athletes) {
    for (int y = first; y <= last; ++y) {
      auto acts = store.ActivitiesInLocalYear(athlete, y);
      if (!acts) return std::unexpected(acts.error());
      for (const auto& a : *acts) {
        auto d = a.LocalDate();
        if (!d) continue;
        if (start && std::chrono::sys_days{*d} < std::chrono::sys_days{*start}) continue;
        if (end && std::chrono::sys_days{*d} > std::chrono::sys_days{*end}) continue;
        auto t = a.StartUtc();
        out.push_back({athlete, a.id, t ? t->time_since_epoch().count() : 0,
                       a.name + " (" + a.start_date_local.substr(0, 10) + ")"});
      }
    }
  }
  return out;
}

Result<std::vector<Target>> FromIdsFile(ports::Store& store, const std::string& path, int64_t now) {
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kInvalidArgument, "cannot read --ids file " + path);
  auto athletes = store.AthletesWithTokens();
  if (!athletes) return std::unexpected(athletes.error());
  if (athletes->size() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "--ids needs exactly one athlete with tokens in the store");
  }
  std::vector<Target> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line.erase(0, line.find_first_not_of(" \t\r"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    int64_t id = 0;
    try {
      size_t used = 0;
      id = std::stoll(line, &used);
      if (used != line.size() || id <= 0) throw std::invalid_argument(line);
    } catch (const std::exception&) {
      return Fail(ErrorCode::kInvalidArgument, path + ":" + std::to_string(lineno) + ": not an activity id: '" + line + "'");
    }
    Target t{athletes->front(), id, now, ""};
    if (auto a = store.GetActivity(t.athlete_id, id); a && *a) {
      if (auto s = (*a)->StartUtc()) t.event_time = s->time_since_epoch().count();
      t.label = (*a)->name + " (" + (*a)->start_date_local.substr(0, 10) + ")";
    }
    out.push_back(t);
  }
  return out;
}

std::string EventJson(const Target& t, int64_t subscription_id) {
  return "{\"aspect_type\":\"create\",\"event_time\":" + std::to_string(t.event_time) +
         ",\"object_id\":" + std::to_string(t.id) + ",\"object_type\":\"activity\",\"owner_id\":" +
         std::to_string(t.athlete_id) + ",\"subscription_id\":" + std::to_string(subscription_id) + ",\"updates\":{}}";
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// POSTs one event; returns the HTTP status (0 when no answer) and an error.
std::pair<long, std::string> Post(CURL* curl, const std::string& url, const std::string& body) {
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string sink;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  return {status, rc == CURLE_OK ? "" : curl_easy_strerror(rc)};
}

struct PostCounts {
  int64_t ok = 0;
  int64_t errors = 0;
};

// Posts every target over `f.concurrency` connections (one thread and one
// libcurl handle each). The rate limit is global: event i is posted no
// earlier than start + i / rate, whichever connection takes it, so N
// connections only help when one alone cannot keep up with the rate (a
// connection that fell behind catches up without waiting). Stops taking
// events when StopFlag() is set; the counts then cover what was posted.
Result<PostCounts> PostAll(const std::vector<Target>& targets, const ReplayFlags& f, int64_t subscription,
                           ports::Clock& clock, const CommonFlags& common) {
  const size_t workers = std::min(static_cast<size_t>(f.concurrency), std::max<size_t>(1, targets.size()));
  std::vector<CURL*> handles;
  for (size_t w = 0; w < workers; ++w) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      for (CURL* h : handles) curl_easy_cleanup(h);
      return Fail(ErrorCode::kInternal, "libcurl failed to start");
    }
    handles.push_back(curl);
  }
  const auto interval =
      std::chrono::duration_cast<ports::Clock::TimePoint::duration>(std::chrono::duration<double>(1.0 / f.rate));
  const auto start = clock.Now();
  std::atomic<size_t> next{0};
  std::atomic<int64_t> ok{0}, errors{0};
  auto work = [&](CURL* curl) {
    for (;;) {
      if (StopFlag().load()) return;
      const size_t i = next.fetch_add(1);
      if (i >= targets.size()) return;
      if (!clock.SleepUntil(start + interval * static_cast<int64_t>(i))) return;
      const auto& t = targets[i];
      auto [status, error] = Post(curl, f.dispatcher_url, EventJson(t, subscription));
      bool good = status >= 200 && status < 300;
      good ? ++ok : ++errors;
      if (!common.json && (common.verbose || !good)) {
        std::fprintf(stderr, "%zu/%zu activity %lld: %s\n", i + 1, targets.size(), static_cast<long long>(t.id),
                     good ? std::to_string(status).c_str()
                          : (status ? "HTTP " + std::to_string(status) : error).c_str());
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, handles[w]);
    work(handles[0]);
  }  // joined here
  for (CURL* h : handles) curl_easy_cleanup(h);
  return PostCounts{ok.load(), errors.load()};
}

int RunReplay(const ReplayFlags& f, const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  int modes = (!f.ids_file.empty()) + (f.from_store ? 1 : 0) + (!f.missing_from.empty());
  if (modes != 1) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "choose one of --ids FILE, --from-store, --missing-from OTHER.db"},
                       common.json);
  }
  if (f.dispatcher_url.rfind("http://", 0) != 0 && f.dispatcher_url.rfind("https://", 0) != 0) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--dispatcher-url must be an http(s) URL"}, common.json);
  }
  if (f.concurrency < 1 || f.concurrency > 256) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--concurrency must be between 1 and 256"}, common.json);
  }
  if (!(f.rate > 0) || f.rate > 10000) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--rate-limit must be between 0 and 10000 requests/s"}, common.json);
  }
  std::optional<core::Date> start, end;
  if (!f.start_date.empty() && !(start = core::ParseDate(f.start_date))) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--start-date must be YYYY-MM-DD"}, common.json);
  }
  if (!f.end_date.empty() && !(end = core::ParseDate(f.end_date))) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--end-date must be YYYY-MM-DD"}, common.json);
  }
  int64_t subscription = f.subscription_id > 0 ? f.subscription_id : config->subscription_id;
  if (subscription <= 0) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--subscription-id (or STRAVA_SUBSCRIPTION_ID) is required"},
                       common.json);
  }
  if (!StoreExists(*config)) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "no store at " + config->StoreUrl()}, common.json);
  }
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto store = OpenStore(*config, *categories);
  if (!store) return ReportError(store.error(), common.json);
  auto clock = MakeSystemClock();
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(clock->Now().time_since_epoch()).count();
  int this_year = static_cast<int>(TodayFor(*clock, std::nullopt).year());

  Result<std::vector<Target>> targets = std::vector<Target>{};
  if (!f.ids_file.empty()) {
    targets = FromIdsFile(**store, f.ids_file, now);
  } else {
    targets = FromStore(**store, start, end, this_year);
    if (targets && !f.missing_from.empty()) {
      auto other = adapters::sqlite::ReadActivityKeys(f.missing_from);
      if (!other) return ReportError(other.error(), common.json);
      std::erase_if(*targets, [&](const Target& t) { return other->contains({t.athlete_id, t.id}); });
    }
  }
  if (!targets) return ReportError(targets.error(), common.json);
  if (f.limit > 0 && static_cast<int64_t>(targets->size()) > f.limit) targets->resize(static_cast<size_t>(f.limit));

  if (f.dry_run) {
    if (common.json) {
      std::printf("{\"ok\":true,\"dry_run\":true,\"count\":%zu,\"first\":[", targets->size());
      for (size_t i = 0; i < std::min<size_t>(10, targets->size()); ++i) {
        std::printf("%s%s", i ? "," : "", EventJson((*targets)[i], subscription).c_str());
      }
      std::printf("]}\n");
    } else {
      std::printf("%zu events would be posted to %s; the first ten:\n", targets->size(), f.dispatcher_url.c_str());
      for (size_t i = 0; i < std::min<size_t>(10, targets->size()); ++i) {
        const auto& t = (*targets)[i];
        std::printf("  athlete %lld activity %lld %s\n", static_cast<long long>(t.athlete_id),
                    static_cast<long long>(t.id), t.label.c_str());
      }
    }
    return kExitOk;
  }

  auto posted = PostAll(*targets, f, subscription, *clock, common);
  if (!posted) return ReportError(posted.error(), common.json);
  const int64_t ok = posted->ok, errors = posted->errors;
  bool interrupted = ok + errors < static_cast<int64_t>(targets->size());
  int code = errors > 0 ? kExitErrors : kExitOk;
  if (common.json) {
    std::printf("{\"ok\":%s,\"selected\":%zu,\"posted\":%lld,\"succeeded\":%lld,\"errors\":%lld,\"interrupted\":%s}\n",
                code == 0 ? "true" : "false", targets->size(), static_cast<long long>(ok + errors),
                static_cast<long long>(ok), static_cast<long long>(errors), interrupted ? "true" : "false");
  } else {
    std::printf("replay: %zu selected, %lld posted, %lld succeeded, %lld errors%s\n", targets->size(),
                static_cast<long long>(ok + errors), static_cast<long long>(ok), static_cast<long long>(errors),
                interrupted ? " (interrupted)" : "");
  }
  return code;
}

int RunSubscription(const std::string& action, const std::string& callback_url, int64_t id, const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  if (config->client_id.empty() || config->client_secret.empty()) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "STRAVA_CLIENT_ID and STRAVA_CLIENT_SECRET are required"},
                       common.json);
  }
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  app::Config store_config = *config;
  if (!StoreExists(*config)) store_config.store = "sqlite::memory:";  // the budget only
  auto store = OpenStore(store_config, *categories);
  if (!store) return ReportError(store.error(), common.json);
  auto clock = MakeSystemClock();
  auto api = MakeStravaApi(*config);
  app::SessionOptions so;
  so.windows.window_scale = config->rate_window_scale;
  app::StravaSession session(*api, **store, **store, *clock, so, nullptr);
  if (action == "create") {
    if (config->verify_token.empty()) {
      return ReportError(Error{ErrorCode::kInvalidArgument, "STRAVA_VERIFY_TOKEN (strava.verify_token) is required"},
                         common.json);
    }
    if (callback_url.rfind("http://", 0) != 0 && callback_url.rfind("https://", 0) != 0) {
      return ReportError(Error{ErrorCode::kInvalidArgument, "--callback-url must be an http(s) URL"}, common.json);
    }
    auto created = session.CreateSubscription(callback_url, config->verify_token);
    if (!created) return ReportError(created.error(), common.json);
    if (common.json) {
      std::printf("{\"ok\":true,\"id\":%lld}\n", static_cast<long long>(*created));
    } else {
      std::printf("subscription %lld created; set STRAVA_SUBSCRIPTION_ID=%lld for serve\n",
                  static_cast<long long>(*created), static_cast<long long>(*created));
    }
    return kExitOk;
  }
  auto subs = session.ListSubscriptions();
  if (!subs) return ReportError(subs.error(), common.json);
  if (action == "view") {
    if (common.json) {
      std::printf("{\"ok\":true,\"subscriptions\":[");
      for (size_t i = 0; i < subs->size(); ++i) {
        std::printf("%s{\"id\":%lld,\"callback_url\":\"%s\"}", i ? "," : "", static_cast<long long>((*subs)[i].id),
                    JsonEscape((*subs)[i].callback_url).c_str());
      }
      std::printf("]}\n");
    } else if (subs->empty()) {
      std::printf("no subscription\n");
    } else {
      for (const auto& s : *subs) std::printf("%lld %s\n", static_cast<long long>(s.id), s.callback_url.c_str());
    }
    return kExitOk;
  }
  // delete: the given id, or the application's only subscription.
  if (id == 0) {
    if (subs->empty()) return ReportError(Error{ErrorCode::kNotFound, "there is no subscription to delete"}, common.json);
    id = subs->front().id;
  }
  if (auto s = session.DeleteSubscription(id); !s) return ReportError(s.error(), common.json);
  if (common.json) {
    std::printf("{\"ok\":true,\"deleted\":%lld}\n", static_cast<long long>(id));
  } else {
    std::printf("subscription %lld deleted\n", static_cast<long long>(id));
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddReplayCommand(CLI::App& parent, CommonFlags& common) {
  auto f = std::make_shared<ReplayFlags>();
  auto* sub = parent.add_subcommand("replay", "Post synthetic `create` webhook events to a dispatcher at a set rate");
  sub->add_option("--dispatcher-url", f->dispatcher_url, "the webhook URL of a running serve")->required();
  sub->add_option("--subscription-id", f->subscription_id, "subscription id in the events (default: configured)");
  sub->add_option("--ids", f->ids_file, "file of activity ids, one per line");
  sub->add_flag("--from-store", f->from_store, "the activities in this store");
  sub->add_option("--start-date", f->start_date, "with --from-store/--missing-from: from this local date (YYYY-MM-DD)");
  sub->add_option("--end-date", f->end_date, "with --from-store/--missing-from: through this local date");
  sub->add_option("--missing-from", f->missing_from, "activities in this store that OTHER.db does not have");
  sub->add_option("--limit", f->limit, "at most N events")->check(CLI::PositiveNumber);
  sub->add_option("--rate-limit", f->rate, "requests per second (default 0.2)");
  sub->add_option("--concurrency", f->concurrency,
                  "connections posting in parallel (default 1); the --rate-limit stays global");
  sub->add_flag("--dry-run", f->dry_run, "list the first ten and the count; post nothing");
  AddCommonFlags(*sub, common);
  return [f, &common] { return RunReplay(*f, common); };
}

CommandRunner AddSubscriptionCommand(CLI::App& parent, CommonFlags& common) {
  auto action = std::make_shared<std::string>();
  auto callback = std::make_shared<std::string>();
  auto id = std::make_shared<int64_t>(0);
  auto* sub = parent.add_subcommand("subscription", "Manage the application's Strava push subscription");
  sub->require_subcommand(1);
  auto* create = sub->add_subcommand("create", "create it (Strava validates the callback within 2 s)");
  create->add_option("--callback-url", *callback, "the public URL of serve's webhook path")->required();
  create->callback([action] { *action = "create"; });
  auto* view = sub->add_subcommand("view", "show it");
  view->callback([action] { *action = "view"; });
  auto* del = sub->add_subcommand("delete", "delete it");
  del->add_option("--id", *id, "subscription id (default: the only one)");
  del->callback([action] { *action = "delete"; });
  for (auto* s : {sub, create, view, del}) AddCommonFlags(*s, common);
  return [action, callback, id, &common] { return RunSubscription(*action, *callback, *id, common); };
}

}  // namespace dl::cli
