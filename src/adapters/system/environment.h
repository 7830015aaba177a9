// Reading the process environment (configuration such as STRAVA_CLIENT_ID).
#pragma once

#include <optional>
#include <string>

namespace dl::adapters::system {

// The variable's value; nullopt when unset or empty (an empty value counts
// as unset, as shells make `VAR= cmd` easy to type by mistake).
std::optional<std::string> GetEnv(const std::string& name);

}  // namespace dl::adapters::system
