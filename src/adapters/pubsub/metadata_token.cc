#include "adapters/pubsub/metadata_token.h"

#include <curl/curl.h>

#include <cstdlib>
#include <memory>

namespace dl::adapters::pubsub {
namespace {

size_t OnBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

constexpr size_t kMaxBody = 64 * 1024;  // a token answer is well under 4 KiB

}  // namespace

std::string MetadataHostFromEnv() {
  const char* host = std::getenv("GCE_METADATA_HOST");
  return host != nullptr && *host != '\0' ? std::string(host) : std::string(kDefaultMetadataHost);
}

MetadataTokenSource::MetadataTokenSource(std::string host, std::function<int64_t()> now_epoch_s, int64_t timeout_ms)
    : host_(std::move(host)), now_epoch_s_(std::move(now_epoch_s)), timeout_ms_(timeout_ms) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<std::string> MetadataTokenSource::Token() {
  return cache_.Get(now_epoch_s_(), [this](int64_t now) { return Fetch(now); });
}

Result<AccessToken> MetadataTokenSource::Fetch(int64_t now_epoch_s) {
  const std::string url = "http://" + host_ + "/computeMetadata/v1/instance/service-accounts/default/token";
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Metadata-Flavor: Google"), &curl_slist_free_all);
  CURL* h = curl.get();
  std::string body;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");  // the metadata server is never behind a proxy
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kTransient, "metadata server " + host_ + " (no GOOGLE_APPLICATION_CREDENTIALS or " +
                                           "PUBSUB_EMULATOR_HOST set, so its token was asked for): " +
                                           curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  const std::string where = "metadata server " + host_ + " answered HTTP " + std::to_string(status);
  if (status >= 500) return Fail(ErrorCode::kTransient, where);
  if (status == 401 || status == 403 || status == 404) {
    return Fail(ErrorCode::kUnauthorized, where + ": this machine has no usable service account for Pub/Sub");
  }
  if (status != 200) return Fail(ErrorCode::kProtocol, where);
  if (body.size() > kMaxBody) return Fail(ErrorCode::kProtocol, where + " with an oversized token answer");
  try {
    auto token = ParseTokenResponse(body, now_epoch_s);
    if (!token) return Fail(ErrorCode::kProtocol, where + " but the answer is not a token: " + token.error().message);
    if (token->expires_at_epoch_s <= now_epoch_s) return Fail(ErrorCode::kProtocol, where + " with an expired token");
    return token;
  } catch (const std::exception&) {  // e.g. expires_in of the wrong type; the body is never quoted
    return Fail(ErrorCode::kProtocol, where + " but the answer is not a token");
  }
}

}  // namespace dl::adapters::pubsub
