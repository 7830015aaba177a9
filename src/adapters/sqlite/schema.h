// Versioned schema migrations of the SQLite store. Each migration is frozen
// once released: a change is a new migration with the next version.
#pragma once

#include <span>

#include "core/result.h"

namespace dl::adapters::sqlite {

class Connection;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

std::span<const Migration> Migrations();
int LatestVersion();

// Applies the pending migrations in one write transaction, each recorded in
// schema_migrations(version, applied_at). Safe when several processes start
// at once: the write lock serialises them and the second finds nothing to do.
// A database newer than this program is refused.
Status ApplyMigrations(Connection& connection);
Result<int> CurrentVersion(Connection& connection);

}  // namespace dl::adapters::sqlite
