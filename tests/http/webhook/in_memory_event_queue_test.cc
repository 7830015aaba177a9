// The fake must behave as the port documents, or the tests built on it prove
// nothing. (When the SQLite queue exists, these cases belong in a contract
// suite run against both.)
#include "fakes/in_memory_event_queue.h"

#include <gtest/gtest.h>

#include <vector>

namespace dl::fakes {
namespace {

core::WebhookEvent Event(int64_t id) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.aspect_type = "create";
  e.object_id = id;
  e.owner_id = 7;
  e.subscription_id = 1;
  e.event_time = 100;
  return e;
}

using ports::EnqueueOutcome;

TEST(InMemoryEventQueue, DeduplicatesAcrossAndWithinBatchesForever) {
  InMemoryEventQueue q;
  std::vector<core::WebhookEvent> batch = {Event(1), Event(2), Event(1)};
  EXPECT_EQ(q.EnqueueBatch(batch, 10).value(),
            (std::vector{EnqueueOutcome::kQueued, EnqueueOutcome::kQueued, EnqueueOutcome::kDuplicate}));
  auto claimed = q.Claim(10, 10, 30).value();
  ASSERT_EQ(claimed.size(), 2u);
  std::vector<int64_t> seqs = {claimed[0].seq, claimed[1].seq};
  ASSERT_TRUE(q.Ack(seqs));
  EXPECT_EQ(q.PendingCount().value(), 0);
  std::vector<core::WebhookEvent> again = {Event(2)};
  EXPECT_EQ(q.EnqueueBatch(again, 11).value(), (std::vector{EnqueueOutcome::kDuplicate}));
}

TEST(InMemoryEventQueue, AFailedBatchRecordsNothing) {
  InMemoryEventQueue q;
  q.FailEnqueue(Error{ErrorCode::kIo, "disk full"}, /*once=*/true);
  std::vector<core::WebhookEvent> batch = {Event(1)};
  EXPECT_FALSE(q.EnqueueBatch(batch, 10));
  EXPECT_EQ(q.QueuedCount(), 0u);
  EXPECT_EQ(q.EnqueueBatch(batch, 10).value(), (std::vector{EnqueueOutcome::kQueued}));
}

TEST(InMemoryEventQueue, LeasesExpireAndRetriesWaitForTheirTime) {
  InMemoryEventQueue q;
  std::vector<core::WebhookEvent> batch = {Event(1), Event(2)};
  ASSERT_TRUE(q.EnqueueBatch(batch, 100));
  auto first = q.Claim(1, 100, 30).value();  // oldest first
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].event.object_id, 1);
  EXPECT_EQ(first[0].attempts, 1);
  // Leased: only the other one is claimable until the lease runs out.
  auto second = q.Claim(5, 110, 30).value();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].event.object_id, 2);
  auto redelivered = q.Claim(5, 130, 30).value();
  ASSERT_EQ(redelivered.size(), 1u);
  EXPECT_EQ(redelivered[0].event.object_id, 1);
  EXPECT_EQ(redelivered[0].attempts, 2);

  ASSERT_TRUE(q.Retry(redelivered[0].seq, "timeout", 200));
  auto before = q.Claim(5, 199, 30).value();  // event 2 (lease over at 140), not event 1
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].event.object_id, 2);
  auto retried = q.Claim(5, 200, 30).value();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].event.object_id, 1);
  EXPECT_EQ(retried[0].last_error, "timeout");
  EXPECT_EQ(q.Retry(999, "x", 1).error().code, ErrorCode::kNotFound);
}

TEST(InMemoryEventQueue, DeadLettersAreListedAndRedriven) {
  InMemoryEventQueue q;
  std::vector<core::WebhookEvent> batch = {Event(1), Event(2)};
  ASSERT_TRUE(q.EnqueueBatch(batch, 100));
  auto claimed = q.Claim(1, 100, 30).value();
  ASSERT_TRUE(q.DeadLetter(claimed[0].seq, "404 forever", 101));
  EXPECT_EQ(q.PendingCount().value(), 1);
  auto dead = q.ListEvents(/*failed=*/true, 10).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].last_error, "404 forever");
  EXPECT_EQ(q.ListEvents(false, 10).value().size(), 1u);
  EXPECT_EQ(q.Redrive(12345, 102).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(q.Redrive(std::nullopt, 102).value(), 1);
  auto back = q.Claim(5, 102, 30).value();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].seq, claimed[0].seq);
  EXPECT_EQ(back[0].attempts, 1);  // reset by the redrive, then claimed once
}

}  // namespace
}  // namespace dl::fakes
