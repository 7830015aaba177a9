// Internal to the PostgreSQL adapter: versioned schema migrations. Each
// migration is frozen once released: a change is a new migration with the
// next version. Migrations run only when asked (`desirelines migrate`,
// PostgresStore::Migrate, OpenOptions::migrate); Open checks the version.
#pragma once

#include <span>

#include "core/result.h"

namespace dl::adapters::postgres {

class ConnectionPool;
class Connection;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

std::span<const Migration> Migrations();
int LatestVersion();

// The highest applied version; 0 for a database without schema_migrations.
Result<int> CurrentVersion(Connection& c);

// Applies the pending migrations in one transaction, each recorded in
// schema_migrations(version, description, applied_at). Several processes may
// call it at once: a transaction-scoped advisory lock serialises them and
// the later ones find nothing to do. A database newer than this program is
// refused.
Status ApplyMigrations(ConnectionPool& pool);

}  // namespace dl::adapters::postgres
