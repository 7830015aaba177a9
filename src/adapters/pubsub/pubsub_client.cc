#include "adapters/pubsub/pubsub_client.h"

#include <curl/curl.h>

#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "adapters/pubsub/base64.h"

namespace dl::adapters::pubsub {
namespace {

using nlohmann::json;

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Google's error body is {"error":{"code":..,"message":..,"status":..}}; the
// emulator sometimes answers plain text ("Not Found").
std::string GoogleMessage(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    const json& err = parsed["error"];
    std::string status = err.value("status", "");
    std::string message = err.value("message", "");
    return status.empty() ? message : status + ": " + message;
  }
  return body.substr(0, 200);
}

Error ErrorFromHttp(long status, const std::string& body, const std::string& what) {
  const std::string message = what + ": HTTP " + std::to_string(status) + " " + GoogleMessage(body);
  if (status == 404) return {ErrorCode::kNotFound, message};
  if (status == 401) return {ErrorCode::kUnauthorized, message};
  if (status == 403) return {ErrorCode::kForbidden, message};
  if (status == 409) return {ErrorCode::kConflict, message};
  if (status == 429 || status >= 500) return {ErrorCode::kTransient, message};
  if (status >= 400) return {ErrorCode::kInvalidArgument, message};
  return {ErrorCode::kProtocol, message};
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '+' || c == '%';
}

// Creation is idempotent: "already exists" is the state we wanted.
Status CreatedOrExisting(long status, const std::string& body, const std::string& what) {
  if (status == 200 || status == 409) return Ok();
  return std::unexpected(ErrorFromHttp(status, body, what));
}

Result<json> ParseOk(long status, const std::string& body, const std::string& what) {
  if (status != 200) return std::unexpected(ErrorFromHttp(status, body, what));
  json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object()) return Fail(ErrorCode::kProtocol, what + ": response is not a JSON object");
  return parsed;
}

Result<ReceivedMessage> ParseReceived(const json& item) {
  if (!item.is_object() || !item.contains("message") || !item["message"].is_object()) {
    return Fail(ErrorCode::kProtocol, "pull: receivedMessages entry without message");
  }
  const json& msg = item["message"];
  ReceivedMessage out;
  out.ack_id = item.value("ackId", "");
  out.message_id = msg.value("messageId", "");
  out.ordering_key = msg.value("orderingKey", "");
  out.delivery_attempt = item.value("deliveryAttempt", 0);
  auto data = Base64Decode(msg.value("data", ""));
  if (!data) return Fail(ErrorCode::kProtocol, "pull: message data is not base64");
  out.data = std::move(*data);
  if (msg.contains("attributes") && msg["attributes"].is_object()) {
    for (const auto& [key, value] : msg["attributes"].items()) {
      if (value.is_string()) out.attributes[key] = value.get<std::string>();
    }
  }
  if (out.ack_id.empty()) return Fail(ErrorCode::kProtocol, "pull: message without ackId");
  return out;
}

}  // namespace

std::string DefaultEndpoint() {
  const char* host = std::getenv("PUBSUB_EMULATOR_HOST");
  if (host != nullptr && *host != '\0') return std::string("http://") + host;
  return "https://pubsub.googleapis.com";
}

Status ValidateResourceId(std::string_view kind, std::string_view id) {
  const std::string quoted = std::string(kind) + " id '" + std::string(id) + "'";
  if (id.size() < 3 || id.size() > 255) {
    return Fail(ErrorCode::kInvalidArgument, quoted + " must be 3 to 255 characters long");
  }
  const char first = id.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) {
    return Fail(ErrorCode::kInvalidArgument, quoted + " must start with a letter");
  }
  for (char c : id) {
    if (!IsIdChar(c)) return Fail(ErrorCode::kInvalidArgument, quoted + " may only contain letters, digits and -_.~+%");
  }
  if (id.starts_with("goog")) return Fail(ErrorCode::kInvalidArgument, quoted + " must not start with 'goog'");
  return Ok();
}

PubSubClient::PubSubClient(PubSubOptions options) : options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = DefaultEndpoint();
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

PubSubClient::~PubSubClient() = default;

std::string PubSubClient::TopicName(std::string_view topic) const {
  return "projects/" + options_.project_id + "/topics/" + std::string(topic);
}

std::string PubSubClient::SubscriptionName(std::string_view subscription) const {
  return "projects/" + options_.project_id + "/subscriptions/" + std::string(subscription);
}

