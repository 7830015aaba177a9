// The OAuth authorization-code flow of `desirelines auth`: the authorize URL
// for the configured client, and the checks on the redirect Strava sends back
// to our loopback listener (state, error, granted scope).
#pragma once

#include <map>
#include <string>

#include "core/result.h"

namespace dl::app {

inline constexpr const char* kRequiredScope = "activity:read_all";

std::string UrlEncode(const std::string& s);

// {oauth_url}/authorize?client_id=..&redirect_uri=..&response_type=code
//   &approval_prompt=force&scope=read,activity:read_all&state=..
std::string BuildAuthorizeUrl(const std::string& oauth_url, const std::string& client_id,
                              const std::string& redirect_uri, const std::string& state);

// True when the redirect carries `expected_state`: only such a request is
// Strava's answer to this authorization; any other is foreign (another local
// process, a stale tab of an earlier run) and must not end the flow.
bool RedirectHasState(const std::multimap<std::string, std::string>& query, const std::string& expected_state);

// Checks the redirect's query: a state that does not match (kInvalidArgument;
// checked first, so a foreign request is never taken for a denial), an
// `error` (the athlete said no), a scope without activity:read_all
// (kMissingScope, in plain words). Returns the code.
Result<std::string> CheckAuthorizationRedirect(const std::multimap<std::string, std::string>& query,
                                               const std::string& expected_state);

// True when the comma-separated scope list contains `wanted`.
bool ScopeContains(const std::string& scopes, const std::string& wanted);

}  // namespace dl::app
