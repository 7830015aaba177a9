// Route matching: literal segments must match exactly, "{name}" captures one
// non-empty segment. Among routes matching the same request, the one with
// the most literal segments wins (registration order breaks ties), so
// "/a/latest" beats "/a/{id}" whatever the order they were added in.
#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "http/server.h"

namespace dl::http {
namespace {

// "/a/b" -> {"a","b"}; "/" -> {""}; "/a/" -> {"a",""} (a trailing slash is
// a distinct, empty segment, so "/a/" does not match "/a").
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsCapture(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Number of literal segments when `path` matches `pattern`, -1 otherwise.
int MatchScore(const std::vector<std::string>& pattern,
               const std::vector<std::string_view>& path) {
  if (pattern.size() != path.size()) return -1;
  int literals = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsCapture(pattern[i])) {
      if (path[i].empty()) return -1;
    } else if (pattern[i] == path[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  return literals;
}

std::map<std::string, std::string> Captures(const std::vector<std::string>& pattern,
                                            const std::vector<std::string_view>& path) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsCapture(pattern[i])) {
      out[pattern[i].substr(1, pattern[i].size() - 2)] = std::string(path[i]);
    }
  }
  return out;
}

std::string AllowHeader(std::vector<std::string> methods) {
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end()) {
    methods.push_back("HEAD");
  }
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

}  // namespace

// Throws std::invalid_argument for a malformed pattern: a start-up bug.
void Router::Add(const std::string& method, const std::string& pattern, Handler handler) {
  if (method.empty() || pattern.empty() || pattern.front() != '/' || !handler) {
    throw std::invalid_argument("http route needs a method, a handler and a path starting with /");
  }
  Route route{method, {}, std::move(handler)};
  for (std::string_view segment : SplitPath(pattern)) {
    bool braces = segment.find_first_of("{}") != std::string_view::npos;
    if (braces && (!IsCapture(segment) || segment.size() == 2 ||
                   segment.substr(1, segment.size() - 2).find_first_of("{}") !=
                       std::string_view::npos)) {
      throw std::invalid_argument("malformed capture in http route pattern");
    }
    route.segments.emplace_back(segment);
  }
  routes_.push_back(std::move(route));
}

Response Router::Dispatch(Request& request) const {
  const std::vector<std::string_view> path = SplitPath(request.path);
  const Route* best = nullptr;      // same method
  const Route* best_get = nullptr;  // GET, serves HEAD without a HEAD route
  int best_score = -1;
  int best_get_score = -1;
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    int score = MatchScore(route.segments, path);
    if (score < 0) continue;
    allowed.push_back(route.method);
    if (route.method == request.method && score > best_score) {
      best = &route;
      best_score = score;
    } else if (route.method == "GET" && request.method == "HEAD" && score > best_get_score) {
      best_get = &route;
      best_get_score = score;
    }
  }
  if (best == nullptr) best = best_get;
  if (best != nullptr) {
    request.path_params = Captures(best->segments, path);
    return best->handler(request);
  }
  if (allowed.empty()) return Response::Error(404, "not found");
  Response response = Response::Error(405, "method not allowed");
  response.headers.emplace_back("Allow", AllowHeader(std::move(allowed)));
  return response;
}

}  // namespace dl::http
