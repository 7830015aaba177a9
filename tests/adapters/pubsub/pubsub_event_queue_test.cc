// PubSubEventQueue against the real Pub/Sub emulator. Listed before
// pubsub_client_test.cc in CMake so these run first: the emulator started
// here is exported through PUBSUB_EMULATOR_HOST, and the client tests'
// emulator then reuses it (one emulator start per executable).
#include "adapters/pubsub/pubsub_event_queue.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "emulator.h"

namespace dl::adapters::pubsub {
namespace {

testing::Emulator& QueueEmulator() {
  static testing::Emulator emulator;
  return emulator;
}

class StopQueueEmulator : public ::testing::Environment {
 public:
  void TearDown() override { QueueEmulator().Stop(); }
};
[[maybe_unused]] ::testing::Environment* const kStopQueueEmulator =
    ::testing::AddGlobalTestEnvironment(new StopQueueEmulator);

std::string UniqueId(const std::string& stem) {
  static std::atomic<int> counter{0};
  return stem + "-q" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

class FixedClock : public ports::Clock {
 public:
  TimePoint Now() const override { return TimePoint{std::chrono::seconds(now_s)}; }
  bool SleepUntil(TimePoint) override { return false; }
  int64_t now_s = 1'700'000'000;
};

core::WebhookEvent Event(int64_t owner, int64_t object, std::string aspect = "create", int64_t time = 1'700'000'000) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = object;
  e.aspect_type = std::move(aspect);
  e.owner_id = owner;
  e.subscription_id = 9;
  e.event_time = time;
  e.title = "Lunch ride";
  return e;
}

class PubSubEmulatorQueue : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_error_ = QueueEmulator().Start();
    if (start_error_.empty()) {
      // "http://HOST:PORT" -> HOST:PORT for the other tests of this executable.
      setenv("PUBSUB_EMULATOR_HOST", QueueEmulator().endpoint().substr(7).c_str(), 0);
    }
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "Pub/Sub emulator unavailable: " << start_error_;
    client_.emplace(PubSubOptions{.project_id = "dl-test", .endpoint = QueueEmulator().endpoint()});
    options_.topic = UniqueId("events");
    options_.subscription = UniqueId("inserter");
    options_.dead_letter_topic = UniqueId("dead");
    dead_sub_ = UniqueId("dead-sub");
    ASSERT_TRUE(client_->CreateTopic(options_.topic));
    ASSERT_TRUE(client_->CreateTopic(options_.dead_letter_topic));
    auto sub = client_->CreateSubscription(options_.topic, options_.subscription,
                                           {.ack_deadline_s = 600, .enable_message_ordering = true,
                                            .dead_letter_topic = options_.dead_letter_topic});
    ASSERT_TRUE(sub) << sub.error().message;
    ASSERT_TRUE(client_->CreateSubscription(options_.dead_letter_topic, dead_sub_, {.ack_deadline_s = 600}));
    queue_.emplace(*client_, clock_, options_);
  }

  // Claims until `count` events arrived or 20 s passed.
  std::vector<ports::QueuedEvent> ClaimAtLeast(size_t count) {
    std::vector<ports::QueuedEvent> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (all.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto got = queue_->Claim(10, clock_.now_s, 120);
      EXPECT_TRUE(got) << got.error().message;
      if (!got) break;
      all.insert(all.end(), got->begin(), got->end());
    }
    return all;
  }

  static inline std::string start_error_;
  FixedClock clock_;
  PubSubEventQueueOptions options_;
  std::string dead_sub_;
  std::optional<PubSubClient> client_;
  std::optional<PubSubEventQueue> queue_;
};

TEST_F(PubSubEmulatorQueue, EnqueuedEventIsClaimedOnceAndGoneAfterAck) {
  std::vector<core::WebhookEvent> events{Event(7, 100), Event(7, 100)};  // the second is Strava's retry
  auto outcomes = queue_->EnqueueBatch(events, clock_.now_s);
  ASSERT_TRUE(outcomes) << outcomes.error().message;
  EXPECT_EQ(*outcomes, (std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kQueued,
                                                           ports::EnqueueOutcome::kDuplicate}));
  auto claimed = ClaimAtLeast(1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].event, events[0]);
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_EQ(claimed[0].received_at, clock_.now_s);
  const int64_t seq = claimed[0].seq;
  ASSERT_TRUE(queue_->Ack(std::span<const int64_t>(&seq, 1)));
  // The 600 s deadline of the subscription is far beyond the test: only a
  // redelivery the queue caused could show up here.
  auto after = queue_->Claim(10, clock_.now_s, 120);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->empty());
}

