// PubSubClient against the real Pub/Sub emulator. One emulator serves the
// whole executable: started on first use, stopped by a global environment.
// ctest runs these as one test (see CMakeLists.txt) so it starts only once.
#include "adapters/pubsub/pubsub_client.h"

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

using testing::SharedEmulator;
using testing::UniqueId;

class PubSubEmulator : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_error_ = SharedEmulator().Start(); }

  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "Pub/Sub emulator unavailable: " << start_error_;
    client_.emplace(PubSubOptions{.project_id = "dl-test", .endpoint = SharedEmulator().endpoint()});
  }

  // Pulls until `count` messages arrived or 20 s passed (each pull returns
  // as soon as something is available).
  std::vector<ReceivedMessage> PullAtLeast(const std::string& sub, size_t count) {
    std::vector<ReceivedMessage> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (all.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto got = client_->Pull(sub, 10, /*return_immediately=*/true);
      EXPECT_TRUE(got) << got.error().message;
      if (!got) break;
      all.insert(all.end(), got->begin(), got->end());
    }
    return all;
  }

  // A topic with one subscription whose ack deadline (600 s) is far beyond
  // the test, so any redelivery seen here was caused by the test.
  std::pair<std::string, std::string> TopicAndSub(SubscriptionOptions options = {.ack_deadline_s = 600}) {
    const std::string topic = UniqueId("topic");
    const std::string sub = UniqueId("sub");
    EXPECT_TRUE(client_->CreateTopic(topic));
    auto created = client_->CreateSubscription(topic, sub, options);
    EXPECT_TRUE(created) << created.error().message;
    return {topic, sub};
  }

  // A dead-letter topic with a subscription of its own, to read what lands there.
  std::pair<std::string, std::string> DeadLetter() { return TopicAndSub(); }

  static inline std::string start_error_;
  std::optional<PubSubClient> client_;
};

TEST_F(PubSubEmulator, CreatingTopicAndSubscriptionTwiceIsSuccess) {
  const std::string topic = UniqueId("topic");
  const std::string sub = UniqueId("sub");
  auto first = client_->CreateTopic(topic);
  ASSERT_TRUE(first) << first.error().message;
  auto again = client_->CreateTopic(topic);
  EXPECT_TRUE(again) << again.error().message;
  auto sub_first = client_->CreateSubscription(topic, sub, {.ack_deadline_s = 30});
  ASSERT_TRUE(sub_first) << sub_first.error().message;
  auto sub_again = client_->CreateSubscription(topic, sub, {.ack_deadline_s = 30});
  EXPECT_TRUE(sub_again) << sub_again.error().message;
}

TEST_F(PubSubEmulator, PublishedDataAttributesAndOrderingKeyComeBackOnPull) {
  auto [topic, sub] = TopicAndSub({.ack_deadline_s = 600, .enable_message_ordering = true});
  const std::string binary("ev\x00\xff{\"id\":1}", 11);
  auto ids = client_->Publish(topic, {Message{.data = binary,
                                              .attributes = {{"correlation_id", "c-42"}, {"kind", "activity"}},
                                              .ordering_key = "athlete-7"}});
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_EQ(ids->size(), 1u);
  auto got = PullAtLeast(sub, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, (*ids)[0]);
  EXPECT_EQ(got[0].data, binary);
  EXPECT_EQ(got[0].attributes, (std::map<std::string, std::string>{{"correlation_id", "c-42"}, {"kind", "activity"}}));
  EXPECT_EQ(got[0].ordering_key, "athlete-7");
  EXPECT_FALSE(got[0].ack_id.empty());
  // Without a dead-letter policy Pub/Sub does not count deliveries.
  EXPECT_EQ(got[0].delivery_attempt, 0);
}

TEST_F(PubSubEmulator, AckedMessageIsNotRedeliveredButANackedOneIs) {
  // The dead-letter policy makes the server count delivery attempts.
  auto [dead_topic, dead_sub] = DeadLetter();
  auto [topic, sub] = TopicAndSub({.ack_deadline_s = 600, .dead_letter_topic = dead_topic});
  auto ids = client_->Publish(topic, {Message{.data = "keep"}, Message{.data = "retry"}});
  ASSERT_TRUE(ids) << ids.error().message;
  auto got = PullAtLeast(sub, 2);
  ASSERT_EQ(got.size(), 2u);
  const ReceivedMessage& keep = got[0].data == "keep" ? got[0] : got[1];
  const ReceivedMessage& retry = got[0].data == "keep" ? got[1] : got[0];
  ASSERT_EQ(retry.data, "retry");
  EXPECT_EQ(retry.delivery_attempt, 1);
  ASSERT_TRUE(client_->Acknowledge(sub, {keep.ack_id}));
  // Deadline 0 on both: only the unacked one may come back.
  ASSERT_TRUE(client_->ModifyAckDeadline(sub, {retry.ack_id}, 0));
  auto again = PullAtLeast(sub, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].data, "retry");
  EXPECT_EQ(again[0].message_id, retry.message_id);
  EXPECT_EQ(again[0].delivery_attempt, 2);
  ASSERT_TRUE(client_->Acknowledge(sub, {again[0].ack_id}));
  ASSERT_TRUE(client_->ModifyAckDeadline(sub, {keep.ack_id, again[0].ack_id}, 0));
  auto after = client_->Pull(sub, 10, /*return_immediately=*/true);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->empty()) << "redelivered: " << after->front().data;
}

