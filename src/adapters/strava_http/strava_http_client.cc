#include "adapters/strava_http/strava_http_client.h"

#include <curl/curl.h>

#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "adapters/strava_http/strava_errors.h"
#include "adapters/strava_http/strava_json.h"

namespace dl::adapters::strava_http {
namespace {

using Param = std::pair<std::string, std::string>;

std::string EncodeParams(const std::vector<Param>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += UrlEncode(k);
    out += '=';
    out += UrlEncode(v);
  }
  return out;
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// "/api/v3/athlete/activities" from a full URL: how errors name a request,
// so that no query string (which may hold the client secret) is ever shown.
std::string PathOf(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (start == std::string::npos) return "/";
  size_t end = url.find_first_of("?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

struct HttpRequest {
  const char* method = "GET";
  std::string url;          // may carry secrets in its query: never shown
  std::vector<Param> form;  // POST body, form-encoded (may carry secrets)
  std::string bearer;       // access token, or empty
  Endpoint endpoint = Endpoint::kApi;
};

struct HttpResult {
  Status transport;  // error when no complete answer arrived
  int status = 0;
  HeaderList headers;
  std::string body;
};

Error TransportError(CURLcode code, const char* detail, const std::string& label) {
  std::string what = std::string(curl_easy_strerror(code));
  if (detail != nullptr && *detail != '\0') what += std::string(": ") + detail;
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error{ErrorCode::kInvalidArgument,
                   "the Strava URL for " + label + " is not usable (" + what + ")"};
    case CURLE_PEER_FAILED_VERIFICATION:
      return Error{ErrorCode::kProtocol, "TLS verification failed for " + label + " (" + what + ")"};
    default:
      // Refused, reset, timed out, cut short: the network's moods, retryable.
      return Error{ErrorCode::kTransient, "no complete answer from Strava for " + label + " (" + what + ")"};
  }
}

}  // namespace

struct StravaHttpClient::Impl {
  StravaHttpOptions options;
  std::mutex mu;  // guards everything below
  CURL* curl = nullptr;
  ActivityParser parser;
  std::vector<std::vector<core::Activity>> spare_pages;  // RecyclePage's, parsed into by ListActivities
  HttpResult result;
  // The last answer's body buffer, reused by the next: a page's body
  // (hundreds of KB) then arrives without regrowing from empty.
  std::string spare_body;
  bool body_too_large = false;
  char error_buffer[CURL_ERROR_SIZE] = {};

  HttpResult Perform(const HttpRequest& request);
  // curl callbacks; `user` is the Impl.
  static size_t OnBody(char* data, size_t size, size_t n, void* user);
  static size_t OnHeader(char* data, size_t size, size_t n, void* user);
  void Configure(const HttpRequest& request, curl_slist* headers, const std::string& form);
  template <class T, class Parse>
  ports::ApiResponse<T> Call(const HttpRequest& request, Parse&& parse);
};

size_t StravaHttpClient::Impl::OnBody(char* data, size_t size, size_t n, void* user) {
  auto* impl = static_cast<Impl*>(user);
  size_t bytes = size * n;
  if (impl->result.body.size() + bytes > impl->options.max_body_bytes) {
    impl->body_too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  impl->result.body.append(data, bytes);
  return bytes;
}

size_t StravaHttpClient::Impl::OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* impl = static_cast<Impl*>(user);
  std::string_view line(data, size * n);
  // A new status line starts a new header block (after a 1xx answer).
  if (line.starts_with("HTTP/")) impl->result.headers.clear();
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    impl->result.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return size * n;
}

void StravaHttpClient::Impl::Configure(const HttpRequest& request, curl_slist* headers,
                                       const std::string& form) {
  curl_easy_reset(curl);  // keeps the live connections, so keep-alive survives
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
  std::string_view method = request.method;
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method);
  }
}

