// Internal to the PostgreSQL adapter: the mapping between core::Activity and
// the typed columns of `activities`, defined once. Sending a page (one array
// per column), reading rows, the content hash and the generated SQL all walk
// the same list, so a field cannot be forgotten in one of them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/activity.h"

namespace dl::adapters::postgres {

class ArrayBuilder;
class Rows;

struct ActivityColumn {
  const char* name;
  const char* sql_type;  // "bigint", "double precision", "boolean", "text"
  uint32_t element_oid;  // the binary element type of the column's array parameter
  void (*append)(ArrayBuilder& array, const core::Activity& a);
  void (*read)(const Rows& rows, int row, int col, core::Activity& a);
  void (*hash)(std::string& key, const core::Activity& a);
};

// Every typed column, id and athlete_id first (raw_json is not one of them).
std::span<const ActivityColumn> ActivityColumns();

// SHA-256 over a canonical encoding of every typed field and the raw JSON:
// equal exactly when the stored row would be identical. 32 bytes (empty if
// OpenSSL fails: callers treat an empty hash as different from every other).
std::string ContentHash(const core::Activity& a);

// Statements generated from the column list, built once. Pages travel as
// one array parameter per column and are expanded with unnest().
struct ActivitySql {
  // Parameters ($1..): the typed columns, raw_json, then category,
  // local_date, start_epoch_s, content_hash, first_seen_at, updated_at,
  // webhook_changed_at, seen_by_run; all arrays of equal length.
  std::string insert;
  // The same parameters; rows matched by (athlete_id, id); first_seen_at unused.
  std::string update;
  // The typed columns then raw_json; $1 athlete, $2 id.
  std::string select_one;
  std::string select_one_for_update;  // the same, FOR UPDATE
  // Same columns; $1 athlete, $2/$3 first/last local date; ordered by start.
  std::string select_range;
  // Copies rows with their raw JSON into deleted_activities;
  // $1 athlete, $2 ids (bigint[]), $3 deleted_at, $4 reason.
  std::string archive;
};
const ActivitySql& Sql();

}  // namespace dl::adapters::postgres
