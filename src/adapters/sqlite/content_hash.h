// A fast 64-bit content hash (XXH64, written out here to avoid a dependency)
// used to decide "unchanged" on upsert. Stable across platforms and versions:
// the value is stored in the database.
#pragma once

#include <cstdint>
#include <string_view>

namespace dl::adapters::sqlite {

uint64_t Xxh64(std::string_view data, uint64_t seed = 0);

}  // namespace dl::adapters::sqlite
