// Decoding of request targets (RFC 3986 percent-encoding, and the
// application/x-www-form-urlencoded '+' in queries). Pure functions, no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::http {

// Percent-decodes `in`; with `plus_as_space` a '+' becomes ' ' (queries only).
// nullopt on a malformed escape ("%", "%4", "%zz") or a decoded NUL byte.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space);

// Parses "a=1&b=x+y&c" into decoded pairs ("c" maps to ""); empty pieces are
// skipped. nullopt when any name or value is malformed.
std::optional<std::multimap<std::string, std::string>> ParseQuery(std::string_view query);

struct DecodedTarget {
  std::string path;  // decoded, starts with '/'
  std::multimap<std::string, std::string> query;
};

// Splits a request target (origin form "/p?q", or absolute form
// "http://host/p?q") and decodes both parts. kInvalidArgument with a message
// fit for a 400 when the target is not one of those forms, an escape is
// malformed, or the decoded path holds a control character (NUL, CR, LF...).
Result<DecodedTarget> DecodeTarget(std::string_view target);

// `s` as a JSON string literal, quotes included (UTF-8 passes through).
std::string JsonQuote(std::string_view s);

}  // namespace dl::http
