// The strava-sim command line (CLI11), kept in the library so it is tested.
#include <chrono>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "sim/simulator.h"

namespace dl::sim {
namespace {

std::optional<int64_t> ToInt(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t used = 0;
  try {
    const long long v = std::stoll(s, &used);
    return used == s.size() ? std::optional<int64_t>(v) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "A<sep>B" -> {A, B}.
std::optional<std::pair<int64_t, int64_t>> ParsePair(const std::string& text, char sep) {
  const size_t at = text.find(sep, 1);
  if (at == std::string::npos) return std::nullopt;
  const auto a = ToInt(text.substr(0, at)), b = ToInt(text.substr(at + 1));
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

Status ApplyListen(const std::string& listen, SimOptions& o) {
  const size_t colon = listen.rfind(':');
  const auto port = colon == std::string::npos ? std::nullopt : ToInt(listen.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535 || colon == 0) {
    return Fail(ErrorCode::kInvalidArgument, "--listen wants HOST:PORT, got '" + listen + "'");
  }
  o.host = listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = static_cast<uint16_t>(*port);
  return Ok();
}

Status ApplyPairs(const std::string& rate, const std::string& read_rate, const std::string& years, SimOptions& o) {
  const auto overall = ParsePair(rate, ','), read = ParsePair(read_rate, ','), span = ParsePair(years, '-');
  if (!overall || overall->first < 0 || overall->second < 0) {
    return Fail(ErrorCode::kInvalidArgument, "--rate-limit wants 15MIN,DAILY, got '" + rate + "'");
  }
  if (!read || read->first < 0 || read->second < 0) {
    return Fail(ErrorCode::kInvalidArgument, "--read-rate-limit wants 15MIN,DAILY, got '" + read_rate + "'");
  }
  if (!span || span->first > span->second || span->first < 1970 || span->second > 9999) {
    return Fail(ErrorCode::kInvalidArgument, "--years wants FIRST-LAST, got '" + years + "'");
  }
  o.limits = RateLimits{overall->first, overall->second, read->first, read->second};
  o.generate.first_year = static_cast<int>(span->first);
  o.generate.last_year = static_cast<int>(span->second);
  return Ok();
}

Status ApplyFaultKinds(const std::string& kinds, SimOptions& o) {
  o.faults.kinds.clear();
  size_t pos = 0;
  while (pos < kinds.size()) {
    size_t end = kinds.find(',', pos);
    if (end == std::string::npos) end = kinds.size();
    auto kind = ParseFaultKind(kinds.substr(pos, end - pos));
    if (!kind) return std::unexpected(kind.error());
    o.faults.kinds.push_back(*kind);
    pos = end + 1;
  }
  return Ok();
}

}  // namespace

Result<ParsedArgs> ParseSimArgs(int argc, const char* const* argv) {
  ParsedArgs out;
  SimOptions& o = out.options;
  CLI::App app{
      "strava-sim: a simulator of the Strava API v3 for tests, benchmarks and demos.\n"
      "Prints 'listening on http://HOST:PORT' first; stops on SIGTERM/SIGINT.",
      "strava-sim"};
  app.option_defaults()->always_capture_default();
  std::string listen = "127.0.0.1:0", rate = "200,2000", read_rate = "100,1000", years = "2019-2025";
  std::string kinds = "500,502,503,slow,reset,truncate";
  app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free one");
  app.add_option("--client-id", o.client_id, "The application's client id");
  app.add_option("--client-secret", o.client_secret, "The application's client secret");
  app.add_option("--refresh-token", o.refresh_token, "The athlete's first refresh token");
  app.add_option("--scopes", o.scopes, "Scopes the athlete grants");
  app.add_flag("--deny-authorization", o.deny_authorization, "/oauth/authorize answers error=access_denied");
  app.add_option("--athlete-id", o.athlete_id, "Athlete id of generated data");
  app.add_option("--token-lifetime-s", o.token_lifetime_s, "Access token lifetime")->check(CLI::PositiveNumber);
  app.add_option("--rate-limit", rate, "Overall limit: 15MIN,DAILY");
  app.add_option("--read-rate-limit", read_rate, "Read (non-upload) limit: 15MIN,DAILY");
  app.add_option("--window-scale", o.window_scale, "Windows last 1/S as long (900: a 15-minute window is 1 s)")
      ->check(CLI::PositiveNumber);
  auto* file = app.add_option("--activities", o.activities_file, "Serve this JSON array of SummaryActivity objects");
  auto* seed =
      app.add_option("--generate", o.generate.seed, "Generate a deterministic athlete from SEED (the default)");
  file->excludes(seed);
  app.add_option("--years", years, "FIRST-LAST calendar years to generate");
  app.add_option("--per-year", o.generate.per_year, "Generated activities per year")->check(CLI::Range(0, 1000000));
  std::string until;
  app.add_option("--until", until, "Leave out generated activities after this time: now, or epoch seconds");
  app.add_option("--fault-rate", o.faults.rate, "Probability that an /api/v3 request is faulted")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--faults", kinds, "Fault kinds: 500,502,503,slow,reset,truncate");
  app.add_option("--fault-seed", o.faults.seed, "Seed of the fault RNG");
  app.add_option("--slow-ms", o.faults.slow_ms, "How long a 'slow' fault waits before answering");
  app.add_flag("--inactive", o.faults.inactive, "Every API call answers 403 inactive application");
  app.add_option("--webhook-timeout-ms", o.webhooks.timeout_ms,
                 "Deadline for a callback's 200 (and the validation GET)");
  app.add_option("--webhook-attempts", o.webhooks.attempts, "Delivery attempts in all")->check(CLI::Range(1, 100));
  app.add_option("--webhook-retry-delay-ms", o.webhooks.retry_delay_ms, "Pause before a retry");
  app.add_option("--threads", o.threads, "Server threads (one per kept-alive connection)")->check(CLI::Range(4, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.help = true;
    out.help_text = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    return Fail(ErrorCode::kInvalidArgument, e.what());
  }
  if (auto s = ApplyListen(listen, o); !s) return std::unexpected(s.error());
  if (auto s = ApplyPairs(rate, read_rate, years, o); !s) return std::unexpected(s.error());
  if (auto s = ApplyFaultKinds(kinds, o); !s) return std::unexpected(s.error());
  if (until == "now") {
    o.generate.until_epoch_s = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count();
  } else if (!until.empty()) {
    try {
      size_t used = 0;
      o.generate.until_epoch_s = std::stoll(until, &used);
      if (used != until.size() || o.generate.until_epoch_s <= 0) throw std::invalid_argument(until);
    } catch (const std::exception&) {
      return Fail(ErrorCode::kInvalidArgument, "--until must be 'now' or positive epoch seconds, got '" + until + "'");
    }
  }
  return out;
}

}  // namespace dl::sim
