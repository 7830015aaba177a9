#include "adapters/pubsub/pubsub_event_queue.h"

#include <openssl/sha.h>

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace dl::adapters::pubsub {
namespace {

constexpr int32_t kMaxDeadlineS = 600;  // Pub/Sub's ceiling for an ack deadline

std::unexpected<Error> NotSupported(const char* what) {
  return Fail(ErrorCode::kInvalidArgument,
              std::string(what) + " is not supported through the queue on the Pub/Sub transport; dead letters: "
                                                        "`desirelines events --transport pubsub --failed` (or gcloud)");
}

int32_t ClampDeadline(int64_t seconds) {
  return static_cast<int32_t>(std::clamp<int64_t>(seconds, 0, kMaxDeadlineS));
}

// An integer attribute; 0 when absent or not a number.
int64_t AttributeInt(const std::map<std::string, std::string>& attributes, const char* key) {
  auto it = attributes.find(key);
  if (it == attributes.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

template <typename T>
void PutOptional(nlohmann::json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}

template <typename T>
void GetOptional(const nlohmann::json& j, const char* key, std::optional<T>& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

Result<std::vector<bool>> InProcessDedupStore::RecordDedupKeys(std::span<const std::string> keys, int64_t) {
  std::lock_guard lock(mu_);
  std::vector<bool> fresh;
  fresh.reserve(keys.size());
  for (const std::string& key : keys) {
    fresh.push_back(keys_.insert(key).second);
    if (!fresh.back()) continue;
    order_.push_back(key);
    while (order_.size() > capacity_) {
      keys_.erase(order_.front());
      order_.pop_front();
    }
  }
  return fresh;
}

Result<std::vector<bool>> InProcessDedupStore::KnownDedupKeys(std::span<const std::string> keys, int64_t) {
  std::lock_guard lock(mu_);
  std::vector<bool> known;
  known.reserve(keys.size());
  for (const std::string& key : keys) known.push_back(keys_.contains(key));
  return known;
}

std::string EncodeEvent(const core::WebhookEvent& e) {
  nlohmann::json j{{"object_type", e.object_type}, {"object_id", e.object_id},
                   {"aspect_type", e.aspect_type}, {"owner_id", e.owner_id},
                   {"subscription_id", e.subscription_id}, {"event_time", e.event_time},
                   {"updates_json", e.updates_json}};
  PutOptional(j, "title", e.title);
  PutOptional(j, "type", e.type);
  PutOptional(j, "is_private", e.is_private);
  PutOptional(j, "visibility", e.visibility);
  PutOptional(j, "authorized", e.authorized);
  return j.dump();
}

Result<core::WebhookEvent> DecodeEvent(const std::string& data) {
  try {
    auto j = nlohmann::json::parse(data);
    core::WebhookEvent e;
    e.object_type = j.at("object_type").get<std::string>();
    e.object_id = j.at("object_id").get<int64_t>();
    e.aspect_type = j.at("aspect_type").get<std::string>();
    e.owner_id = j.at("owner_id").get<int64_t>();
    e.subscription_id = j.at("subscription_id").get<int64_t>();
    e.event_time = j.at("event_time").get<int64_t>();
    e.updates_json = j.value("updates_json", std::string("{}"));
    GetOptional(j, "title", e.title);
    GetOptional(j, "type", e.type);
    GetOptional(j, "is_private", e.is_private);
    GetOptional(j, "visibility", e.visibility);
    GetOptional(j, "authorized", e.authorized);
    return e;
  } catch (const std::exception& ex) {
    return Fail(ErrorCode::kInvalidArgument, std::string("message is not a webhook event: ") + ex.what());
  }
}

std::string DedupKeyHash(const core::WebhookEvent& event) {
  std::string key = event.DedupKey();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  std::string hex;
  char buf[3];
  for (unsigned char b : digest) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  return hex;
}

std::string OrderingKey(const core::WebhookEvent& event) {
  if (event.object_type == "athlete") return std::to_string(event.object_id);
  return std::to_string(event.owner_id) + ":" + std::to_string(event.object_id);
}

PubSubEventQueue::PubSubEventQueue(PubSubClient& client, const ports::Clock& clock, PubSubEventQueueOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  if (options_.dedup == nullptr) own_dedup_ = std::make_unique<InProcessDedupStore>();
  dedup_ = options_.dedup != nullptr ? options_.dedup : own_dedup_.get();
}

int64_t PubSubEventQueue::NowS() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

Result<std::vector<ports::EnqueueOutcome>> PubSubEventQueue::EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                                          int64_t now_epoch_s) {
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const auto& event : events) keys.push_back(event.DedupKey());
  auto known = dedup_->KnownDedupKeys(keys, now_epoch_s);
  if (!known) return std::unexpected(known.error());
  if (known->size() != events.size()) return Fail(ErrorCode::kInternal, "dedup store answered for the wrong count");
  std::vector<ports::EnqueueOutcome> outcomes;
  std::vector<Message> messages;
  std::vector<std::string> published_keys;  // dedup keys of `messages`, in order
  std::unordered_set<std::string_view> in_batch;
  for (size_t i = 0; i < events.size(); ++i) {
    const bool fresh = !(*known)[i] && in_batch.insert(keys[i]).second;  // a repeat within the batch: once
    outcomes.push_back(fresh ? ports::EnqueueOutcome::kQueued : ports::EnqueueOutcome::kDuplicate);
    if (!fresh) continue;
    const std::string hash = DedupKeyHash(events[i]);
    messages.push_back(Message{.data = EncodeEvent(events[i]),
                               .attributes = {{"dedup_key", hash},
                                              {"correlation_id", hash},
                                              {"received_at", std::to_string(now_epoch_s)}},
                               .ordering_key = OrderingKey(events[i])});
    published_keys.push_back(keys[i]);
  }
  // Each chunk's keys are recorded once it is published. A failed publish
  // queued nothing of its chunk: its keys and later ones stay unknown, so
  // that Strava's retry of those events is accepted (at-least-once).
  constexpr size_t kChunk = 1000;  // Pub/Sub's limit per publish request
  for (size_t i = 0; i < messages.size(); i += kChunk) {
    const size_t end = std::min(messages.size(), i + kChunk);
    std::vector<Message> chunk(messages.begin() + static_cast<std::ptrdiff_t>(i),
                               messages.begin() + static_cast<std::ptrdiff_t>(end));
    auto ids = client_.Publish(options_.topic, chunk);
    if (!ids) return std::unexpected(ids.error());
    // The events are accepted (published) whatever this answers: a failure
    // here only lets a retry of them be published again.
    (void)dedup_->RecordDedupKeys(std::span(published_keys).subspan(i, end - i), now_epoch_s);
  }
  return outcomes;
}

Result<std::vector<ports::QueuedEvent>> PubSubEventQueue::Claim(int max, int64_t now_epoch_s, int64_t lease_s) {
  if (max < 1) return std::vector<ports::QueuedEvent>{};
  auto pulled = client_.Pull(options_.subscription, max, /*return_immediately=*/true);
  if (!pulled) return std::unexpected(pulled.error());
  std::vector<ports::QueuedEvent> out;
  std::vector<std::string> ack_ids;
  for (auto& m : *pulled) {
    const int prior = static_cast<int>(AttributeInt(m.attributes, "prior_attempts"));
    if (options_.max_delivery_attempts > 0 && m.delivery_attempt >= options_.max_delivery_attempts) {
      CarryOver(m, prior + m.delivery_attempt - 1);  // see "Delivery attempts" in the header
      continue;
    }
    Claimed claimed{m.ack_id, m.message_id, m.data, m.attributes, m.ordering_key, now_epoch_s + lease_s};
    auto event = DecodeEvent(m.data);
    if (!event) {  // never workable: straight to the dead letters
      if (PublishDeadLetter(claimed, event.error().message)) (void)client_.Acknowledge(options_.subscription, {m.ack_id});
      continue;
    }
    ports::QueuedEvent q;
    q.event = std::move(*event);
    q.received_at = m.attributes.contains("received_at") ? AttributeInt(m.attributes, "received_at") : now_epoch_s;
    q.available_at = now_epoch_s + lease_s;
    {
      std::lock_guard lock(mu_);
      // Entries whose deadline passed long ago were redelivered under new
      // ack ids; drop them so the table stays bounded.
      std::erase_if(claimed_, [&](const auto& kv) { return kv.second.expires_at + kMaxDeadlineS < now_epoch_s; });
      int local = ++seen_[m.message_id];
      q.attempts = prior + (m.delivery_attempt > 0 ? m.delivery_attempt : local);
      q.seq = next_seq_++;
      claimed_.emplace(q.seq, std::move(claimed));
    }
    ack_ids.push_back(m.ack_id);
    out.push_back(std::move(q));
  }
  if (!ack_ids.empty()) {
    // Best effort: without it the subscription's own deadline applies.
    (void)client_.ModifyAckDeadline(options_.subscription, ack_ids, ClampDeadline(lease_s));
  }
  return out;
}

void PubSubEventQueue::CarryOver(const ReceivedMessage& m, int attempts_so_far) {
  Message again{.data = m.data, .attributes = m.attributes, .ordering_key = m.ordering_key};
  again.attributes["prior_attempts"] = std::to_string(attempts_so_far);
  // Published before the ack: a failure in between leaves a duplicate at
  // worst (idempotent effects); a failed publish leaves the message to be
  // redelivered, and the next pull tries again.
  if (auto ids = client_.Publish(options_.topic, {again}); !ids) return;
  (void)client_.Acknowledge(options_.subscription, {m.ack_id});
}

std::optional<PubSubEventQueue::Claimed> PubSubEventQueue::Lookup(int64_t seq) {
  std::lock_guard lock(mu_);
  auto it = claimed_.find(seq);
  if (it == claimed_.end()) return std::nullopt;
  return it->second;
}

void PubSubEventQueue::Forget(int64_t seq) {
  std::lock_guard lock(mu_);
  auto it = claimed_.find(seq);
  if (it == claimed_.end()) return;
  seen_.erase(it->second.message_id);
  claimed_.erase(it);
}

Status PubSubEventQueue::Ack(std::span<const int64_t> seqs) {
  std::vector<std::string> ack_ids;
  for (int64_t seq : seqs) {
    if (auto c = Lookup(seq)) ack_ids.push_back(c->ack_id);
  }
  if (ack_ids.empty()) return {};
  if (Status s = client_.Acknowledge(options_.subscription, ack_ids); !s) return s;
  for (int64_t seq : seqs) Forget(seq);
  return {};
}

Status PubSubEventQueue::Retry(int64_t seq, const std::string& /*error*/, int64_t retry_at_epoch_s) {
  auto c = Lookup(seq);
  if (!c) return Fail(ErrorCode::kNotFound, "no claimed event " + std::to_string(seq));
  int32_t delay = ClampDeadline(retry_at_epoch_s - NowS());
  if (Status s = client_.ModifyAckDeadline(options_.subscription, {c->ack_id}, delay); !s) return s;
  std::lock_guard lock(mu_);
  // Kept (not forgotten): a lease renewal goes through Retry and is acked later.
  if (auto it = claimed_.find(seq); it != claimed_.end()) it->second.expires_at = NowS() + delay;
  return {};
}

Status PubSubEventQueue::PublishDeadLetter(const Claimed& claimed, const std::string& error) {
  Message m{.data = claimed.data, .attributes = claimed.attributes, .ordering_key = {}};
  // Attribute values are limited (1024 bytes); the error is truncated.
  m.attributes["error"] = error.substr(0, 1000);
  m.attributes["source_message_id"] = claimed.message_id;
  auto ids = client_.Publish(options_.dead_letter_topic, {m});
  if (!ids) return std::unexpected(ids.error());
  return {};
}

Status PubSubEventQueue::DeadLetter(int64_t seq, const std::string& error, int64_t /*now_epoch_s*/) {
  auto c = Lookup(seq);
  if (!c) return Fail(ErrorCode::kNotFound, "no claimed event " + std::to_string(seq));
  if (Status s = PublishDeadLetter(*c, error); !s) return s;
  if (Status s = client_.Acknowledge(options_.subscription, {c->ack_id}); !s) return s;
  Forget(seq);
  return {};
}

Result<std::vector<ports::QueuedEvent>> PubSubEventQueue::ListEvents(bool, int) { return NotSupported("events list"); }

Result<int64_t> PubSubEventQueue::Redrive(std::optional<int64_t>, int64_t) { return NotSupported("redrive"); }

Result<int64_t> PubSubEventQueue::PendingCount() { return NotSupported("pending count"); }

}  // namespace dl::adapters::pubsub
