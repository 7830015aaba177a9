// Read-only look at another store file: the (athlete, activity) keys it holds,
// for `desirelines replay --missing-from OTHER.db`. Opens the file read-only
// and never migrates or writes it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "core/result.h"

namespace dl::adapters::sqlite {

using ActivityKey = std::pair<int64_t, int64_t>;  // (athlete_id, id)

Result<std::set<ActivityKey>> ReadActivityKeys(const std::string& path);

}  // namespace dl::adapters::sqlite
