#include "http/api/http_policy.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

namespace dl::http::api {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view StripWeak(std::string_view tag) {
  if (tag.size() >= 2 && (tag[0] == 'W' || tag[0] == 'w') && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

bool Allowed(const std::optional<std::string>& origin, const std::vector<std::string>& allowed) {
  return origin && std::find(allowed.begin(), allowed.end(), *origin) != allowed.end();
}

}  // namespace

std::string BodyEtag(std::string_view body) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ULL;  // FNV prime
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  if (Trim(if_none_match) == "*") return true;
  const std::string_view want = StripWeak(etag);
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    const std::string_view tag = Trim(if_none_match.substr(0, comma));
    if (StripWeak(tag) == want) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

Response Conditional(const Request& request, Response response, const std::string& cache_control,
                     std::optional<std::string> etag) {
  if (response.status != 200) {
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }
  const std::string tag = etag ? *etag : BodyEtag(response.body);
  response.headers.emplace_back("ETag", tag);
  response.headers.emplace_back("Cache-Control", cache_control);
  const auto inm = request.Header("If-None-Match");
  if (inm && EtagMatches(*inm, tag)) {
    response.status = 304;
    response.body.clear();
  }
  return response;
}

void ApplyCors(const Request& request, Response& response, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return;
  // The answer depends on Origin whenever an allow-list exists.
  response.headers.emplace_back("Vary", "Origin");
  const auto origin = request.Header("Origin");
  if (!Allowed(origin, allowed)) return;
  response.headers.emplace_back("Access-Control-Allow-Origin", *origin);
  response.headers.emplace_back("Access-Control-Expose-Headers", "ETag");
}

Response Preflight(const Request& request, const std::vector<std::string>& allowed, const std::string& methods) {
  const auto origin = request.Header("Origin");
  if (!Allowed(origin, allowed)) {
    Response denied = Response::Error(403, "origin not allowed");
    if (!allowed.empty()) denied.headers.emplace_back("Vary", "Origin");
    return denied;
  }
  Response response;
  response.status = 204;
  response.content_type.clear();
  response.headers = {{"Access-Control-Allow-Origin", *origin},
                      {"Access-Control-Allow-Methods", methods},
                      {"Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match"},
                      {"Access-Control-Max-Age", "600"},
                      {"Vary", "Origin"}};
  return response;
}

void ApplySecurityHeaders(Response& response) {
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
}

std::optional<std::string> BearerToken(const Request& request) {
  const auto header = request.Header("Authorization");
  if (!header) return std::nullopt;
  std::string_view v = Trim(*header);
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::nullopt;
  }
  return std::string(Trim(v.substr(kScheme.size())));
}

bool TokensEqual(std::string_view presented, std::string_view expected) {
  // Every byte of `expected` is visited whatever `presented` holds; the
  // length difference is folded into the same accumulator.
  unsigned diff = presented.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0 && !expected.empty();
}

}  // namespace dl::http::api
