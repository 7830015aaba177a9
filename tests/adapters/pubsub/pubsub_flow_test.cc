// The rest of the Pub/Sub transport against the real emulator (the shared
// one of this executable): the inserters -> aggregators signal and the dead
// letters of `events`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/pubsub/aggregation_signal.h"
#include "adapters/pubsub/dead_letters.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "emulator.h"

namespace dl::adapters::pubsub {
namespace {

using testing::SharedEmulator;
using testing::UniqueId;

using namespace std::chrono_literals;

core::WebhookEvent Event(int64_t owner, int64_t object, std::string aspect = "create") {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = object;
  e.aspect_type = std::move(aspect);
  e.owner_id = owner;
  e.subscription_id = 9;
  e.event_time = 1'700'000'000;
  return e;
}

class FixedClock : public ports::Clock {
 public:
  TimePoint Now() const override { return TimePoint{std::chrono::seconds(1'700'000'000)}; }
  bool SleepUntil(TimePoint) override { return false; }
};

class PubSubEmulatorFlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_error_ = SharedEmulator().Start(); }
  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "Pub/Sub emulator unavailable: " << start_error_;
    client_.emplace(PubSubOptions{.project_id = "dl-test", .endpoint = SharedEmulator().endpoint()});
  }

  // Pulls `sub` until something arrives or 20 s passed.
  std::vector<ReceivedMessage> PullSome(const std::string& sub) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = client_->Pull(sub, 10, /*return_immediately=*/true);
      EXPECT_TRUE(got) << got.error().message;
      if (!got || !got->empty()) return got ? *got : std::vector<ReceivedMessage>{};
    }
    return {};
  }

  static inline std::string start_error_;
  std::optional<PubSubClient> client_;
};

TEST_F(PubSubEmulatorFlow, AggregationSignalCarriesTheNoteAndIsAckedOnlyWhenDone) {
  PubSubAggregationSignalOptions options{
      .topic = UniqueId("aggregates"), .subscription = UniqueId("aggregator"), .retry_delay_s = 2};
  ASSERT_TRUE(client_->CreateTopic(options.topic));
  ASSERT_TRUE(client_->CreateSubscription(options.topic, options.subscription,
                                          {.ack_deadline_s = 600, .enable_message_ordering = true}));
  const std::string raw = UniqueId("raw");
  ASSERT_TRUE(client_->CreateSubscription(options.topic, raw, {.ack_deadline_s = 600}));
  PubSubAggregationSignal signal(*client_, options);
  const std::vector<core::WebhookEvent> applied{Event(42, 1000, "update")};
  ASSERT_TRUE(signal.Publish(applied));

  auto messages = PullSome(raw);  // the message itself
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(messages[0].data),
            (nlohmann::json{{"athlete_id", 42}, {"object_id", 1000}, {"aspect", "update"}}));
  EXPECT_EQ(messages[0].ordering_key, "");  // wake-ups need no order
  EXPECT_EQ(messages[0].attributes["correlation_id"], DedupKeyHash(applied[0]));

  auto received = signal.Wait(20s);
  ASSERT_TRUE(received) << received.error().message;
  ASSERT_EQ(received->count, 1);
  ASSERT_TRUE(signal.Again(*received));
  // Again with a 2 s delay: nothing now; then it comes back.
  auto soon = signal.Wait(0ms);
  ASSERT_TRUE(soon);
  EXPECT_EQ(soon->count, 0);
  auto again = signal.Wait(30s);
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_EQ(again->count, 1) << "a failed aggregation's signal is delivered again";
  ASSERT_TRUE(signal.Done(*again));
  auto after = signal.Wait(300ms);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->count, 0) << "an acknowledged signal is gone";
}

TEST_F(PubSubEmulatorFlow, InterruptEndsAWaitAtOnce) {
  PubSubAggregationSignalOptions options{.topic = UniqueId("aggregates"), .subscription = UniqueId("aggregator")};
  ASSERT_TRUE(client_->CreateTopic(options.topic));
  ASSERT_TRUE(client_->CreateSubscription(options.topic, options.subscription, {.ack_deadline_s = 60}));
  PubSubAggregationSignal signal(*client_, options);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    auto r = signal.Wait(60s);
    EXPECT_TRUE(r && r->count == 0);
    returned = true;
  });
  const auto started = std::chrono::steady_clock::now();
  signal.Interrupt();
  waiter.join();
  EXPECT_TRUE(returned);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