HttpResult StravaHttpClient::Impl::Perform(const HttpRequest& request) {
  result = HttpResult{};
  result.body = std::move(spare_body);
  result.body.clear();
  body_too_large = false;
  error_buffer[0] = '\0';
  std::string form = EncodeParams(request.form);
  std::string auth = request.bearer.empty() ? "" : "Authorization: Bearer " + request.bearer;
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  if (!auth.empty()) headers = curl_slist_append(headers, auth.c_str());
  Configure(request, headers, form);
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  std::string label = std::string(request.method) + " " + PathOf(request.url);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  if (body_too_large) {
    result.transport = Fail(ErrorCode::kProtocol, "Strava's answer to " + label + " is larger than " +
                                                      std::to_string(options.max_body_bytes) + " bytes");
  } else if (code != CURLE_OK) {
    result.transport = std::unexpected(TransportError(code, error_buffer, label));
  }
  return std::move(result);
}

template <class T, class Parse>
ports::ApiResponse<T> StravaHttpClient::Impl::Call(const HttpRequest& request, Parse&& parse) {
  HttpResult r = Perform(request);
  ports::ApiResponse<T> out{Fail(ErrorCode::kInternal, "unset"), ParseRateLimitHeaders(r.headers), r.status};
  if (!r.transport) {
    out.value = std::unexpected(std::move(r.transport.error()));
  } else if (r.status >= 200 && r.status < 300) {
    out.value = parse(r);
  } else {
    out.value = std::unexpected(MapHttpError(r.status, r.body, request.endpoint, out.rate));
  }
  constexpr size_t kKeepBodyBytes = size_t{8} << 20;  // an odd huge answer is not held on to
  if (r.body.capacity() <= kKeepBodyBytes) spare_body = std::move(r.body);
  return out;
}

StravaHttpClient::StravaHttpClient(StravaHttpOptions options) : impl_(std::make_unique<Impl>()) {
  // curl_global_init is idempotent and thread-safe in the curl we build on
  // (7.84+); curl_easy_init would call it anyway.
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->options = std::move(options);
  impl_->options.api_url = TrimSlash(impl_->options.api_url);
  impl_->options.oauth_url = TrimSlash(impl_->options.oauth_url);
  impl_->curl = curl_easy_init();
  if (impl_->curl == nullptr) throw std::runtime_error("curl_easy_init failed");  // fatal start-up error
}

StravaHttpClient::~StravaHttpClient() { curl_easy_cleanup(impl_->curl); }

ports::ApiResponse<ports::TokenSet> StravaHttpClient::ExchangeCode(const std::string& code) {
  std::lock_guard lock(impl_->mu);
  HttpRequest r{"POST",
                impl_->options.oauth_url + "/token",
                {{"client_id", impl_->options.client_id},
                 {"client_secret", impl_->options.client_secret},
                 {"code", code},
                 {"grant_type", "authorization_code"}},
                "",
                Endpoint::kOAuthToken};
  return impl_->Call<ports::TokenSet>(r, [](HttpResult& h) { return ParseTokenSet(h.body); });
}

ports::ApiResponse<ports::TokenSet> StravaHttpClient::Refresh(const std::string& refresh_token) {
  std::lock_guard lock(impl_->mu);
  HttpRequest r{"POST",
                impl_->options.oauth_url + "/token",
                {{"client_id", impl_->options.client_id},
                 {"client_secret", impl_->options.client_secret},
                 {"grant_type", "refresh_token"},
                 {"refresh_token", refresh_token}},
                "",
                Endpoint::kOAuthToken};
  return impl_->Call<ports::TokenSet>(r, [](HttpResult& h) { return ParseTokenSet(h.body); });
}

ports::ApiResponse<ports::Athlete> StravaHttpClient::GetAthlete(const std::string& access_token) {
  std::lock_guard lock(impl_->mu);
  HttpRequest r{"GET", impl_->options.api_url + "/athlete", {}, access_token, Endpoint::kApi};
  return impl_->Call<ports::Athlete>(r, [](HttpResult& h) { return ParseAthlete(h.body); });
}

