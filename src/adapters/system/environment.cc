#include "adapters/system/environment.h"

#include <cstdlib>

namespace dl::adapters::system {

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

}  // namespace dl::adapters::system
