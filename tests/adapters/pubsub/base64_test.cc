#include "adapters/pubsub/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace dl::adapters::pubsub {
namespace {

TEST(Base64, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, UrlAlphabetHasNoPaddingAndRoundTrips) {
  const std::string bytes("\xfb\xff\xfe\x00\x01", 5);
  EXPECT_EQ(Base64Encode(bytes), "+//+AAE=");
  EXPECT_EQ(Base64UrlEncode(bytes), "-__-AAE");
  EXPECT_EQ(Base64Decode("-__-AAE"), bytes);
  EXPECT_EQ(Base64Decode("+//+AAE="), bytes);
}

TEST(Base64, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("ab$c"));
  EXPECT_FALSE(Base64Decode("abcde"));
}

}  // namespace
}  // namespace dl::adapters::pubsub
