#include "adapters/pubsub/dead_letters.h"

#include <algorithm>

namespace dl::adapters::pubsub {
namespace {

constexpr int kRedriveAllLimit = 100'000;  // one `--retry-all` re-drives at most this many

DeadLetterMessage Describe(const ReceivedMessage& m) {
  DeadLetterMessage d;
  d.message_id = m.message_id;
  if (auto e = DecodeEvent(m.data)) d.event = std::move(*e);
  auto error = m.attributes.find("error");
  // Without our attribute the subscription's dead-letter policy moved it.
  d.error = error != m.attributes.end() ? error->second
                                        : "delivery attempts exhausted (the subscription's dead-letter policy)";
  if (!d.event) d.error = "not a webhook event; " + d.error;
  if (auto it = m.attributes.find("received_at"); it != m.attributes.end()) {
    try {
      d.received_at = std::stoll(it->second);
    } catch (const std::exception&) {
    }
  }
  d.delivery_attempt = m.delivery_attempt;
  d.data = m.data;
  d.attributes = m.attributes;
  d.ordering_key = m.ordering_key;
  return d;
}

}  // namespace

DeadLetters::DeadLetters(PubSubClient& client, DeadLettersOptions options)
    : client_(client), options_(std::move(options)) {}

Result<std::vector<ReceivedMessage>> DeadLetters::PullAll(int limit) {
  std::vector<ReceivedMessage> all;
  while (static_cast<int>(all.size()) < limit) {
    const int32_t want = std::min(100, limit - static_cast<int>(all.size()));
    auto pulled = client_.Pull(options_.subscription, want, /*return_immediately=*/true);
    if (!pulled) {
      (void)HandBack(all);  // they would come back after their deadline anyway
      return std::unexpected(pulled.error());
    }
    if (pulled->empty()) break;
    // Pulled messages stay outstanding until handed back, so a later pull
    // never returns one of them again.
    for (auto& m : *pulled) all.push_back(std::move(m));
  }
  return all;
}

Status DeadLetters::HandBack(const std::vector<ReceivedMessage>& messages) {
  for (size_t i = 0; i < messages.size(); i += 1000) {
    std::vector<std::string> ack_ids;
    for (size_t k = i; k < std::min(messages.size(), i + 1000); ++k) ack_ids.push_back(messages[k].ack_id);
    if (Status s = client_.ModifyAckDeadline(options_.subscription, ack_ids, 0); !s) return s;
  }
  return Ok();
}

Result<std::vector<DeadLetterMessage>> DeadLetters::List(int limit) {
  auto pulled = PullAll(std::max(limit, 1));
  if (!pulled) return std::unexpected(pulled.error());
  if (Status s = HandBack(*pulled); !s) return std::unexpected(s.error());
  std::vector<DeadLetterMessage> out;
  out.reserve(pulled->size());
  for (const auto& m : *pulled) out.push_back(Describe(m));
  return out;
}

Status DeadLetters::Republish(const ReceivedMessage& m) {
  Message again{.data = m.data, .attributes = m.attributes, .ordering_key = m.ordering_key};
  again.attributes.erase("error");
  again.attributes.erase("source_message_id");
  again.attributes.erase("prior_attempts");  // a re-driven event gets its full allowance again
  again.attributes["redriven_from"] = m.message_id;
  if (again.ordering_key.empty()) {
    // Dead letters published by the inserters carry no ordering key.
    if (auto e = DecodeEvent(m.data)) again.ordering_key = OrderingKey(*e);
  }
  auto ids = client_.Publish(options_.events_topic, {again});
  if (!ids) return std::unexpected(ids.error());
  // Acked only once republished: a crash in between leaves a duplicate at
  // worst, which the idempotent inserters absorb.
  return client_.Acknowledge(options_.subscription, {m.ack_id});
}

Result<int64_t> DeadLetters::Redrive(const std::optional<std::string>& message_id) {
  auto pulled = PullAll(kRedriveAllLimit);
  if (!pulled) return std::unexpected(pulled.error());
  int64_t moved = 0;
  std::vector<ReceivedMessage> keep;
  Status failed;
  for (const auto& m : *pulled) {
    if ((message_id && m.message_id != *message_id) || !failed) {
      keep.push_back(m);
      continue;
    }
    failed = Republish(m);
    if (failed) {
      ++moved;
    } else {
      keep.push_back(m);
    }
  }
  Status handed_back = HandBack(keep);
  if (!failed) return std::unexpected(failed.error());
  if (!handed_back) return std::unexpected(handed_back.error());
  if (message_id && moved == 0) {
    return Fail(ErrorCode::kNotFound, "no dead letter with message id " + *message_id +
                                          " (list them with `desirelines events --transport pubsub --failed`)");
  }
  return moved;
}

}  // namespace dl::adapters::pubsub
