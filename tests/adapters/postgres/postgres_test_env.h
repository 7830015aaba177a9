// What postgres_test_main.cc provides to the tests of this executable.
#pragma once

#include <string>

#include "core/result.h"

namespace dl::adapters::postgres::testing {

// The admin URL (database `postgres`) of the server this process uses.
const std::string& AdminUrl();

// Why this process has no server (empty when it has one).
const std::string& ServerError();

// A new, empty database on that server (dropped when the process ends, or
// with the server); returns its URL.
Result<std::string> CreateDatabase();

}  // namespace dl::adapters::postgres::testing
