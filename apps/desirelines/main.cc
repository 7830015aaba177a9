// desirelines: your Strava history in a database you own, and your year's
// desire lines. A table of subcommands; each lives in cmd_*.cc.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "runtime.h"

namespace {

constexpr const char* kFooter = R"(Exit codes:
  0  done
  1  errors (some activities or events failed; see the messages)
  2  usage or configuration error
  3  stopped by the daily rate limit or a fault; resumable: run the same command again

Configuration: a TOML file (--config, $DESIRELINES_CONFIG or ./desirelines.toml), then
environment (STRAVA_CLIENT_ID, STRAVA_CLIENT_SECRET, STRAVA_REFRESH_TOKEN, STRAVA_API_URL,
STRAVA_OAUTH_URL, DESIRELINES_DATA_DIR, ...), then flags, each overriding the one before.)";

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"desirelines: your Strava history in a database you own, and your year's desire lines"};
    app.footer(kFooter);
    app.require_subcommand(1);
    app.set_version_flag("--version", "desirelines 0.1.0");
    dl::cli::CommonFlags common;
    std::vector<std::pair<CLI::App*, dl::cli::CommandRunner>> table;
    auto add = [&](dl::cli::CommandRunner (*fn)(CLI::App&, dl::cli::CommonFlags&)) {
      size_t before = app.get_subcommands({}).size();
      auto runner = fn(app, common);
      auto subs = app.get_subcommands({});
      if (subs.size() > before) table.emplace_back(subs.back(), std::move(runner));
    };
    add(&dl::cli::AddBackfillCommand);
    add(&dl::cli::AddAggregateCommand);
    add(&dl::cli::AddAuthCommand);
    add(&dl::cli::AddStatusCommand);
    add(&dl::cli::AddMigrateCommand);
    add(&dl::cli::AddServeCommand);
    add(&dl::cli::AddReplayCommand);
    add(&dl::cli::AddSubscriptionCommand);
    add(&dl::cli::AddEventsCommand);
    add(&dl::cli::AddPubSubCommand);
    for (auto& [sub, runner] : table) sub->footer(kFooter);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      int code = app.exit(e);
      return code == 0 ? 0 : dl::cli::kExitUsage;
    }
    dl::cli::InstallSignalHandlers();
    for (auto& [sub, runner] : table) {
      if (sub->parsed()) return runner();
    }
    return dl::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "desirelines: internal error: %s\n", e.what());
    return dl::cli::kExitErrors;
  }
}
