// desirelines serve: webhook dispatcher, pipeline workers, data API and
// dashboard in one process (the embedded default), or one role of them.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>

#include "adapters/files/year_files.h"
#include "adapters/pubsub/aggregation_signal.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "app/backfill.h"
#include "app/intake.h"
#include "app/pipeline.h"
#include "commands.h"
#include "http/api/api.h"
#include "http/server.h"
#include "http/webhook/webhook_routes.h"
#include "pubsub_transport.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct ServeFlags {
  std::string listen;
  std::string webhook_path;
  std::string role = "all";
  std::string on_deauthorize;
  int inserters = 2;
  int http_workers = 16;
  std::string transport = "store";  // store | pubsub
  PubSubFlags pubsub;
};

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail(ErrorCode::kInvalidArgument, "listen address must be HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Fail(ErrorCode::kInvalidArgument, "bad port in '" + listen + "'");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

void Log(const std::string& line) {
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::fprintf(stderr, "%s %s\n", core::FormatIsoUtc(core::TimePoint{now.time_since_epoch()}).c_str(), line.c_str());
}

// The athlete's local "today": UTC shifted by the offset of their latest
// activity, looked up at most once a minute.
class TodayProvider {
 public:
  TodayProvider(ports::ActivityStore& store, const ports::Clock& clock) : store_(store), clock_(clock) {}
  core::Date operator()(int64_t athlete_id) {
    std::lock_guard lock(mu_);
    auto now = clock_.Now();
    auto& entry = cache_[athlete_id];
    if (now - entry.looked_up > std::chrono::minutes(1)) {
      entry.looked_up = now;
      entry.offset = app::LatestUtcOffset(store_, clock_, athlete_id);
    }
    return TodayFor(clock_, entry.offset);
  }

 private:
  struct Entry {
    ports::Clock::TimePoint looked_up{};
    std::optional<double> offset;
  };
  ports::ActivityStore& store_;
  const ports::Clock& clock_;
  std::mutex mu_;
  std::map<int64_t, Entry> cache_;
};

// Yearly files: the data directory for the embedded default's one athlete,
// DATA_DIR/athletes/<id> when the store holds several.
class Outputs {
 public:
  Outputs(std::string data_dir, ports::TokenStore& tokens) : data_dir_(std::move(data_dir)), tokens_(tokens) {}
  ports::YearOutput* For(int64_t athlete_id) {
    std::lock_guard lock(mu_);
    auto athletes = tokens_.AthletesWithTokens();
    bool single = athletes && (athletes->empty() || (athletes->size() == 1 && athletes->front() == athlete_id));
    std::string dir = single ? data_dir_ : data_dir_ + "/athletes/" + std::to_string(athlete_id);
    auto& slot = outputs_[dir];
    if (!slot) slot = std::make_unique<adapters::files::FileYearOutput>(dir);
    return slot.get();
  }

 private:
  std::string data_dir_;
  ports::TokenStore& tokens_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<adapters::files::FileYearOutput>> outputs_;
};

// The webhook's "do we hold tokens for this athlete?" check, answered from
// memory for athletes seen with tokens in the last minute. The store lookup
// waits for the store's lock, which a queue commit holds through its fsync:
// asking it for every event made each webhook wait for the commit before
// its own. Misses still ask the store (an athlete authorised a moment ago by
// `desirelines auth` is found at once). A cached athlete deauthorised since
// costs nothing: the inserter drops events of athletes without tokens.
class AthleteTokenCache {
 public:
  AthleteTokenCache(ports::TokenStore& tokens, const ports::Clock& clock) : tokens_(tokens), clock_(clock) {}
  Result<bool> Has(int64_t athlete_id) {
    const auto now = clock_.Now();
    {
      std::lock_guard lock(mu_);
      auto it = seen_.find(athlete_id);
      if (it != seen_.end() && now - it->second < std::chrono::minutes(1)) return true;
    }
    auto t = tokens_.LoadToken(athlete_id);
    if (!t) return std::unexpected(t.error());
    if (!t->has_value()) return false;
    std::lock_guard lock(mu_);
    if (seen_.size() > 100'000) seen_.clear();  // bounded
    seen_[athlete_id] = now;
    return true;
  }

 private:
  ports::TokenStore& tokens_;
  const ports::Clock& clock_;
  std::mutex mu_;
  std::map<int64_t, ports::Clock::TimePoint> seen_;  // guarded by mu_
};

int RunServe(const ServeFlags& f, const CommonFlags& common) {
  app::ConfigMap extra = common.extra;
  CommonFlags flags = common;
  if (!f.listen.empty()) flags.extra["serve.listen"] = f.listen;
  if (!f.webhook_path.empty()) flags.extra["serve.webhook_path"] = f.webhook_path;
  if (!f.on_deauthorize.empty()) flags.extra["pipeline.on_deauthorize"] = f.on_deauthorize;
  auto config = LoadConfig(flags);
  if (!config) return ReportError(config.error(), common.json);
  const std::set<std::string> roles = {"all", "dispatcher", "inserter", "aggregator", "api"};
  if (!roles.contains(f.role)) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "--role must be all, dispatcher, inserter, aggregator or api"},
                       common.json);
  }
  bool all = f.role == "all";
  bool dispatcher = all || f.role == "dispatcher", inserter = all || f.role == "inserter";
  bool aggregator = all || f.role == "aggregator", api = all || f.role == "api";
  auto listen = ParseListen(config->listen);
  if (!listen) return ReportError(listen.error(), common.json);
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto on_deauth = app::ParseOnDeauthorize(config->on_deauthorize);
  if (!on_deauth) return ReportError(on_deauth.error(), common.json);
  auto store_or = OpenStore(*config, *categories);
  if (!store_or) return ReportError(store_or.error(), common.json);
  ports::Store& store = **store_or;
  auto clock = MakeSystemClock();

  // The event queue: the store's own (default), or Pub/Sub (the store stays
  // the store). Pub/Sub acks after the effect commits (effects are
  // idempotent); Strava's retries are deduplicated through the store, so
  // across every dispatcher; inserters tell the aggregators through the
  // aggregates topic.
  ports::EventQueue* queue = &store;
  std::unique_ptr<adapters::pubsub::PubSubClient> pubsub_client;
  std::unique_ptr<adapters::pubsub::PubSubEventQueue> pubsub_queue;
  std::unique_ptr<adapters::pubsub::PubSubAggregationSignal> pubsub_signal;
  if (f.transport == "pubsub") {
    std::string credentials;
    auto client = MakePubSubClient(f.pubsub, &credentials);
    if (!client) return ReportError(client.error(), common.json);
    pubsub_client = std::move(*client);
    Log("Pub/Sub: " + credentials);
    adapters::pubsub::PubSubEventQueueOptions qo;
    qo.topic = f.pubsub.events_topic;
    qo.subscription = f.pubsub.inserter_subscription;
    qo.dead_letter_topic = f.pubsub.dead_letter_topic;
    qo.dedup = &store;
    pubsub_queue = std::make_unique<adapters::pubsub::PubSubEventQueue>(*pubsub_client, *clock, std::move(qo));
    queue = pubsub_queue.get();
    adapters::pubsub::PubSubAggregationSignalOptions so;
    so.topic = f.pubsub.aggregates_topic;
    so.subscription = f.pubsub.aggregator_subscription;
    pubsub_signal = std::make_unique<adapters::pubsub::PubSubAggregationSignal>(*pubsub_client, std::move(so));
  }

  // Workers.
  std::vector<std::unique_ptr<ports::StravaApi>> apis;
  int threads = inserter ? std::max(1, f.inserters) : 0;
  for (int i = 0; i < std::max(1, threads); ++i) apis.push_back(MakeStravaApi(*config));
  Outputs outputs(config->data_dir, store);
  TodayProvider today(store, *clock);
  app::PipelineOptions po;
  po.inserter_threads = threads;
  po.run_aggregator = aggregator;
  po.inserter.windows.window_scale = config->rate_window_scale;
  po.inserter.lease_s = config->lease_s;
  po.aggregator.lease_s = config->lease_s;
  po.inserter.on_deauthorize = *on_deauth;
  po.inserter.log = Log;
  po.inserter.store_acks_events = queue == &store;
  po.aggregator.today = [&today](int64_t athlete) { return today(athlete); };
  po.aggregator.log = Log;
  app::PipelinePorts pp{*queue, store, store, store, store, store, *clock,
                        [&apis](int i) -> ports::StravaApi& { return *apis[static_cast<size_t>(i)]; },
                        [&outputs](int64_t athlete) { return outputs.For(athlete); }, pubsub_signal.get()};
  std::unique_ptr<app::Pipeline> pipeline;
  if (inserter || aggregator) pipeline = std::make_unique<app::Pipeline>(pp, *categories, po);

  // Intake and routes.
  app::IntakeOptions io;
  io.on_queued = [&pipeline] {
    if (pipeline) pipeline->Wake();
  };
  std::unique_ptr<app::Intake> intake;
  AthleteTokenCache token_cache(store, *clock);
  if (dispatcher) intake = std::make_unique<app::Intake>(*queue, *clock, io);
  auto router = std::make_shared<http::Router>();
  http::webhook::WebhookContext wctx{
      http::webhook::WebhookOptions{config->webhook_path, config->verify_token, config->subscription_id, 16 * 1024},
      intake.get(),
      [&token_cache](int64_t owner) -> Result<bool> { return token_cache.Has(owner); },
      [&store] { return store.CheckWritable(); },
      [](std::string_view line) { Log(std::string(line)); }};
  if (dispatcher) {
    http::webhook::RegisterWebhookRoutes(*router, wctx);
  } else {
    router->Add("GET", "/healthz", [](const http::Request&) { return http::Response::Json(200, "{\"status\":\"ok\"}"); });
    router->Add("GET", "/readyz", [&store](const http::Request&) {
      return store.CheckWritable() ? http::Response::Json(200, "{\"status\":\"ready\"}")
                                   : http::Response::Error(503, "store not writable");
    });
  }
  http::api::ApiContext actx{
      store, store, *categories, *clock,
      [&store](const http::Request& req) -> Result<int64_t> {
        if (auto q = req.Query("athlete")) {
          // The whole text, digits only: "12abc", "1.5", " 12" or "-3" are
          // not some other athlete's id.
          int64_t id = 0;
          const auto [end, ec] = std::from_chars(q->data(), q->data() + q->size(), id);
          if (q->empty() || (*q)[0] == '+' || ec != std::errc{} || end != q->data() + q->size() || id <= 0) {
            return Fail(ErrorCode::kInvalidArgument, "athlete must be a positive integer id");
          }
          return id;
        }
        auto athletes = store.AthletesWithTokens();
        if (!athletes) return std::unexpected(athletes.error());
        if (athletes->size() != 1) {
          return Fail(ErrorCode::kNotFound, athletes->empty() ? "no athlete yet: run desirelines auth and backfill"
                                                              : "several athletes: add ?athlete=ID");
        }
        return athletes->front();
      },
      [&today](int64_t athlete, ports::Clock::TimePoint) { return today(athlete); },
      http::api::ApiOptions{config->write_token, config->cors_origins, config->data_dir}};
  if (api) http::api::RegisterApiRoutes(*router, actx);

  http::ServerOptions so;
  so.host = listen->first;
  so.port = listen->second;
  so.max_body_bytes = 16 * 1024;
  so.worker_threads = std::max(4, f.http_workers);
  so.request_deadline_ms = 1500;  // a slow client is cut off well within Strava's 2 s
  http::Server server(so, router);
  if (auto s = server.Start(); !s) return ReportError(s.error(), common.json);
  std::string base = "http://" + (so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host) + ":" +
                     std::to_string(server.port());
  std::printf("listening on %s\n", base.c_str());
  std::fflush(stdout);
  Log("serve (role " + f.role + ", transport " + f.transport + "): " + (dispatcher ? "webhook at " + config->webhook_path + ", " : std::string()) +
      (api ? "dashboard at " + base + "/, " : std::string()) + std::to_string(threads) + " inserter(s)" +
      (aggregator ? ", aggregator" : ""));
  if (pipeline) pipeline->Start();
  while (!StopFlag().load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Log("stopping: no new connections; finishing in-flight work");
  server.Stop();
  if (intake) intake->Shutdown();
  if (pipeline) pipeline->Stop();
  Log("stopped");
  return kExitOk;
}

}  // namespace

