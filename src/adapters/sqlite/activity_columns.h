// The mapping between core::Activity and the typed columns of the
// `activities` table, defined once: binding, reading, the content hash and
// the generated SQL all walk the same list, so a field cannot be forgotten in
// one of them. The list's order is the table's column order (schema.cc).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/activity.h"

namespace dl::adapters::sqlite {

class Query;

struct ActivityColumn {
  const char* name;
  // 1-based parameter. Text is bound by reference (Query::BindTextRef): `a`
  // must outlive the query's use.
  void (*bind)(Query& query, int index, const core::Activity& a);
  void (*read)(const Query& query, int column, core::Activity& a);  // 0-based column
  void (*append)(std::string& key, const core::Activity& a);        // hash input
};

// Every typed column, id and athlete_id first.
std::span<const ActivityColumn> ActivityColumns();

// XXH64 over the raw JSON and a canonical encoding of every typed field:
// equal exactly when the stored row would be identical.
int64_t ContentHash(const core::Activity& a);

// Statements generated from the column list, built once.
// Plain INSERT and UPDATE rather than an UPSERT: the caller knows whether the
// row exists, and single-row statements need no statement journal.
struct ActivitySql {
  // Parameters: the typed columns (1..N), then category, local_date,
  // start_epoch_s, content_hash, first_seen_at, updated_at,
  // webhook_changed_at, seen_by_run.
  std::string insert;
  // The same parameters (first_seen_at unused; NULL webhook_changed_at or
  // seen_by_run keep the stored value), then row_id.
  std::string update;
  // Selects the typed columns then raw codec and bytes; ?1 athlete, ?2 id.
  std::string select_one;
  // Same columns; ?1 athlete, ?2/?3 first/last local date; ordered by start.
  std::string select_range;
  // Copies one row with its raw JSON into deleted_activities;
  // ?1 athlete, ?2 id, ?3 deleted_at, ?4 reason.
  std::string archive;
  int bookkeeping_first_param;  // index of `category`
  int row_id_param;             // index of row_id in `update`
};
const ActivitySql& Sql();

class MultiRowInsert;  // connection.h

// "INSERT OR FAIL INTO activities (row_id, <the insert's columns>) VALUES
// (...), ..." for up to 16 rows: per row, the row_id then the parameters of
// ActivitySql::insert, numbered on (anonymous '?').
const MultiRowInsert& InsertRows();

}  // namespace dl::adapters::sqlite
