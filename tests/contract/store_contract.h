// The store port's contract: one GoogleTest suite that every implementation
// of ports::Store must pass (SQLite now, PostgreSQL next).
//
// Use: compile store_contract.cc into the implementation's test executable
// (include root ${CMAKE_SOURCE_DIR}/tests, as for fakes/) and instantiate the suite with a factory that returns a fresh, empty,
// migrated store built with core::SportCategories::Default():
//
//   using dl::contract::StoreContractTest;  // the macro wants the bare name
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//                            ::testing::Values(dl::contract::StoreContractParam{"sqlite", MakeStore}),
//                            dl::contract::StoreContractName);
//
// Every test calls the factory once; the stores it returns must not share data.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "ports/store.h"

namespace dl::contract {

using StoreFactory = std::function<std::unique_ptr<ports::Store>()>;

struct StoreContractParam {
  std::string name;  // [A-Za-z0-9_]+, used in test names
  StoreFactory make;
};

// GoogleTest prints the parameter of a failing test with this.
void PrintTo(const StoreContractParam& param, std::ostream* os);

std::string StoreContractName(const ::testing::TestParamInfo<StoreContractParam>& info);

class StoreContractTest : public ::testing::TestWithParam<StoreContractParam> {
 protected:
  void SetUp() override;
  ports::Store& store() { return *store_; }

 private:
  std::unique_ptr<ports::Store> store_;
};

// A fully populated activity (every optional set) with a realistic raw JSON
// of about 2 KB; `start_date_local` as "YYYY-MM-DDTHH:MM:SSZ" (local wall
// clock), start_date derived from it and a UTC offset of -5 h.
core::Activity MakeActivity(int64_t athlete_id, int64_t id, const std::string& start_date_local,
                            const std::string& type = "Ride", double distance_m = 25000.5);

}  // namespace dl::contract
