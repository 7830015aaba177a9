// Access tokens from the Google Compute Engine metadata server (GCE, GKE,
// Cloud Run): the credentials of the service account the machine runs as,
// for when neither the emulator nor a key file is configured.
//
//   GET http://HOST/computeMetadata/v1/instance/service-accounts/default/token
//   Metadata-Flavor: Google
//   -> {"access_token": "...", "expires_in": 3599, "token_type": "Bearer"}
//
// HOST is $GCE_METADATA_HOST when set (as Google's client libraries allow),
// else metadata.google.internal. Tokens are cached until 60 s before they
// expire. Errors never contain the token or the server's body:
//   network failure, 5xx        -> kTransient
//   401/403/404 (no service account, missing scope) -> kUnauthorized
//   other status, unreadable answer -> kProtocol
// Thread-safe: concurrent callers share one fetch.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "adapters/pubsub/service_account.h"
#include "core/result.h"

namespace dl::adapters::pubsub {

inline constexpr const char* kDefaultMetadataHost = "metadata.google.internal";

// $GCE_METADATA_HOST when set and non-empty, else kDefaultMetadataHost.
std::string MetadataHostFromEnv();

class MetadataTokenSource {
 public:
  // `host` is HOST[:PORT] (no scheme).
  MetadataTokenSource(std::string host, std::function<int64_t()> now_epoch_s, int64_t timeout_ms = 5'000);
  Result<std::string> Token();

 private:
  Result<AccessToken> Fetch(int64_t now_epoch_s);

  const std::string host_;
  const std::function<int64_t()> now_epoch_s_;
  const int64_t timeout_ms_;
  CachedToken cache_;
};

}  // namespace dl::adapters::pubsub
