#include "adapters/sqlite/dedup_ops.h"

#include "adapters/sqlite/connection.h"

namespace dl::adapters::sqlite {
namespace {

constexpr const char* kPrune = "DELETE FROM received_events WHERE received_at < ?1";
constexpr const char* kRecord =
    "INSERT INTO received_events (dedup_key, received_at) VALUES (?1, ?2) ON CONFLICT (dedup_key) DO NOTHING";
constexpr const char* kForget = "DELETE FROM received_events WHERE dedup_key = ?1";

}  // namespace

Result<std::vector<bool>> RecordKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                     int64_t retention_s) {
  {
    auto prune = c.Prepare(kPrune);
    if (!prune) return std::unexpected(prune.error());
    prune->Bind(1, now_epoch_s - retention_s);
    if (Status s = prune->Run(); !s) return std::unexpected(s.error());
  }
  std::vector<bool> fresh;
  fresh.reserve(keys.size());
  for (const std::string& key : keys) {
    auto q = c.Prepare(kRecord);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, key);
    q->Bind(2, now_epoch_s);
    if (Status s = q->Run(); !s) return std::unexpected(s.error());
    fresh.push_back(c.Changes() > 0);
  }
  return fresh;
}

Status ForgetKeys(Connection& c, std::span<const std::string> keys) {
  for (const std::string& key : keys) {
    auto q = c.Prepare(kForget);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, key);
    if (Status s = q->Run(); !s) return s;
  }
  return Ok();
}

}  // namespace dl::adapters::sqlite