ports::ApiResponse<std::vector<core::Activity>> StravaHttpClient::ListActivities(
    const std::string& access_token, const ports::ListQuery& query) {
  std::lock_guard lock(impl_->mu);
  std::vector<Param> params;
  if (query.before_epoch_s) params.emplace_back("before", std::to_string(*query.before_epoch_s));
  if (query.after_epoch_s) params.emplace_back("after", std::to_string(*query.after_epoch_s));
  params.emplace_back("page", std::to_string(query.page));
  params.emplace_back("per_page", std::to_string(query.per_page));
  HttpRequest r{"GET",
                impl_->options.api_url + "/athlete/activities?" + EncodeParams(params),
                {},
                access_token,
                Endpoint::kApi};
  Impl& impl = *impl_;
  return impl.Call<std::vector<core::Activity>>(r, [&](HttpResult& h) -> Result<std::vector<core::Activity>> {
    std::vector<core::Activity> page;
    if (!impl.spare_pages.empty()) {
      page = std::move(impl.spare_pages.back());
      impl.spare_pages.pop_back();
    }
    if (Status s = impl.parser.ParsePageInPlace(h.body, page); !s) return std::unexpected(s.error());
    return page;
  });
}

void StravaHttpClient::RecyclePage(std::vector<core::Activity> page) {
  // A caller recycles about as many pages as it lists; a few spares cover
  // the pages in flight at once without holding on to more.
  constexpr size_t kMaxSpares = 4;
  std::lock_guard lock(impl_->mu);
  if (impl_->spare_pages.size() < kMaxSpares) impl_->spare_pages.push_back(std::move(page));
}

ports::ApiResponse<core::Activity> StravaHttpClient::GetActivity(const std::string& access_token,
                                                                 int64_t id) {
  std::lock_guard lock(impl_->mu);
  HttpRequest r{
      "GET", impl_->options.api_url + "/activities/" + std::to_string(id), {}, access_token, Endpoint::kApi};
  Impl& impl = *impl_;
  return impl.Call<core::Activity>(r, [&](HttpResult& h) { return impl.parser.ParseOne(h.body); });
}

ports::ApiResponse<int64_t> StravaHttpClient::CreateSubscription(const std::string& callback_url,
                                                                 const std::string& verify_token) {
  std::lock_guard lock(impl_->mu);
  HttpRequest r{"POST",
                impl_->options.api_url + "/push_subscriptions",
                {{"client_id", impl_->options.client_id},
                 {"client_secret", impl_->options.client_secret},
                 {"callback_url", callback_url},
                 {"verify_token", verify_token}},
                "",
                Endpoint::kSubscriptions};
  return impl_->Call<int64_t>(r, [](HttpResult& h) { return ParseSubscriptionId(h.body); });
}

ports::ApiResponse<std::vector<ports::Subscription>> StravaHttpClient::ListSubscriptions() {
  std::lock_guard lock(impl_->mu);
  std::string query = EncodeParams(
      {{"client_id", impl_->options.client_id}, {"client_secret", impl_->options.client_secret}});
  HttpRequest r{
      "GET", impl_->options.api_url + "/push_subscriptions?" + query, {}, "", Endpoint::kSubscriptions};
  return impl_->Call<std::vector<ports::Subscription>>(
      r, [](HttpResult& h) { return ParseSubscriptions(h.body); });
}

ports::ApiResponse<bool> StravaHttpClient::DeleteSubscription(int64_t id) {
  std::lock_guard lock(impl_->mu);
  std::string query = EncodeParams(
      {{"client_id", impl_->options.client_id}, {"client_secret", impl_->options.client_secret}});
  HttpRequest r{"DELETE",
                impl_->options.api_url + "/push_subscriptions/" + std::to_string(id) + "?" + query,
                {},
                "",
                Endpoint::kSubscriptions};
  return impl_->Call<bool>(r, [](HttpResult&) -> Result<bool> { return true; });
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace dl::adapters::strava_http
