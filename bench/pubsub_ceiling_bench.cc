// The Pub/Sub emulator's own ceiling, measured with the REST client the live
// pipeline uses (PubSubClient), to tell whether the emulator bounds the
// scale-out numbers of bench/scaleout_bench.sh. Per configuration, on a
// fresh topic + subscription (ordering keys like the pipeline's: one distinct
// "<owner>:<object>" key per message, event-shaped data and attributes):
//   publish   N messages in requests of 1 (as the dispatcher publishes one
//             webhook event) or of 100
//   consume   the N messages with K threads (each its own client), each
//             running what one inserter does per claimed batch on the Pub/Sub
//             transport (PubSubEventQueue::Claim, Inserter::Complete/Signal):
//               Pull(claim, return_immediately) -> ModifyAckDeadline(all, lease)
//               -> per message (one group each, distinct keys):
//                  Publish(1 aggregation signal, no key) -> Acknowledge(1)
//             i.e. everything but the Strava fetch and the store write.
//   pipeline  the Pub/Sub traffic of the whole pipeline at once, as in
//             scaleout_bench.sh: one dispatcher thread publishing requests of
//             8 (Intake's group commit under replay --concurrency 8), K
//             consumer threads as above (2 per inserter process) and one
//             aggregator thread (Pull(100) of the signals, then Acknowledge),
//             from the first publish until every event is acked.
// Prints messages/s, REST calls per message and REST calls/s; with
// PUBSUB_EMULATOR_PID (the emulator's java process) also the emulator's CPU
// share during each phase (100% = one core).
//
// Starts nothing: needs PUBSUB_EMULATOR_HOST (bench/pubsub_ceiling_bench.sh
// starts an emulator around it). Usage:
//   pubsub_ceiling_bench [--messages N] [--claim C] [--threads 1,2,3] [--pipeline 2,4,6] [--warmup N]
// Build with CMAKE_BUILD_TYPE=Release.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/pubsub/pubsub_client.h"

