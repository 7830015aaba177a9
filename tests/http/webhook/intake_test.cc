// app::Intake (group commit) over the in-memory queue. Lives here until
// tests/app links it (the intake library is defined with the webhook one).
#include "app/intake.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fakes/fake_clock.h"
#include "fakes/in_memory_event_queue.h"
#include "http/http_test_client.h"

namespace dl::app {
namespace {

using std::chrono::milliseconds;
using http::testing::WaitFor;

core::WebhookEvent Event(int64_t object_id, int64_t event_time = 1'700'000'000) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.aspect_type = "create";
  e.object_id = object_id;
  e.owner_id = 7;
  e.subscription_id = 1;
  e.event_time = event_time;
  return e;
}

IntakeOptions Options(size_t max_batch, size_t max_waiting) {
  IntakeOptions options;
  options.max_batch = max_batch;
  options.max_waiting = max_waiting;
  return options;
}

// Holds the queue's writer inside EnqueueBatch until Release(), so that a
// test can line up submissions behind it and know the next batch's content.
class Gate {
 public:
  explicit Gate(fakes::InMemoryEventQueue& queue) {
    queue.BeforeCommit([this](size_t) {
      std::unique_lock lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
    });
  }
  bool WaitEntered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

class IntakeTest : public ::testing::Test {
 protected:
  fakes::InMemoryEventQueue queue_;
  fakes::FakeClock clock_;
};

TEST_F(IntakeTest, QueuesAnEventWithTheClocksTime) {
  Intake intake(queue_, clock_);
  auto outcome = intake.Submit(Event(1));
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(*outcome, ports::EnqueueOutcome::kQueued);
  clock_.SetEpochS(1'800'000'000);
  ASSERT_TRUE(intake.Submit(Event(2)));
  auto all = queue_.AllQueued();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].event, Event(1));
  EXPECT_EQ(all[0].received_at, fakes::FakeClock::kDefaultStartEpochS);
  EXPECT_EQ(all[1].received_at, 1'800'000'000);
}

TEST_F(IntakeTest, WakesTheWorkersAfterACommitThatQueuedSomething) {
  std::atomic<int> wakes{0};
  IntakeOptions options;
  options.on_queued = [&] { ++wakes; };
  Intake intake(queue_, clock_, options);
  ASSERT_TRUE(intake.Submit(Event(1)));
  // Submit returns before the writer runs the hook: wait for it.
  ASSERT_TRUE(WaitFor([&] { return wakes.load() == 1; }, milliseconds(10000)));
  ASSERT_TRUE(intake.Submit(Event(1)));  // a duplicate: nothing new to work on
  queue_.FailEnqueue(Error{ErrorCode::kIo, "disk"}, /*once=*/true);
  ASSERT_FALSE(intake.Submit(Event(2)));  // failed: nothing queued
  ASSERT_TRUE(intake.Submit(Event(3)));
  ASSERT_TRUE(WaitFor([&] { return wakes.load() == 2; }, milliseconds(10000)));
  intake.Shutdown();  // joins the writer: no hook call can still be pending
  EXPECT_EQ(wakes.load(), 2);
}

TEST_F(IntakeTest, ARetriedEventIsADuplicate) {
  Intake intake(queue_, clock_);
  EXPECT_EQ(intake.Submit(Event(1)).value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(intake.Submit(Event(1)).value(), ports::EnqueueOutcome::kDuplicate);
  EXPECT_EQ(intake.Submit(Event(1, 1'700'000'001)).value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.QueuedCount(), 2u);
}

// Runs Submit on a thread and keeps its result.
struct Submitter {
  Submitter(Intake& intake, core::WebhookEvent event)
      : thread([this, &intake, event] { result = intake.Submit(event); }) {}
  Result<ports::EnqueueOutcome> Join() {
    thread.join();
    return result;
  }
  Result<ports::EnqueueOutcome> result = Fail(ErrorCode::kInternal, "not run");
  std::thread thread;
};

TEST_F(IntakeTest, WaitingEventsShareOneCommitAndDuplicatesInItAreReported) {
  Gate gate(queue_);
  Intake intake(queue_, clock_);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));  // the writer holds batch [1]
  Submitter a(intake, Event(2)), b(intake, Event(2)), c(intake, Event(3)), d(intake, Event(1));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 4; }, milliseconds(10000)));
  gate.Release();
  EXPECT_EQ(first.Join().value(), ports::EnqueueOutcome::kQueued);
  auto ra = a.Join().value(), rb = b.Join().value();
  EXPECT_EQ(std::set({ra, rb}), std::set({ports::EnqueueOutcome::kQueued, ports::EnqueueOutcome::kDuplicate}));
  EXPECT_EQ(c.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(d.Join().value(), ports::EnqueueOutcome::kDuplicate);  // queued by the first batch
  // Two commits: [1] and the four waiting ones (sent as 3 distinct events).
  EXPECT_EQ(queue_.BatchSizes(), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(intake.Stats().batches, 2u);
  EXPECT_EQ(intake.Stats().largest_batch, 4u);
  EXPECT_EQ(queue_.QueuedCount(), 3u);
}

TEST_F(IntakeTest, BatchesAreCappedAtMaxBatch) {
  Gate gate(queue_);
  Intake intake(queue_, clock_, Options(/*max_batch=*/2, /*max_waiting=*/100));
  Submitter first(intake, Event(100));
  ASSERT_TRUE(gate.WaitEntered(1));
  std::vector<std::unique_ptr<Submitter>> rest;
  for (int i = 0; i < 5; ++i) rest.push_back(std::make_unique<Submitter>(intake, Event(i)));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 5; }, milliseconds(10000)));
  gate.Release();
  ASSERT_TRUE(first.Join());
  for (auto& s : rest) EXPECT_EQ(s->Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.BatchSizes(), (std::vector<size_t>{1, 2, 2, 1}));
}

TEST_F(IntakeTest, ManyConcurrentSubmittersEachEventQueuedExactlyOnce) {
  queue_.SetCommitLatency(std::chrono::microseconds(200));  // models an fsync
  Intake intake(queue_, clock_);
  constexpr int kThreads = 16, kPerThread = 500;
  std::atomic<int> queued{0}, duplicates{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every tenth event is sent twice (a Strava retry).
        for (int copy = 0; copy < (i % 10 == 0 ? 2 : 1); ++copy) {
          auto r = intake.Submit(Event(int64_t{t} * 1'000'000 + i + 1));
          if (!r) ++errors;
          else if (*r == ports::EnqueueOutcome::kQueued) ++queued;
          else ++duplicates;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(queued.load(), kThreads * kPerThread);
  EXPECT_EQ(duplicates.load(), kThreads * kPerThread / 10);
  auto all = queue_.AllQueued();
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  std::set<int64_t> ids;
  for (const auto& q : all) ids.insert(q.event.object_id);
  EXPECT_EQ(ids.size(), all.size());
  const IntakeStats stats = intake.Stats();
  EXPECT_GT(stats.largest_batch, 1u);
  EXPECT_LT(stats.batches, uint64_t{kThreads * kPerThread});
  std::printf("[ info ] %llu commits for %d submissions; largest batch %zu\n",
              static_cast<unsigned long long>(stats.batches), queued.load() + duplicates.load(),
              stats.largest_batch);
}

TEST_F(IntakeTest, AFailedCommitFailsEverySubmitterOfTheBatchAndQueuesNothing) {
  Gate gate(queue_);
  queue_.FailEnqueue(Error{ErrorCode::kIo, "disk I/O error"}, /*once=*/true);
  Intake intake(queue_, clock_);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  gate.Release();
  auto r = first.Join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_EQ(queue_.QueuedCount(), 0u);
  EXPECT_EQ(intake.Stats().events_failed, 1u);
  // The same event, retried after the failure, is queued (not a duplicate).
  EXPECT_EQ(intake.Submit(Event(1)).value(), ports::EnqueueOutcome::kQueued);
}

TEST_F(IntakeTest, AFullWaitQueueRefusesAtOnce) {
  Gate gate(queue_);
  Intake intake(queue_, clock_, Options(/*max_batch=*/256, /*max_waiting=*/2));
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  Submitter a(intake, Event(2)), b(intake, Event(3));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 2; }, milliseconds(10000)));
  auto refused = intake.Submit(Event(4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kTransient);
  EXPECT_EQ(intake.Stats().rejected_full, 1u);
  gate.Release();
  EXPECT_TRUE(first.Join());
  EXPECT_EQ(a.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(b.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.QueuedCount(), 3u);
}

TEST_F(IntakeTest, ShutdownDrainsWhatWasSubmittedAndRefusesTheRest) {
  Gate gate(queue_);
  Intake intake(queue_, clock_);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  Submitter a(intake, Event(2)), b(intake, Event(3));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 2; }, milliseconds(10000)));
  std::thread stopper([&] { intake.Shutdown(); });
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().shutting_down; }, milliseconds(10000)));
  auto refused = intake.Submit(Event(4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kTransient);
  gate.Release();
  stopper.join();
  EXPECT_TRUE(first.Join());
  EXPECT_EQ(a.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(b.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.QueuedCount(), 3u);
  intake.Shutdown();  // idempotent
}

// Gathering: the round of the first commit was 3 events (one committed,
// two arriving meanwhile); the writer waits for a third before committing
// again, so the client that comes back joins the batch. The wait is bounded
// by half the last commit, so the first commit is made to last 2 s (the
// gate, then the modelled latency read at its start): the test then has
// at least 1 s to see the gather and submit.
TEST_F(IntakeTest, GathersTheRestOfTheLastRoundBeforeCommitting) {
  Gate gate(queue_);
  IntakeOptions options;
  options.max_gather = std::chrono::seconds(10);
  queue_.SetCommitLatency(std::chrono::seconds(2));
  Intake intake(queue_, clock_, options);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  queue_.SetCommitLatency(std::chrono::microseconds(0));  // later commits: at once
  Submitter a(intake, Event(2)), b(intake, Event(3));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 2; }, milliseconds(10000)));
  gate.Release();
  EXPECT_EQ(first.Join().value(), ports::EnqueueOutcome::kQueued);
  // The writer now waits for a third event instead of committing [2, 3].
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().gathers == 1; }, milliseconds(10000)));
  Submitter again(intake, Event(4));  // the first client's next event
  EXPECT_EQ(a.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(b.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(again.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.BatchSizes(), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(intake.Stats().gather_timeouts, 0u);
}

TEST_F(IntakeTest, AGatherThatRunsOutCommitsWhatIsWaiting) {
  Gate gate(queue_);
  IntakeOptions options;
  options.max_gather = std::chrono::milliseconds(5);
  Intake intake(queue_, clock_, options);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  Submitter a(intake, Event(2)), b(intake, Event(3));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 2; }, milliseconds(10000)));
  gate.Release();
  EXPECT_TRUE(first.Join());
  EXPECT_EQ(a.Join().value(), ports::EnqueueOutcome::kQueued);  // nobody came back: committed anyway
  EXPECT_EQ(b.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.BatchSizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(intake.Stats().gathers, 1u);
  EXPECT_EQ(intake.Stats().gather_timeouts, 1u);
}