// An event that keeps failing is dead-lettered by the inserter after its
// max attempts (8 here, beyond the subscription's policy of 5: the queue
// carries the count over instead of letting the emulator's ordered policy
// fire); `events --failed` lists it and leaves it there, `--retry
// MESSAGE_ID` puts it back in front of the inserters.
TEST_F(PubSubEmulatorFlow, AnEventDeadLetteredAfterMaxAttemptsIsListedAndReDriven) {
  PubSubEventQueueOptions q;
  q.topic = UniqueId("events");
  q.subscription = UniqueId("inserter");
  q.dead_letter_topic = UniqueId("dead");
  const std::string dead_sub = UniqueId("dead-sub");
  ASSERT_TRUE(client_->CreateTopic(q.topic));
  ASSERT_TRUE(client_->CreateTopic(q.dead_letter_topic));
  // As `desirelines pubsub setup` creates it.
  ASSERT_TRUE(client_->CreateSubscription(q.topic, q.subscription,
                                          {.ack_deadline_s = 600, .enable_message_ordering = true,
                                           .dead_letter_topic = q.dead_letter_topic, .max_delivery_attempts = 5}));
  ASSERT_TRUE(client_->CreateSubscription(q.dead_letter_topic, dead_sub, {.ack_deadline_s = 600}));
  FixedClock clock;
  PubSubEventQueue queue(*client_, clock, q);
  const core::WebhookEvent event = Event(77, 2000);
  ASSERT_TRUE(queue.EnqueueBatch(std::vector<core::WebhookEvent>{event}, 1'700'000'000));

  // A failing inserter with max_attempts 8: Retry at once, then DeadLetter.
  constexpr int kMaxAttempts = 8;
  std::vector<int> attempts;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((attempts.empty() || attempts.back() < kMaxAttempts) && std::chrono::steady_clock::now() < deadline) {
    auto claimed = queue.Claim(10, 1'700'000'000, 120);
    ASSERT_TRUE(claimed) << claimed.error().message;
    for (const auto& c : *claimed) {
      attempts.push_back(c.attempts);
      ASSERT_TRUE(c.attempts >= kMaxAttempts ? queue.DeadLetter(c.seq, "HTTP 503 from Strava", 1'700'000'000)
                                             : queue.Retry(c.seq, "HTTP 503 from Strava", 1'700'000'000));
    }
  }
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  auto source = client_->Pull(q.subscription, 10, /*return_immediately=*/true);
  ASSERT_TRUE(source) << "the subscription still works: " << source.error().message;
  EXPECT_TRUE(source->empty());

  DeadLetters dead_letters(*client_, {.subscription = dead_sub, .events_topic = q.topic});
  std::vector<DeadLetterMessage> listed;
  const auto list_deadline = std::chrono::steady_clock::now() + 20s;
  while (listed.empty() && std::chrono::steady_clock::now() < list_deadline) {
    auto got = dead_letters.List(10);
    ASSERT_TRUE(got) << got.error().message;
    listed = *got;
  }
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_TRUE(listed[0].event.has_value());
  EXPECT_EQ(*listed[0].event, event);
  EXPECT_EQ(listed[0].received_at, 1'700'000'000);
  EXPECT_EQ(listed[0].error, "HTTP 503 from Strava");
  auto still = dead_letters.List(10);  // listing leaves them in place
  ASSERT_TRUE(still) << still.error().message;
  ASSERT_EQ(still->size(), 1u);
  EXPECT_EQ((*still)[0].message_id, listed[0].message_id);

  auto unknown = dead_letters.Redrive(std::string("no-such-id"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto moved = dead_letters.Redrive(listed[0].message_id);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, 1);
  auto empty = dead_letters.List(10);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty()) << "a re-driven dead letter is acknowledged";

  // The inserters get the original event again, with a fresh delivery count.
  std::vector<ports::QueuedEvent> back;
  const auto back_deadline = std::chrono::steady_clock::now() + 20s;
  while (back.empty() && std::chrono::steady_clock::now() < back_deadline) {
    auto claimed = queue.Claim(10, 1'700'000'000, 120);
    ASSERT_TRUE(claimed) << claimed.error().message;
    back = *claimed;
  }
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].event, event);
  EXPECT_EQ(back[0].attempts, 1);
  const int64_t seq = back[0].seq;
  ASSERT_TRUE(queue.Ack(std::span<const int64_t>(&seq, 1)));
}

TEST_F(PubSubEmulatorFlow, RedriveAllMovesEveryDeadLetterAnInserterGaveUpOn) {
  PubSubEventQueueOptions q;
  q.topic = UniqueId("events");
  q.subscription = UniqueId("inserter");
  q.dead_letter_topic = UniqueId("dead");
  const std::string dead_sub = UniqueId("dead-sub");
  ASSERT_TRUE(client_->CreateTopic(q.topic));
  ASSERT_TRUE(client_->CreateTopic(q.dead_letter_topic));
  ASSERT_TRUE(client_->CreateSubscription(q.topic, q.subscription,
                                          {.ack_deadline_s = 600, .enable_message_ordering = true}));
  ASSERT_TRUE(client_->CreateSubscription(q.dead_letter_topic, dead_sub, {.ack_deadline_s = 600}));
  FixedClock clock;
  PubSubEventQueue queue(*client_, clock, q);
  ASSERT_TRUE(queue.EnqueueBatch(std::vector<core::WebhookEvent>{Event(5, 1), Event(6, 2)}, 1'700'000'000));
  int dead = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (dead < 2 && std::chrono::steady_clock::now() < deadline) {
    auto claimed = queue.Claim(10, 1'700'000'000, 120);
    ASSERT_TRUE(claimed);
    for (const auto& c : *claimed) {
      ASSERT_TRUE(queue.DeadLetter(c.seq, "forbidden: missing scope", 1'700'000'000));
      ++dead;
    }
  }
  ASSERT_EQ(dead, 2);
  DeadLetters dead_letters(*client_, {.subscription = dead_sub, .events_topic = q.topic});
  std::vector<DeadLetterMessage> listed;
  const auto list_deadline = std::chrono::steady_clock::now() + 20s;
  while (listed.size() < 2 && std::chrono::steady_clock::now() < list_deadline) {
    auto got = dead_letters.List(10);
    ASSERT_TRUE(got);
    listed = *got;
  }
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].error, "forbidden: missing scope");
  auto moved = dead_letters.Redrive(std::nullopt);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, 2);
  std::vector<ports::QueuedEvent> back;
  const auto back_deadline = std::chrono::steady_clock::now() + 20s;
  while (back.size() < 2 && std::chrono::steady_clock::now() < back_deadline) {
    auto claimed = queue.Claim(10, 1'700'000'000, 120);
    ASSERT_TRUE(claimed);
    back.insert(back.end(), claimed->begin(), claimed->end());
  }
  ASSERT_EQ(back.size(), 2u);
}

}  // namespace
}  // namespace dl::adapters::pubsub