namespace {

namespace ps = dl::adapters::pubsub;
using Clock = std::chrono::steady_clock;

constexpr int32_t kLeaseS = 120;  // InserterOptions::lease_s
constexpr auto kConsumeDeadline = std::chrono::seconds(300);

struct Config {
  int messages = 2000;
  int claim = 16;  // InserterOptions::claim_batch (the default serve uses)
  std::vector<int> threads{1, 2, 3};
  // Consumer threads of the "pipeline shape" phases: 2 per inserter process
  // (INSERTER_THREADS of scaleout_bench.sh) for 1, 2 and 3 processes.
  std::vector<int> pipeline{2, 4, 6};
  int dispatch_batch = 8;  // replay --concurrency 8 through Intake's group commit
  int warmup = 500;        // messages through the emulator before measuring (its JIT)
  std::string project;
  std::string run_id;  // makes every topic of this run fresh
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pubsub_ceiling_bench: %s\n", what.c_str());
  std::exit(1);
}

ps::PubSubOptions ClientOptions(const Config& c) {
  ps::PubSubOptions o;
  o.project_id = c.project;
  o.endpoint = ps::DefaultEndpoint();
  return o;
}

// CPU seconds (user + system) of a process from /proc; -1 when unreadable.
double ProcessCpuS(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  if (pid.empty() || !std::getline(in, line)) return -1;
  // Fields after the command (which may hold spaces) start past the last ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuS() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Wall time and CPU use of one phase.
class Phase {
 public:
  Phase() : emu_pid_(std::getenv("PUBSUB_EMULATOR_PID") ? std::getenv("PUBSUB_EMULATOR_PID") : "") {
    emu0_ = ProcessCpuS(emu_pid_);
    self0_ = SelfCpuS();
    t0_ = Clock::now();
  }
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  // CPU of the phase in % of one core; -1 when not known.
  double EmulatorPct(double seconds) const {
    double now = ProcessCpuS(emu_pid_);
    return (emu0_ < 0 || now < 0) ? -1 : 100 * (now - emu0_) / seconds;
  }
  double SelfPct(double seconds) const { return 100 * (SelfCpuS() - self0_) / seconds; }

 private:
  std::string emu_pid_;
  double emu0_ = -1, self0_ = 0;
  Clock::time_point t0_;
};

struct Row {
  std::string what;
  int messages = 0;
  double seconds = 0;
  int64_t calls = 0;
  double emu_pct = -1, self_pct = 0;
  std::string note;
};

void PrintHeader() {
  std::printf("%-34s %6s %8s %10s %9s %8s %7s %6s  %s\n", "phase", "msgs", "seconds", "msgs/s", "calls/msg",
              "calls/s", "emu%cpu", "self%", "note");
}

void Print(const Row& r) {
  const double n = r.messages;
  char emu[16] = "-";
  if (r.emu_pct >= 0) std::snprintf(emu, sizeof emu, "%.0f", r.emu_pct);
  std::printf("%-34s %6d %8.2f %10.0f %9.2f %8.0f %7s %6.0f  %s\n", r.what.c_str(), r.messages, r.seconds,
              n / r.seconds, static_cast<double>(r.calls) / n, static_cast<double>(r.calls) / r.seconds, emu,
              r.self_pct, r.note.c_str());
  std::fflush(stdout);
}

// An event like PubSubEventQueue::EnqueueBatch publishes: EncodeEvent's JSON,
// its three attributes and the per-activity ordering key.
ps::Message EventMessage(int i, bool ordered) {
  const int64_t owner = 1000 + i % 5;
  const int64_t object = 9'000'000'000 + i;
  char data[256];
  std::snprintf(data, sizeof data,
                "{\"aspect_type\":\"create\",\"event_time\":%d,\"object_id\":%lld,\"object_type\":\"activity\","
                "\"owner_id\":%lld,\"subscription_id\":1,\"updates_json\":\"{}\"}",
                1'764'000'000 + i, static_cast<long long>(object), static_cast<long long>(owner));
  char hash[65];
  std::snprintf(hash, sizeof hash, "%064x", i);  // stands in for the SHA-256 hex of the dedup key
  ps::Message m;
  m.data = data;
  m.attributes = {{"dedup_key", hash}, {"correlation_id", hash}, {"received_at", "1764000000"}};
  if (ordered) m.ordering_key = std::to_string(owner) + ":" + std::to_string(object);
  return m;
}

// An aggregation signal like PubSubAggregationSignal::Publish (no key).
ps::Message SignalMessage(const ps::ReceivedMessage& event) {
  ps::Message m;
  m.data = "{\"aspect\":\"create\",\"athlete_id\":1000,\"object_id\":1}";
  auto it = event.attributes.find("correlation_id");
  m.attributes = {{"correlation_id", it == event.attributes.end() ? std::string() : it->second}};
  return m;
}

struct Names {
  std::string topic, subscription, signal_topic, signal_subscription;
};

// A fresh topic + subscription (and a signal topic with the aggregators'
// subscription, so that a signal costs the emulator what it costs in the
// pipeline: one stored copy).
Names Setup(ps::PubSubClient& client, const Config& c, const std::string& tag, bool ordered) {
  Names n{"ceil-" + tag + "-" + c.run_id, "ceil-" + tag + "-" + c.run_id + "-sub",
          "ceil-" + tag + "-" + c.run_id + "-sig", "ceil-" + tag + "-" + c.run_id + "-sig-sub"};
  ps::SubscriptionOptions events;
  events.ack_deadline_s = 60;
  events.enable_message_ordering = ordered;
  for (const auto& s : {client.CreateTopic(n.topic), client.CreateSubscription(n.topic, n.subscription, events),
                        client.CreateTopic(n.signal_topic),
                        client.CreateSubscription(n.signal_topic, n.signal_subscription)}) {
    if (!s) Die("setup of " + tag + ": " + s.error().message);
  }
  return n;
}

Row PublishAll(ps::PubSubClient& client, const Config& c, const Names& names, int batch, bool ordered) {
  Phase phase;
  int64_t calls = 0;
  for (int i = 0; i < c.messages; i += batch) {
    std::vector<ps::Message> chunk;
    for (int j = i; j < std::min(c.messages, i + batch); ++j) chunk.push_back(EventMessage(j, ordered));
    auto ids = client.Publish(names.topic, chunk);
    ++calls;
    if (!ids) Die("publish: " + ids.error().message);
  }
  const double s = phase.Seconds();
  return Row{"publish, batch " + std::to_string(batch) + (ordered ? ", ordered" : ", unordered"), c.messages, s,
             calls, phase.EmulatorPct(s), phase.SelfPct(s), ""};
}

// What one consumer thread saw.
struct ConsumerTally {
  int64_t pulls = 0, empty_pulls = 0, mads = 0, publishes = 0, acks = 0, errors = 0;
  std::vector<std::string> message_ids;
};

// One inserter's loop without the fetch and the store: see the file comment.
void ConsumeLoop(const Config& c, const Names& names, std::atomic<int>& acked, ConsumerTally& t) {
  ps::PubSubClient client(ClientOptions(c));
  const auto deadline = Clock::now() + kConsumeDeadline;
  while (acked.load() < c.messages && Clock::now() < deadline) {
    auto pulled = client.Pull(names.subscription, c.claim, /*return_immediately=*/true);
    ++t.pulls;
    if (!pulled) {
      ++t.errors;
      continue;
    }
    if (pulled->empty()) {
      ++t.empty_pulls;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // idle poll; not a synchronisation
      continue;
    }
    std::vector<std::string> ack_ids;
    for (const auto& m : *pulled) ack_ids.push_back(m.ack_id);
    ++t.mads;
    if (!client.ModifyAckDeadline(names.subscription, ack_ids, kLeaseS)) ++t.errors;
    for (const auto& m : *pulled) {
      ++t.publishes;
      if (!client.Publish(names.signal_topic, {SignalMessage(m)})) ++t.errors;
      ++t.acks;
      if (!client.Acknowledge(names.subscription, {m.ack_id})) {
        ++t.errors;
        continue;
      }
      t.message_ids.push_back(m.message_id);
      acked.fetch_add(1);
    }
  }
}

Row Consume(const Config& c, const Names& names, int threads, bool ordered) {
  std::atomic<int> acked{0};
  std::vector<ConsumerTally> tallies(static_cast<size_t>(threads));
  Phase phase;
  std::vector<std::thread> workers;
  for (auto& t : tallies) workers.emplace_back([&] { ConsumeLoop(c, names, acked, t); });
  for (auto& w : workers) w.join();
  const double s = phase.Seconds();
  ConsumerTally sum;
  std::set<std::string> distinct;
  for (const auto& t : tallies) {
    sum.pulls += t.pulls, sum.empty_pulls += t.empty_pulls, sum.mads += t.mads;
    sum.publishes += t.publishes, sum.acks += t.acks, sum.errors += t.errors;
    distinct.insert(t.message_ids.begin(), t.message_ids.end());
  }
  const int64_t full_pulls = sum.pulls - sum.empty_pulls;
  char note[200];
  std::snprintf(note, sizeof note, "pulls %lld (%lld empty, %.1f msgs/pull), redelivered %lld, errors %lld%s",
                static_cast<long long>(sum.pulls), static_cast<long long>(sum.empty_pulls),
                full_pulls > 0 ? static_cast<double>(sum.acks) / static_cast<double>(full_pulls) : 0.0,
                static_cast<long long>(acked.load()) - static_cast<long long>(distinct.size()),
                static_cast<long long>(sum.errors), acked.load() < c.messages ? ", TIMED OUT" : "");
  return Row{"consume, " + std::to_string(threads) + " thread(s)" + (ordered ? ", ordered" : ", unordered"),
             acked.load(), s, sum.pulls + sum.mads + sum.publishes + sum.acks, phase.EmulatorPct(s),
             phase.SelfPct(s), note};
}

// The aggregator's side: drains the signals until `stop`.
void DrainSignals(const Config& c, const Names& names, const std::atomic<bool>& stop, std::atomic<int64_t>& calls) {
  ps::PubSubClient client(ClientOptions(c));
  while (!stop.load()) {
    auto pulled = client.Pull(names.signal_subscription, 100, /*return_immediately=*/true);
    calls.fetch_add(1);
    if (!pulled || pulled->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // PubSubAggregationSignalOptions::poll
      continue;
    }
    std::vector<std::string> ids;
    for (const auto& m : *pulled) ids.push_back(m.ack_id);
    (void)client.Acknowledge(names.signal_subscription, ids);
    calls.fetch_add(1);
  }
}

Row PipelineShape(const Config& c, const Names& names, int consumers) {
  std::atomic<int> acked{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> side_calls{0};
  std::vector<ConsumerTally> tallies(static_cast<size_t>(consumers));
  Phase phase;
  std::atomic<double> dispatch_s{0};
  std::thread dispatcher([&] {
    ps::PubSubClient client(ClientOptions(c));
    const Phase own;
    for (int i = 0; i < c.messages; i += c.dispatch_batch) {
      std::vector<ps::Message> chunk;
      for (int j = i; j < std::min(c.messages, i + c.dispatch_batch); ++j) chunk.push_back(EventMessage(j, true));
      if (!client.Publish(names.topic, chunk)) Die("publish failed in the pipeline phase");
      side_calls.fetch_add(1);
    }
    dispatch_s = own.Seconds();
  });
  std::thread aggregator([&] { DrainSignals(c, names, stop, side_calls); });
  std::vector<std::thread> workers;
  for (auto& t : tallies) workers.emplace_back([&] { ConsumeLoop(c, names, acked, t); });
  for (auto& w : workers) w.join();
  const double s = phase.Seconds();
  stop = true;
  dispatcher.join();
  aggregator.join();
  int64_t calls = side_calls.load(), pulls = 0, empty = 0;
  for (const auto& t : tallies) {
    calls += t.pulls + t.mads + t.publishes + t.acks;
    pulls += t.pulls, empty += t.empty_pulls;
  }
  char note[200];
  std::snprintf(note, sizeof note, "dispatcher done after %.2f s; consumer pulls %lld (%lld empty, %.1f msgs/pull)%s",
                dispatch_s.load(), static_cast<long long>(pulls), static_cast<long long>(empty),
                pulls > empty ? acked.load() / static_cast<double>(pulls - empty) : 0.0,
                acked.load() < c.messages ? ", TIMED OUT" : "");
  return Row{"pipeline shape, " + std::to_string(consumers) + " consumers", acked.load(), s, calls,
             phase.EmulatorPct(s), phase.SelfPct(s), note};
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

Config ParseArgs(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Die("usage: pubsub_ceiling_bench [--messages N] [--claim C] [--threads 1,2,3] [--pipeline 2,4,6] [--warmup N]");
    if (a == "--messages") c.messages = std::stoi(argv[++i]);
    else if (a == "--claim") c.claim = std::stoi(argv[++i]);
    else if (a == "--threads") c.threads = ParseList(argv[++i]);
    else if (a == "--pipeline") c.pipeline = ParseList(argv[++i]);
    else if (a == "--warmup") c.warmup = std::stoi(argv[++i]);
    else Die("unknown argument " + a);
  }
  const char* host = std::getenv("PUBSUB_EMULATOR_HOST");
  if (host == nullptr || *host == '\0') Die("PUBSUB_EMULATOR_HOST is not set (bench/pubsub_ceiling_bench.sh starts one)");
  const char* project = std::getenv("PUBSUB_PROJECT_ID");
  c.project = project != nullptr && *project != '\0' ? project : "dl-ceiling";
  c.run_id = std::to_string(getpid()) + "-" +
             std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000'000);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Config c = ParseArgs(argc, argv);
  ps::PubSubClient admin(ClientOptions(c));
  std::printf("Pub/Sub emulator ceiling at %s: %d messages per phase, claim %d, lease %d s\n",
              admin.endpoint().c_str(), c.messages, c.claim, kLeaseS);
  if (c.warmup > 0) {  // not printed: the emulator's JIT warms up here
    Config w = c;
    w.messages = c.warmup;
    Names names = Setup(admin, w, "warm", true);
    (void)PublishAll(admin, w, names, 1, true);
    (void)Consume(w, names, 2, true);
  }
  PrintHeader();
  for (bool ordered : {true, false}) {
    for (int threads : c.threads) {
      std::string tag = ordered ? "o" : "u";  // appended, not operator+: g++ 12 warns falsely (-Wrestrict)
      tag += std::to_string(threads);
      Names names = Setup(admin, c, tag, ordered);
      // The backlog of the first consume run is published one by one (the
      // dispatcher's shape), the others' in requests of 100.
      const int batch = threads == c.threads.front() ? 1 : 100;
      Print(PublishAll(admin, c, names, batch, ordered));
      Print(Consume(c, names, threads, ordered));
    }
  }
  for (int consumers : c.pipeline) {
    std::string tag = "p";  // appended: see above
    tag += std::to_string(consumers);
    Names names = Setup(admin, c, tag, true);
    Print(PipelineShape(c, names, consumers));
  }
  return 0;
}