TEST_F(PubSubEmulator, AfterMaxDeliveryAttemptsTheMessageGoesToTheDeadLetterTopic) {
  auto [dead_topic, dead_sub] = DeadLetter();
  auto [topic, sub] = TopicAndSub({.ack_deadline_s = 600, .dead_letter_topic = dead_topic, .max_delivery_attempts = 5});
  ASSERT_TRUE(client_->Publish(topic, {Message{.data = "poison", .attributes = {{"correlation_id", "c-9"}}}}));
  int attempts = 0;
  for (; attempts < 5; ++attempts) {
    auto got = PullAtLeast(sub, 1);
    ASSERT_EQ(got.size(), 1u) << "attempt " << attempts + 1;
    EXPECT_EQ(got[0].delivery_attempt, attempts + 1);
    ASSERT_TRUE(client_->ModifyAckDeadline(sub, {got[0].ack_id}, 0));
  }
  // The emulator moves the message when the source subscription is next
  // pulled (real Pub/Sub does it in the background); either way it is gone.
  auto more = client_->Pull(sub, 10, /*return_immediately=*/true);
  ASSERT_TRUE(more) << more.error().message;
  EXPECT_TRUE(more->empty());
  auto dead = PullAtLeast(dead_sub, 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].data, "poison");
  EXPECT_EQ(dead[0].attributes["correlation_id"], "c-9");
  EXPECT_EQ(dead[0].attributes["CloudPubSubDeadLetterSourceDeliveryCount"], "5");
}

TEST_F(PubSubEmulator, PublishToAMissingTopicIsNotFound) {
  auto ids = client_->Publish(UniqueId("missing"), {Message{.data = "x"}});
  ASSERT_FALSE(ids);
  EXPECT_EQ(ids.error().code, ErrorCode::kNotFound);
  EXPECT_NE(ids.error().message.find("NOT_FOUND"), std::string::npos) << ids.error().message;
  auto pulled = client_->Pull(UniqueId("missing"), 1, true);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, ErrorCode::kNotFound);
}

TEST_F(PubSubEmulator, ServerSideRejectionsAreInvalidArgumentWithGooglesMessage) {
  // A subscription to a topic that does not exist: 404 from the server.
  auto sub = client_->CreateSubscription(UniqueId("missing"), UniqueId("sub"));
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code, ErrorCode::kNotFound);
  // An ack deadline out of range passes our id checks and is refused by the server.
  const std::string topic = UniqueId("topic");
  ASSERT_TRUE(client_->CreateTopic(topic));
  auto bad = client_->CreateSubscription(topic, UniqueId("sub"), {.ack_deadline_s = 100000});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument) << bad.error().message;
}

TEST_F(PubSubEmulator, UnreachableEndpointIsTransient) {
  // Port 1 on loopback refuses connections.
  PubSubClient dead(PubSubOptions{.project_id = "dl-test", .endpoint = "http://127.0.0.1:1"});
  auto result = dead.CreateTopic("abc");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTransient);
}

// Checks that need no server.
TEST(PubSubIds, ShortAndMalformedIdsAreRefusedBeforeAnyRequest) {
  // No server at this endpoint: a validation error proves no request was made.
  PubSubClient client(PubSubOptions{.project_id = "dl-test", .endpoint = "http://127.0.0.1:1"});
  auto topic = client.CreateTopic("ab");
  ASSERT_FALSE(topic);
  EXPECT_EQ(topic.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(topic.error().message.find("3 to 255"), std::string::npos) << topic.error().message;
  EXPECT_EQ(client.CreateSubscription("abc", "s").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Publish("ab", {Message{.data = "x"}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Pull("xy", 1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Acknowledge("xy", {"a"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.ModifyAckDeadline("xy", {"a"}, 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ValidateResourceId("topic", "1abc"));
  EXPECT_FALSE(ValidateResourceId("topic", "goog-events"));
  EXPECT_FALSE(ValidateResourceId("topic", "a b c"));
  EXPECT_FALSE(ValidateResourceId("topic", std::string(256, 'a')));
  EXPECT_TRUE(ValidateResourceId("topic", "abc"));
  EXPECT_TRUE(ValidateResourceId("topic", "dl.events-v1_x~y+z%2"));
}

TEST(PubSubEndpoint, EmulatorHostVariableSelectsPlainHttp) {
  const char* saved = std::getenv("PUBSUB_EMULATOR_HOST");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("PUBSUB_EMULATOR_HOST", "localhost:8681", 1);
  EXPECT_EQ(DefaultEndpoint(), "http://localhost:8681");
  EXPECT_EQ(PubSubClient(PubSubOptions{.project_id = "p"}).endpoint(), "http://localhost:8681");
  unsetenv("PUBSUB_EMULATOR_HOST");
  EXPECT_EQ(DefaultEndpoint(), "https://pubsub.googleapis.com");
  if (saved != nullptr) setenv("PUBSUB_EMULATOR_HOST", saved_value.c_str(), 1);
}

TEST(PubSubAuth, TokenProviderFailureStopsTheRequestAndTokenIsNotInErrors) {
  PubSubClient client(PubSubOptions{
      .project_id = "dl-test",
      .endpoint = "http://127.0.0.1:1",
      .token_provider = []() -> Result<std::string> { return Fail(ErrorCode::kUnauthorized, "no key file"); }});
  auto result = client.CreateTopic("abc");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthorized);
  PubSubClient with_token(PubSubOptions{.project_id = "dl-test",
                                        .endpoint = "http://127.0.0.1:1",
                                        .token_provider = []() -> Result<std::string> { return "SECRET-TOKEN"; }});
  auto failed = with_token.CreateTopic("abc");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.find("SECRET-TOKEN"), std::string::npos);
}

}  // namespace
}  // namespace dl::adapters::pubsub
