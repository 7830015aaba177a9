// The subcommands of `desirelines`: each registers its flags on CLI11 and
// returns the exit code when run. main.cc holds the table.
#pragma once

#include <functional>
#include <memory>

namespace CLI {
class App;
}

namespace dl::cli {

struct CommonFlags;

// Registers a subcommand on `parent`; the returned callback runs it.
using CommandRunner = std::function<int()>;
CommandRunner AddBackfillCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddAggregateCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddAuthCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddStatusCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddReplayCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddServeCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddMigrateCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddSubscriptionCommand(CLI::App& parent, CommonFlags& common);
CommandRunner AddEventsCommand(CLI::App& parent, CommonFlags& common);  // cmd_events.cc
CommandRunner AddPubSubCommand(CLI::App& parent, CommonFlags& common);  // cmd_pubsub.cc

}  // namespace dl::cli

namespace dl::cli {
// --config, --data-dir, --store, --json, --verbose on a subcommand.
void AddCommonFlags(CLI::App& sub, CommonFlags& common);
}  // namespace dl::cli
