#include "adapters/system/environment.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace dl::adapters::system {
namespace {

TEST(GetEnv, ReadsSetVariablesAndTreatsEmptyAsUnset) {
  ::setenv("DL_ENV_TEST_VALUE", "abc=1", 1);
  ::setenv("DL_ENV_TEST_EMPTY", "", 1);
  ::unsetenv("DL_ENV_TEST_UNSET");
  EXPECT_EQ(GetEnv("DL_ENV_TEST_VALUE"), "abc=1");
  EXPECT_EQ(GetEnv("DL_ENV_TEST_EMPTY"), std::nullopt);
  EXPECT_EQ(GetEnv("DL_ENV_TEST_UNSET"), std::nullopt);
}

}  // namespace
}  // namespace dl::adapters::system