TEST_F(PubSubEmulatorQueue, RetryAtNowRedeliversWithTheAttemptCounted) {
  ASSERT_TRUE(queue_->EnqueueBatch(std::vector<core::WebhookEvent>{Event(7, 200)}, clock_.now_s));
  auto first = ClaimAtLeast(1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(queue_->Retry(first[0].seq, "HTTP 503", clock_.now_s));
  auto again = ClaimAtLeast(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event, first[0].event);
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_NE(again[0].seq, first[0].seq);
  const int64_t seq = again[0].seq;
  ASSERT_TRUE(queue_->Ack(std::span<const int64_t>(&seq, 1)));
}

TEST_F(PubSubEmulatorQueue, DeadLetterPublishesTheEventWithItsErrorAndAcks) {
  ASSERT_TRUE(queue_->EnqueueBatch(std::vector<core::WebhookEvent>{Event(7, 300)}, clock_.now_s));
  auto claimed = ClaimAtLeast(1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(queue_->DeadLetter(claimed[0].seq, "forbidden: missing scope", clock_.now_s));
  std::vector<ReceivedMessage> dead;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (dead.empty() && std::chrono::steady_clock::now() < deadline) {
    auto got = client_->Pull(dead_sub_, 10, /*return_immediately=*/true);
    ASSERT_TRUE(got) << got.error().message;
    dead = *got;
  }
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].attributes["error"], "forbidden: missing scope");
  auto event = DecodeEvent(dead[0].data);
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(*event, claimed[0].event);
  auto after = queue_->Claim(10, clock_.now_s, 120);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->empty());
}

TEST_F(PubSubEmulatorQueue, OrderingKeyIsTheOwnerAndDedupKeyIsAnAttribute) {
  // Read the raw messages: a queue on the events topic with a second subscription.
  const std::string raw_sub = UniqueId("raw");
  ASSERT_TRUE(client_->CreateSubscription(options_.topic, raw_sub, {.ack_deadline_s = 600}));
  auto event = Event(4242, 400, "update");
  ASSERT_TRUE(queue_->EnqueueBatch(std::vector<core::WebhookEvent>{event}, clock_.now_s));
  std::vector<ReceivedMessage> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    auto pulled = client_->Pull(raw_sub, 10, /*return_immediately=*/true);
    ASSERT_TRUE(pulled) << pulled.error().message;
    got = *pulled;
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].ordering_key, "4242");
  EXPECT_EQ(got[0].attributes["dedup_key"], DedupKeyHash(event));
  EXPECT_EQ(got[0].attributes["correlation_id"], DedupKeyHash(event));
}

TEST_F(PubSubEmulatorQueue, QueueInspectionIsNotSupportedOnThisTransport) {
  auto list = queue_->ListEvents(true, 10);
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(list.error().message.find("gcloud"), std::string::npos);
  EXPECT_FALSE(queue_->Redrive(std::nullopt, clock_.now_s));
  EXPECT_FALSE(queue_->PendingCount());
}

TEST(PubSubEventCodec, EventRoundTripsThroughJsonAndGarbageIsInvalid) {
  auto e = Event(1, 2, "update");
  e.is_private = true;
  e.authorized = std::nullopt;
  e.updates_json = R"({"title":"Lunch ride","private":"true"})";
  auto back = DecodeEvent(EncodeEvent(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(DecodeEvent("not json"));
  EXPECT_FALSE(DecodeEvent(R"({"object_type":"activity"})"));
}

TEST(PubSubEventCodec, InProcessDedupForgetsOldestAndForgottenKeys) {
  auto dedup = InProcessDedupFilter(2);
  EXPECT_TRUE(*dedup.filter("a", 0));
  EXPECT_FALSE(*dedup.filter("a", 0));
  EXPECT_TRUE(*dedup.filter("b", 0));
  EXPECT_TRUE(*dedup.filter("c", 0));  // "a" ages out
  EXPECT_TRUE(*dedup.filter("a", 0));
  dedup.forget("c");
  EXPECT_TRUE(*dedup.filter("c", 0));
}

}  // namespace
}  // namespace dl::adapters::pubsub