TEST_F(IntakeTest, ALoneClientNeverWaitsToGather) {
  IntakeOptions options;
  options.max_gather = std::chrono::seconds(10);  // a wait would show as a hang
  queue_.SetCommitLatency(std::chrono::microseconds(100));
  Intake intake(queue_, clock_, options);
  for (int i = 1; i <= 20; ++i) ASSERT_EQ(intake.Submit(Event(i)).value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(intake.Stats().gathers, 0u);
  EXPECT_EQ(intake.Stats().batches, 20u);
}

// As above, the first commit lasts 2 s so that the gather would run for at
// least 1 s: Shutdown ends it (not its time-out) and drains what waits.
TEST_F(IntakeTest, ShutdownEndsAGatherAtOnce) {
  Gate gate(queue_);
  IntakeOptions options;
  options.max_gather = std::chrono::seconds(60);
  queue_.SetCommitLatency(std::chrono::seconds(2));
  Intake intake(queue_, clock_, options);
  Submitter first(intake, Event(1));
  ASSERT_TRUE(gate.WaitEntered(1));
  queue_.SetCommitLatency(std::chrono::microseconds(0));
  Submitter a(intake, Event(2)), b(intake, Event(3));
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().waiting == 2; }, milliseconds(10000)));
  gate.Release();
  EXPECT_TRUE(first.Join());
  ASSERT_TRUE(WaitFor([&] { return intake.Stats().gathers == 1; }, milliseconds(10000)));
  intake.Shutdown();
  EXPECT_EQ(intake.Stats().gather_timeouts, 0u);  // ended by the shutdown
  EXPECT_EQ(a.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(b.Join().value(), ports::EnqueueOutcome::kQueued);
  EXPECT_EQ(queue_.QueuedCount(), 3u);
}

// A queue that answers with the wrong number of outcomes: a bug reported as
// an error, not as a silent acceptance.
class ShortQueue final : public ports::EventQueue {
 public:
  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent>, int64_t) override {
    return std::vector<ports::EnqueueOutcome>{};
  }
  Result<std::vector<ports::QueuedEvent>> Claim(int, int64_t, int64_t) override { return {}; }
  Status Ack(std::span<const int64_t>) override { return Ok(); }
  Status Retry(int64_t, const std::string&, int64_t) override { return Ok(); }
  Status DeadLetter(int64_t, const std::string&, int64_t) override { return Ok(); }
  Result<std::vector<ports::QueuedEvent>> ListEvents(bool, int) override { return {}; }
  Result<int64_t> Redrive(std::optional<int64_t>, int64_t) override { return 0; }
  Result<int64_t> PendingCount() override { return 0; }
};

TEST_F(IntakeTest, AQueueAnsweringTheWrongCountIsAnError) {
  ShortQueue queue;
  Intake intake(queue, clock_);
  auto r = intake.Submit(Event(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace dl::app
