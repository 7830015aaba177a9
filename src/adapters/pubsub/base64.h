// Base64 for Pub/Sub message data (standard alphabet, padded) and for JWTs
// (URL-safe alphabet, no padding, RFC 7515 section 2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dl::adapters::pubsub {

std::string Base64Encode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);  // no '=' padding
// Accepts both alphabets, with or without padding; nullopt on bad input.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace dl::adapters::pubsub
