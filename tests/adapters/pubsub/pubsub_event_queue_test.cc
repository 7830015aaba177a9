// PubSubEventQueue against the real Pub/Sub emulator (testing::SharedEmulator:
// one emulator start per test executable, whichever test comes first).
#include "adapters/pubsub/pubsub_event_queue.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "emulator.h"

namespace dl::adapters::pubsub {
namespace {

using testing::SharedEmulator;
using testing::UniqueId;

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

// A SQLite store in a fresh temporary file (removed afterwards).
class TempStore {
 public:
  TempStore() {
    char tmpl[] = "/tmp/dl_pubsub_store_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    auto opened = sqlite::SqliteStore::Open(dir_ + "/store.db", core::SportCategories::Default());
    EXPECT_TRUE(opened) << (opened ? "" : opened.error().message);
    if (opened) store_ = std::move(*opened);
  }
  ~TempStore() {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  sqlite::SqliteStore* get() const { return store_.get(); }
  sqlite::SqliteStore* operator->() const { return store_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<sqlite::SqliteStore> store_;
};

class PubSubEmulatorQueue : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_error_ = SharedEmulator().Start(); }

  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "Pub/Sub emulator unavailable: " << start_error_;
    client_.emplace(PubSubOptions{.project_id = "dl-test", .endpoint = SharedEmulator().endpoint()});
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
  EXPECT_EQ(got[0].ordering_key, "4242:400");  // per activity
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

TEST(PubSubEventCodec, InProcessDedupForgetsOldestKeysAndAskingRecordsNothing) {
  InProcessDedupStore dedup(2);
  auto record = [&](std::vector<std::string> keys) { return *dedup.RecordDedupKeys(keys, 0); };
  auto known = [&](std::vector<std::string> keys) { return *dedup.KnownDedupKeys(keys, 0); };
  EXPECT_EQ(record({"a", "a"}), (std::vector<bool>{true, false}));  // a repeat within one call
  EXPECT_EQ(record({"a"}), std::vector<bool>{false});
  EXPECT_EQ(record({"b", "c"}), (std::vector<bool>{true, true}));  // "a" ages out
  EXPECT_EQ(known({"a", "b", "c", "d"}), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(record({"d"}), std::vector<bool>{true});  // asked about, not recorded
}

// Two dispatchers (two queues, two clients) over one store: Strava's retry
// of an event is dropped whichever dispatcher it reaches.
TEST_F(PubSubEmulatorQueue, TwoDispatchersOverOneStorePublishAnEventOnce) {
  const std::string raw_sub = UniqueId("raw");
  ASSERT_TRUE(client_->CreateSubscription(options_.topic, raw_sub, {.ack_deadline_s = 600}));
  TempStore store;
  ASSERT_NE(store.get(), nullptr);
  PubSubClient other_client(PubSubOptions{.project_id = "dl-test", .endpoint = SharedEmulator().endpoint()});
  PubSubEventQueueOptions shared = options_;
  shared.dedup = store.get();
  PubSubEventQueue first(*client_, clock_, shared);
  PubSubEventQueue second(other_client, clock_, shared);
  const std::vector<core::WebhookEvent> event{Event(7, 500)};
  const std::vector<core::WebhookEvent> other{Event(7, 501)};
  auto a = first.EnqueueBatch(event, clock_.now_s);
  auto b = second.EnqueueBatch(event, clock_.now_s + 30);  // Strava's retry, at the other dispatcher
  auto c = second.EnqueueBatch(other, clock_.now_s + 31);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kQueued});
  EXPECT_EQ(*b, std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kDuplicate});
  EXPECT_EQ(*c, std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kQueued});
  // The topic got exactly two messages: 500 once and 501.
  std::multiset<int64_t> objects;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (objects.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto pulled = client_->Pull(raw_sub, 10, /*return_immediately=*/true);
    ASSERT_TRUE(pulled) << pulled.error().message;
    for (const auto& m : *pulled) objects.insert(DecodeEvent(m.data)->object_id);
  }
  auto late = client_->Pull(raw_sub, 10, /*return_immediately=*/true);  // nothing beyond them
  ASSERT_TRUE(late);
  for (const auto& m : *late) objects.insert(DecodeEvent(m.data)->object_id);
  EXPECT_EQ(objects, (std::multiset<int64_t>{500, 501}));
  // The store's own queue shares the record: the event is a duplicate there too.
  auto via_store = store->EnqueueBatch(event, clock_.now_s + 40);
  ASSERT_TRUE(via_store);
  EXPECT_EQ(*via_store, std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kDuplicate});
}

// A key is recorded only once its event is published: a publish that fails
// (or a dispatcher that dies before it) leaves nothing behind that would
// make Strava's retry a "duplicate" of an event no inserter ever got.
TEST_F(PubSubEmulatorQueue, AFailedPublishRecordsNoKeySoStravasRetryPasses) {
  TempStore store;
  ASSERT_NE(store.get(), nullptr);
  PubSubEventQueueOptions broken = options_;
  broken.topic = UniqueId("missing");  // never created: the publish fails
  broken.dedup = store.get();
  PubSubEventQueue dispatcher(*client_, clock_, broken);
  const std::vector<core::WebhookEvent> event{Event(7, 600)};
  auto failed = dispatcher.EnqueueBatch(event, clock_.now_s);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kNotFound);
  std::vector<std::string> key{event[0].DedupKey()};
  EXPECT_EQ(*store->KnownDedupKeys(key, clock_.now_s + 1), std::vector<bool>{false});
  PubSubEventQueueOptions working = options_;
  working.dedup = store.get();
  PubSubEventQueue retried(*client_, clock_, working);
  auto again = retried.EnqueueBatch(event, clock_.now_s + 30);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kQueued});
  EXPECT_EQ(*store->KnownDedupKeys(key, clock_.now_s + 31), std::vector<bool>{true}) << "recorded once published";
  auto claimed = ClaimAtLeast(1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].event, event[0]);
  // The same event twice in one batch is published once.
  const std::vector<core::WebhookEvent> twice{Event(7, 601), Event(7, 601)};
  auto both = retried.EnqueueBatch(twice, clock_.now_s + 40);
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(*both, (std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kQueued,
                                                        ports::EnqueueOutcome::kDuplicate}));
}

}  // namespace
}  // namespace dl::adapters::pubsub