Result<PubSubClient::Reply> PubSubClient::Call(const char* method, const std::string& path,
                                              const std::string& json_body) {
  std::string auth_header;
  if (options_.token_provider) {
    auto token = options_.token_provider();
    if (!token) return std::unexpected(token.error());
    auth_header = "Authorization: Bearer " + *token;
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!auth_header.empty()) headers = curl_slist_append(headers, auth_header.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, &curl_slist_free_all);
  const std::string url = options_.endpoint + "/v1/" + path;
  Reply reply;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    // The URL holds no secret (the token travels in a header).
    return Fail(ErrorCode::kTransient, std::string(method) + " " + url + ": " +
                                           (error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

Status PubSubClient::CreateTopic(std::string_view topic) {
  if (auto ok = ValidateResourceId("topic", topic); !ok) return ok;
  auto reply = Call("PUT", TopicName(topic), "{}");
  if (!reply) return std::unexpected(reply.error());
  return CreatedOrExisting(reply->status, reply->body, "create topic " + std::string(topic));
}

Status PubSubClient::CreateSubscription(std::string_view topic, std::string_view subscription,
                                        const SubscriptionOptions& sub_options) {
  if (auto ok = ValidateResourceId("topic", topic); !ok) return ok;
  if (auto ok = ValidateResourceId("subscription", subscription); !ok) return ok;
  json body = {{"topic", TopicName(topic)},
               {"ackDeadlineSeconds", sub_options.ack_deadline_s},
               {"enableMessageOrdering", sub_options.enable_message_ordering}};
  if (!sub_options.dead_letter_topic.empty()) {
    if (auto ok = ValidateResourceId("dead-letter topic", sub_options.dead_letter_topic); !ok) return ok;
    body["deadLetterPolicy"] = {{"deadLetterTopic", TopicName(sub_options.dead_letter_topic)},
                                {"maxDeliveryAttempts", sub_options.max_delivery_attempts}};
  }
  auto reply = Call("PUT", SubscriptionName(subscription), body.dump());
  if (!reply) return std::unexpected(reply.error());
  return CreatedOrExisting(reply->status, reply->body,
                           "create subscription " + std::string(subscription));
}

Result<std::vector<std::string>> PubSubClient::Publish(std::string_view topic, const std::vector<Message>& messages) {
  if (auto ok = ValidateResourceId("topic", topic); !ok) return std::unexpected(ok.error());
  if (messages.empty() || messages.size() > 1000) {
    return Fail(ErrorCode::kInvalidArgument, "publish: 1 to 1000 messages per call");
  }
  json list = json::array();
  for (const Message& m : messages) {
    json item = {{"data", Base64Encode(m.data)}};
    if (!m.attributes.empty()) item["attributes"] = m.attributes;
    if (!m.ordering_key.empty()) item["orderingKey"] = m.ordering_key;
    list.push_back(std::move(item));
  }
  const std::string what = "publish to " + std::string(topic);
  auto reply = Call("POST", TopicName(topic) + ":publish", json{{"messages", list}}.dump());
  if (!reply) return std::unexpected(reply.error());
  auto parsed = ParseOk(reply->status, reply->body, what);
  if (!parsed) return std::unexpected(parsed.error());
  std::vector<std::string> ids;
  if (parsed->contains("messageIds") && (*parsed)["messageIds"].is_array()) {
    for (const json& id : (*parsed)["messageIds"]) {
      if (id.is_string()) ids.push_back(id.get<std::string>());
    }
  }
  if (ids.size() != messages.size()) return Fail(ErrorCode::kProtocol, what + ": message id count differs");
  return ids;
}

Result<std::vector<ReceivedMessage>> PubSubClient::Pull(std::string_view subscription, int32_t max_messages,
                                                        bool return_immediately) {
  if (auto ok = ValidateResourceId("subscription", subscription); !ok) return std::unexpected(ok.error());
  if (max_messages < 1) return Fail(ErrorCode::kInvalidArgument, "pull: max_messages must be at least 1");
  json body = {{"maxMessages", max_messages}};
  if (return_immediately) body["returnImmediately"] = true;
  const std::string what = "pull from " + std::string(subscription);
  auto reply = Call("POST", SubscriptionName(subscription) + ":pull", body.dump());
  if (!reply) return std::unexpected(reply.error());
  auto parsed = ParseOk(reply->status, reply->body, what);
  if (!parsed) return std::unexpected(parsed.error());
  std::vector<ReceivedMessage> out;
  if (!parsed->contains("receivedMessages")) return out;  // nothing available
  for (const json& item : (*parsed)["receivedMessages"]) {
    auto received = ParseReceived(item);
    if (!received) return std::unexpected(received.error());
    out.push_back(std::move(*received));
  }
  return out;
}

Status PubSubClient::Acknowledge(std::string_view subscription, const std::vector<std::string>& ack_ids) {
  if (auto ok = ValidateResourceId("subscription", subscription); !ok) return ok;
  if (ack_ids.empty()) return Ok();
  auto reply = Call("POST", SubscriptionName(subscription) + ":acknowledge", json{{"ackIds", ack_ids}}.dump());
  if (!reply) return std::unexpected(reply.error());
  auto parsed = ParseOk(reply->status, reply->body, "acknowledge on " + std::string(subscription));
  if (!parsed) return std::unexpected(parsed.error());
  return Ok();
}

Status PubSubClient::ModifyAckDeadline(std::string_view subscription, const std::vector<std::string>& ack_ids,
                                       int32_t seconds) {
  if (auto ok = ValidateResourceId("subscription", subscription); !ok) return ok;
  if (seconds < 0 || seconds > 600) return Fail(ErrorCode::kInvalidArgument, "ack deadline must be 0..600 s");
  if (ack_ids.empty()) return Ok();
  json body = {{"ackIds", ack_ids}, {"ackDeadlineSeconds", seconds}};
  auto reply = Call("POST", SubscriptionName(subscription) + ":modifyAckDeadline", body.dump());
  if (!reply) return std::unexpected(reply.error());
  auto parsed = ParseOk(reply->status, reply->body, "modifyAckDeadline on " + std::string(subscription));
  if (!parsed) return std::unexpected(parsed.error());
  return Ok();
}

}  // namespace dl::adapters::pubsub
