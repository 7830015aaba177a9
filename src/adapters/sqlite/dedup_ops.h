// Internal to the SQLite adapter: ports::DedupStore over received_events,
// the table EnqueueBatch records its dedup keys in. Every function runs in
// the caller's transaction.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace dl::adapters::sqlite {

class Connection;

// Prunes keys older than now - retention_s, then records each key; element i
// is true when keys[i] was new (a repeat within the call is false).
Result<std::vector<bool>> RecordKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                     int64_t retention_s);
Status ForgetKeys(Connection& c, std::span<const std::string> keys);

}  // namespace dl::adapters::sqlite
