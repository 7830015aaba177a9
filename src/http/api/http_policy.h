// HTTP policy shared by the API and the dashboard routes: conditional GETs
// (ETag / If-None-Match), CORS against an allow-list, security headers and
// bearer-token checks. Pure functions over Request/Response; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"

namespace dl::http::api {

inline constexpr const char* kNoCache = "no-cache";  // store, but revalidate each time
inline constexpr const char* kImmutable = "public, max-age=31536000, immutable";
// The dashboard loads only its own files; no inline code, nothing external.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// A strong validator for `body`: "\"" + 16 hex digits of FNV-1a 64 + "\"".
// Change detection only (not a security boundary).
std::string BodyEtag(std::string_view body);

// True when an If-None-Match value ("*", or a comma-separated list of
// possibly weak tags) names `etag` (weak comparison, RFC 9110 13.1.2).
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

// Adds ETag (computed from the body unless given) and Cache-Control to a 200
// answer, and turns it into an empty 304 when the request's If-None-Match
// names it. Other statuses pass through with Cache-Control: no-store.
Response Conditional(const Request& request, Response response, const std::string& cache_control,
                     std::optional<std::string> etag = std::nullopt);

// Access-Control-Allow-Origin (and Vary: Origin) only when the request's
// Origin is exactly one of `allowed`.
void ApplyCors(const Request& request, Response& response, const std::vector<std::string>& allowed);

// The answer to an OPTIONS preflight: 204 with the CORS headers for an
// allowed origin and `methods`, 403 otherwise.
Response Preflight(const Request& request, const std::vector<std::string>& allowed, const std::string& methods);

// nosniff, no referrer, no framing, and the CSP.
void ApplySecurityHeaders(Response& response);

// The token of "Authorization: Bearer <token>" (scheme case-insensitive).
std::optional<std::string> BearerToken(const Request& request);

// Compares in time that depends only on the lengths, not on where the
// strings differ, so a network attacker cannot guess the token byte by byte.
bool TokensEqual(std::string_view presented, std::string_view expected);

}  // namespace dl::http::api
