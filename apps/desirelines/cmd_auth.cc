// desirelines auth: the OAuth authorization-code flow on a loopback port.
// desirelines status: what the store holds (never a secret).
#include <sys/random.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <CLI/CLI.hpp>

#include "app/auth.h"
#include "app/strava_session.h"
#include "commands.h"
#include "http/server.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct AuthFlags {
  int port = 0;
  int timeout_s = 600;
};

// 128 bits from the kernel's CSPRNG, as hex: the OAuth state (CSRF). An
// error, never a predictable state, when the kernel cannot give them.
Result<std::string> RandomState() {
  unsigned char bytes[16] = {};
  size_t have = 0;
  while (have < sizeof bytes) {
    const ssize_t got = ::getrandom(bytes + have, sizeof bytes - have, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      return Fail(ErrorCode::kInternal, std::string("no random bytes for the OAuth state: ") + std::strerror(errno));
    have += static_cast<size_t>(got);
  }
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<std::string> code = Fail(ErrorCode::kInternal, "no redirect yet");
};

int RunAuth(const AuthFlags& flags, const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  if (config->client_id.empty() || config->client_secret.empty()) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "STRAVA_CLIENT_ID and STRAVA_CLIENT_SECRET are required"},
                       common.json);
  }
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto store = OpenStore(*config, *categories);
  if (!store) return ReportError(store.error(), common.json);

  auto random_state = RandomState();
  if (!random_state) return ReportError(random_state.error(), common.json);
  const std::string state = *random_state;
  auto outcome = std::make_shared<Outcome>();
  auto router = std::make_shared<http::Router>();
  router->Add("GET", "/callback", [outcome, state](const http::Request& req) {
    if (!app::RedirectHasState(req.query, state)) {  // not Strava's answer to this flow: keep waiting
      return http::Response::Error(400, "this is not the redirect of the running authorization; ignored");
    }
    auto code = app::CheckAuthorizationRedirect(req.query, state);
    bool ok = code.has_value();
    {
      std::lock_guard lock(outcome->mu);
      if (!outcome->done) {
        outcome->code = std::move(code);
        outcome->done = true;
      }
    }
    outcome->cv.notify_all();
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.status = ok ? 200 : 400;
    r.body = ok ? "<!doctype html><title>desirelines</title><p>Authorized. You can close this tab and return to the terminal.</p>"
                : "<!doctype html><title>desirelines</title><p>Authorization failed; see the terminal.</p>";
    return r;
  });
  http::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = static_cast<uint16_t>(flags.port);
  http::Server server(so, router);
  if (auto s = server.Start(); !s) return ReportError(s.error(), common.json);
  std::string redirect = "http://127.0.0.1:" + std::to_string(server.port()) + "/callback";
  std::string url = app::BuildAuthorizeUrl(config->oauth_url, config->client_id, redirect, state);
  if (common.json) {
    std::printf("{\"authorize_url\":\"%s\",\"redirect_uri\":\"%s\"}\n", JsonEscape(url).c_str(),
                JsonEscape(redirect).c_str());
  } else {
    std::printf("Open this URL in a browser, approve access (keep 'View data about your private activities' ticked):\n\n  %s\n\nWaiting for Strava's redirect on %s ...\n",
                url.c_str(), redirect.c_str());
  }
  std::fflush(stdout);
  {
    std::unique_lock lock(outcome->mu);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(flags.timeout_s);
    while (!outcome->done && !StopFlag().load() && std::chrono::steady_clock::now() < deadline) {
      outcome->cv.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
  server.Stop();
  if (!outcome->done) {
    return ReportError(Error{ErrorCode::kUnauthorized, "no redirect arrived; nothing was stored"}, common.json);
  }
  if (!outcome->code) return ReportError(outcome->code.error(), common.json);

  auto clock = MakeSystemClock();
  auto api = MakeStravaApi(*config);
  app::SessionOptions opts;
  opts.windows.window_scale = config->rate_window_scale;
  app::StravaSession session(*api, **store, **store, *clock, opts, nullptr);
  auto tokens = session.ExchangeCode(*outcome->code);
  if (!tokens) return ReportError(tokens.error(), common.json);
  if (common.json) {
    std::printf("{\"ok\":true,\"athlete_id\":%lld,\"scope\":\"%s\"}\n", static_cast<long long>(tokens->athlete_id),
                JsonEscape(tokens->scope).c_str());
  } else {
    std::printf("Authorized athlete %lld; tokens stored in %s (readable by you only).\nNext: desirelines backfill --years %d\n",
                static_cast<long long>(tokens->athlete_id), StoreUrlForDisplay(*config).c_str(),
                static_cast<int>(TodayFor(*clock, std::nullopt).year()));
  }
  return kExitOk;
}

int RunStatus(const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  if (!StoreExists(*config)) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "no store at " + config->StoreUrl() + " yet"}, common.json);
  }
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto store = OpenStore(*config, *categories);
  if (!store) return ReportError(store.error(), common.json);
  auto version = (*store)->SchemaVersion();
  auto athletes = (*store)->AthletesWithTokens();
  if (!version || !athletes) return ReportError(!version ? version.error() : athletes.error(), common.json);
  auto budget = (*store)->UpdateRateBudget([](core::RateBudgetState&) {});
  if (!budget) return ReportError(budget.error(), common.json);
  std::string ids;
  for (auto a : *athletes) ids += (ids.empty() ? "" : ",") + std::to_string(a);
  if (common.json) {
    std::printf("{\"store\":\"%s\",\"schema_version\":%d,\"athletes\":[%s],\"rate_budget\":{\"read_used_15min\":%lld,"
                "\"read_limit_15min\":%lld,\"read_used_daily\":%lld,\"read_limit_daily\":%lld}}\n",
                JsonEscape(StoreUrlForDisplay(*config)).c_str(), *version, ids.c_str(),
                static_cast<long long>(budget->read_used_15min), static_cast<long long>(budget->read_limit_15min),
                static_cast<long long>(budget->read_used_daily), static_cast<long long>(budget->read_limit_daily));
  } else {
    std::printf("store:          %s (schema %d)\nathletes:       %s\nread budget:    %lld/%lld this window, %lld/%lld today\n",
                StoreUrlForDisplay(*config).c_str(), *version, ids.empty() ? "(none: run desirelines auth)" : ids.c_str(),
                static_cast<long long>(budget->read_used_15min), static_cast<long long>(budget->read_limit_15min),
                static_cast<long long>(budget->read_used_daily), static_cast<long long>(budget->read_limit_daily));
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddAuthCommand(CLI::App& parent, CommonFlags& common) {
  auto flags = std::make_shared<AuthFlags>();
  auto* sub = parent.add_subcommand("auth", "Authorize desirelines with Strava (OAuth): prints the URL to open, "
                                            "receives the redirect on a loopback port, stores the tokens");
  sub->add_option("--port", flags->port, "loopback port for the redirect (0: any free port)")->check(CLI::Range(0, 65535));
  sub->add_option("--timeout", flags->timeout_s, "seconds to wait for the redirect")->check(CLI::Range(1, 86400));
  AddCommonFlags(*sub, common);
  return [flags, &common] { return RunAuth(*flags, common); };
}

CommandRunner AddStatusCommand(CLI::App& parent, CommonFlags& common) {
  auto* sub = parent.add_subcommand("status", "Show the store, the athletes with tokens and the rate budget");
  AddCommonFlags(*sub, common);
  return [&common] { return RunStatus(common); };
}

}  // namespace dl::cli

namespace dl::cli {
namespace {

int RunMigrate(const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto store = OpenStore(*config, *categories, /*migrate=*/true);
  if (!store) return ReportError(store.error(), common.json);
  if (auto s = (*store)->Migrate(); !s) return ReportError(s.error(), common.json);
  auto version = (*store)->SchemaVersion();
  if (!version) return ReportError(version.error(), common.json);
  if (common.json) {
    std::printf("{\"ok\":true,\"schema_version\":%d}\n", *version);
  } else {
    std::printf("store schema is at version %d\n", *version);
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddMigrateCommand(CLI::App& parent, CommonFlags& common) {
  auto* sub = parent.add_subcommand("migrate", "Apply the store's pending schema migrations (PostgreSQL needs this "
                                               "explicitly; SQLite migrates on open)");
  AddCommonFlags(*sub, common);
  return [&common] { return RunMigrate(common); };
}

}  // namespace dl::cli