CommandRunner AddServeCommand(CLI::App& parent, CommonFlags& common) {
  auto f = std::make_shared<ServeFlags>();
  auto* sub = parent.add_subcommand("serve", "Run the webhook dispatcher, the pipeline workers, the data API and the "
                                             "dashboard (or one --role of them)");
  sub->add_option("--listen", f->listen, "HOST:PORT (default 127.0.0.1:8080; loopback unless configured)");
  sub->add_option("--webhook-path", f->webhook_path, "webhook path (default /webhook; use a hard-to-guess one)");
  sub->add_option("--role", f->role, "all (default), dispatcher, inserter, aggregator or api");
  sub->add_option("--inserters", f->inserters, "inserter threads (default 2)")->check(CLI::Range(1, 64));
  sub->add_option("--http-workers", f->http_workers, "HTTP handler threads (default 16)")->check(CLI::Range(4, 512));
  sub->add_option("--on-deauthorize", f->on_deauthorize, "delete (default) or keep the athlete's data");
  sub->add_option("--transport", f->transport,
                  "store (default: the store's embedded queue) or pubsub: webhook events to topic "
                  "desirelines-events, inserters pull subscription desirelines-inserter (ordering key = athlete; "
                  "dead letters to desirelines-dead-letters after 5 deliveries), inserters signal the aggregators "
                  "through topic desirelines-aggregates / subscription desirelines-aggregator; Strava's retries are "
                  "deduplicated through the store across every dispatcher. Create them with `desirelines pubsub "
                  "setup`. Credentials: PUBSUB_EMULATOR_HOST, else GOOGLE_APPLICATION_CREDENTIALS (key file, mode "
                  "0600), else the GCE metadata server")
      ->check(CLI::IsMember({"store", "pubsub"}));
  AddPubSubFlags(*sub, f->pubsub);
  AddCommonFlags(*sub, common);
  return [f, &common] { return RunServe(*f, common); };
}

}  // namespace dl::cli
