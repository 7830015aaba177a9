#include "app/auth.h"

#include <sstream>

namespace dl::app {
namespace {

std::string First(const std::multimap<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? std::string{} : it->second;
}

}  // namespace

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string BuildAuthorizeUrl(const std::string& oauth_url, const std::string& client_id,
                              const std::string& redirect_uri, const std::string& state) {
  return oauth_url + "/authorize?client_id=" + UrlEncode(client_id) + "&redirect_uri=" + UrlEncode(redirect_uri) +
         "&response_type=code&approval_prompt=force&scope=" + UrlEncode(std::string("read,") + kRequiredScope) +
         "&state=" + UrlEncode(state);
}

bool ScopeContains(const std::string& scopes, const std::string& wanted) {
  std::stringstream ss(scopes);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == wanted) return true;
  }
  return false;
}

bool RedirectHasState(const std::multimap<std::string, std::string>& query, const std::string& expected_state) {
  return !expected_state.empty() && First(query, "state") == expected_state;
}

Result<std::string> CheckAuthorizationRedirect(const std::multimap<std::string, std::string>& query,
                                               const std::string& expected_state) {
  if (!RedirectHasState(query, expected_state)) {
    return Fail(ErrorCode::kInvalidArgument, "the redirect's state does not match this authorization; ignored");
  }
  std::string error = First(query, "error");
  if (!error.empty()) {
    return Fail(ErrorCode::kUnauthorized,
                error == "access_denied" ? "authorization was declined on Strava's page; nothing was stored"
                                         : "Strava answered the authorization with error '" + error + "'");
  }
  std::string code = First(query, "code");
  if (code.empty()) return Fail(ErrorCode::kInvalidArgument, "the redirect carries no code");
  std::string scope = First(query, "scope");
  if (!ScopeContains(scope, kRequiredScope)) {
    return Fail(ErrorCode::kMissingScope,
                "the athlete did not grant 'View data about your private activities' (activity:read_all); "
                "run `desirelines auth` again and leave that box ticked");
  }
  return code;
}

}  // namespace dl::app
