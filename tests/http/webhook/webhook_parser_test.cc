#include "http/webhook/webhook_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "http/webhook/webhook_cases.h"

namespace dl::http::webhook {
namespace {

using testing::BaseEvent;
using testing::InvalidCases;
using testing::Json;
using testing::Patched;
using testing::With;
using testing::WithUpdatesOfSize;
using testing::Without;

TEST(WebhookParser, ParsesStravasExample) {
  auto event = ParseWebhookEvent(BaseEvent().dump());
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->object_type, "activity");
  EXPECT_EQ(event->object_id, 1360128428);
  EXPECT_EQ(event->aspect_type, "update");
  EXPECT_EQ(event->owner_id, 134815);
  EXPECT_EQ(event->subscription_id, 120475);
  EXPECT_EQ(event->event_time, 1516126040);
  EXPECT_EQ(event->title, "Messy");
  EXPECT_FALSE(event->type);
  EXPECT_FALSE(event->is_private);
  EXPECT_FALSE(event->authorized);
  EXPECT_EQ(event->updates_json, R"({"title":"Messy"})");
}

TEST(WebhookParser, ReadsEveryUpdateField) {
  auto event = ParseWebhookEvent(With(
      "updates", Json{{"title", "Évening ride"}, {"type", "Ride"}, {"private", "true"}, {"visibility", "only_me"}}));
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->title, "Évening ride");
  EXPECT_EQ(event->type, "Ride");
  EXPECT_EQ(event->is_private, true);
  EXPECT_EQ(event->visibility, "only_me");
  auto not_private = ParseWebhookEvent(With("updates", Json{{"private", "false"}}));
  ASSERT_TRUE(not_private);
  EXPECT_EQ(not_private->is_private, false);
}

TEST(WebhookParser, ReadsADeauthorization) {
  auto event = ParseWebhookEvent(
      R"({"aspect_type":"update","event_time":1516126040,"object_id":134815,"object_type":"athlete",)"
      R"("owner_id":134815,"subscription_id":120475,"updates":{"authorized":"false"}})");
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_TRUE(event->IsDeauthorization());
  EXPECT_EQ(event->authorized, false);
}

TEST(WebhookParser, AcceptsWhatStravaMayAlsoSend) {
  // A create with {}, no updates at all, extra keys, big ids, whitespace.
  auto create = ParseWebhookEvent(With("aspect_type", "create").replace(0, 0, " \n"));
  ASSERT_TRUE(create) << create.error().message;
  EXPECT_EQ(create->aspect_type, "create");

  auto no_updates = ParseWebhookEvent(Without("updates"));
  ASSERT_TRUE(no_updates) << no_updates.error().message;
  EXPECT_EQ(no_updates->updates_json, "{}");

  Json extra = BaseEvent();
  extra["new_field"] = Json{{"nested", Json::array({1, 2.5, nullptr})}};
  extra["updates"]["some_new_key"] = "value";
  auto tolerant = ParseWebhookEvent(extra.dump());
  ASSERT_TRUE(tolerant) << tolerant.error().message;

  auto big = ParseWebhookEvent(With("object_id", int64_t{12345678901234}));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->object_id, 12345678901234);
  auto max = ParseWebhookEvent(With("owner_id", int64_t{9223372036854775807}));
  ASSERT_TRUE(max);
  EXPECT_EQ(max->owner_id, 9223372036854775807);

  auto epoch = ParseWebhookEvent(With("event_time", 0));
  ASSERT_TRUE(epoch);
  EXPECT_EQ(epoch->event_time, 0);
}

TEST(WebhookParser, UpdatesOfExactly2000CharactersAreAccepted) {
  auto at_limit = ParseWebhookEvent(WithUpdatesOfSize(2000));
  ASSERT_TRUE(at_limit) << at_limit.error().message;
  EXPECT_EQ(at_limit->updates_json.size(), 2000u);
  EXPECT_FALSE(ParseWebhookEvent(WithUpdatesOfSize(2001)));
}

TEST(WebhookParser, ToleratesNestingInUnknownKeysUpTo1024Levels) {
  auto Nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  auto event = ParseWebhookEvent(R"({"x":)" + Nested(1000) + "," + BaseEvent().dump().substr(1));
  EXPECT_TRUE(event) << event.error().message;
  auto deep = ParseWebhookEvent(R"({"x":)" + Nested(5000) + "," + BaseEvent().dump().substr(1));
  ASSERT_FALSE(deep);
  EXPECT_TRUE(deep.error().message.starts_with("malformed JSON: ")) << deep.error().message;
  EXPECT_NE(deep.error().message.find("too deep"), std::string::npos) << deep.error().message;
  // Nesting inside `updates` is refused as a non-string value.
  auto nested = ParseWebhookEvent(
      Patched(With("updates", Json::object()), R"("updates":{})", R"("updates":{"t":)" + Nested(500) + "}"));
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().message, "updates.t must be a string");
}

TEST(WebhookParser, KeepsUpdatesAsReceivedInOrder) {
  auto event = ParseWebhookEvent(Patched(BaseEvent().dump(), R"({"title":"Messy"})",
                                         R"({ "type" : "Run", "title":"a\"b\u00e9" })"));
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->updates_json, R"({"type":"Run","title":"a\"bé"})");
  EXPECT_EQ(event->title, "a\"bé");
}

TEST(WebhookParser, DuplicateKeysOnlyMatterWhereWeRead) {
  auto in_updates = ParseWebhookEvent(With("updates", Json::object()).replace(
      BaseEvent().dump().find(R"("updates":)") + 10, 2, R"({"title":"a","title":"b"})"));
  ASSERT_FALSE(in_updates);
  EXPECT_EQ(in_updates.error().message, R"(malformed JSON: duplicate key "title")");
  auto deeper = ParseWebhookEvent(R"({"extra":{"k":1,"k":2},)" + BaseEvent().dump().substr(1));
  EXPECT_TRUE(deeper);
}

TEST(WebhookParser, RejectsEachInvalidBodyWithItsMessage) {
  for (const auto& c : InvalidCases()) {
    SCOPED_TRACE(c.name);
    auto event = ParseWebhookEvent(c.body);
    ASSERT_FALSE(event) << c.body;
    EXPECT_EQ(event.error().code, ErrorCode::kInvalidArgument);
    if (c.prefix_only) {
      EXPECT_TRUE(event.error().message.starts_with(c.message)) << event.error().message;
      EXPECT_NE(event.error().message.find(c.fragment), std::string::npos) << event.error().message;
    } else {
      EXPECT_EQ(event.error().message, c.message);
    }
  }
}

TEST(WebhookParser, SyntaxErrorsGiveThePositionAndQuoteLittleOfTheBody) {
  // nlohmann-json 3.11's wording, as shipped by Debian 12.
  EXPECT_EQ(ParseWebhookEvent(R"({"a":1} x)").error().message,
            "malformed JSON: parse error at line 1, column 9: syntax error while parsing value - invalid literal; "
            "last read: '1} x'; expected end of input");
  EXPECT_EQ(ParseWebhookEvent("").error().message,
            "malformed JSON: parse error at line 1, column 1: syntax error while parsing value - unexpected end "
            "of input; expected '[', '{', or a literal");
  const std::string long_token = R"({"a":")" + std::string(500, 'a') + R"(b\q"})";
  const std::string m = ParseWebhookEvent(long_token).error().message;
  EXPECT_TRUE(m.starts_with("malformed JSON: parse error at line 1, column 509: ")) << m;
  EXPECT_TRUE(m.ends_with("last read: '...aaaaaaaaaaaaaaaaaaaaaaaaaaaaab\\q'")) << m;
  EXPECT_LT(m.size(), 300u);
}

TEST(WebhookParser, EchoedTextIsPrintableAndBounded) {
  auto event = ParseWebhookEvent(With("aspect_type", std::string("\x01\x7f") + std::string(500, 'z')));
  ASSERT_FALSE(event);
  const std::string& m = event.error().message;
  EXPECT_TRUE(m.starts_with("unknown aspect_type \"??zzz")) << m;
  EXPECT_LT(m.size(), 220u);
  for (char ch : m) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << m;
}

// ---- fuzz: mutated and random bodies against an independent oracle ----

// The rules of webhook_parser.h checked with nlohmann-json, a different
// parser from the one under test: true when `body` is a valid event equal to
// `event`.
class Oracle {
 public:
  bool Confirms(const std::string& body, const core::WebhookEvent& event) {
    Json root;
    if (!Parse(body, root) || !root.is_object()) return false;
    if (Str(root, "object_type", {"activity", "athlete"}) != event.object_type ||
        Str(root, "aspect_type", {"create", "update", "delete"}) != event.aspect_type ||
        Int(root, "object_id", 1) != event.object_id || Int(root, "owner_id", 1) != event.owner_id ||
        Int(root, "subscription_id", 1) != event.subscription_id || Int(root, "event_time", 0) != event.event_time) {
      return false;
    }
    return UpdatesOk(root.contains("updates") ? root["updates"] : Json::object(), event);
  }

 private:
  // Strict parse; false on a syntax error or a duplicate key at the top
  // level or directly in "updates".
  static bool Parse(const std::string& body, Json& out) {
    struct Frame {
      bool object;
      bool checked;
      std::set<std::string> keys;
    };
    std::vector<Frame> stack;
    std::string top_key;
    bool duplicate = false;
    auto cb = [&](int, Json::parse_event_t ev, Json& parsed) {
      using E = Json::parse_event_t;
      if (ev == E::object_start || ev == E::array_start) {
        const bool checked = ev == E::object_start && (stack.empty() || (stack.size() == 1 && top_key == "updates"));
        stack.push_back({ev == E::object_start, checked, {}});
      } else if (ev == E::object_end || ev == E::array_end) {
        stack.pop_back();
      } else if (ev == E::key) {
        const auto& k = parsed.get_ref<const std::string&>();
        if (stack.size() == 1) top_key = k;
        if (stack.back().checked && !stack.back().keys.insert(k).second) duplicate = true;
      }
      return true;
    };
    out = Json::parse(body, cb, false);
    return !out.is_discarded() && !duplicate;
  }
  static std::string Str(const Json& o, const char* name, std::set<std::string> allowed) {
    if (!o.contains(name) || !o[name].is_string() || !allowed.contains(o[name].get<std::string>())) return "<invalid>";
    return o[name].get<std::string>();
  }
  static int64_t Int(const Json& o, const char* name, int64_t min) {
    if (!o.contains(name) || !o[name].is_number_integer()) return -1;
    if (o[name].is_number_unsigned() && o[name].get<uint64_t>() > uint64_t{INT64_MAX}) return -1;
    const auto v = o[name].get<int64_t>();
    return v >= min ? v : -1;
  }
  static bool UpdatesOk(const Json& updates, const core::WebhookEvent& event) {
    if (!updates.is_object() || event.updates_json.size() > kMaxUpdatesChars) return false;
    for (const auto& [key, value] : updates.items()) {
      if (!value.is_string()) return false;
      const auto& s = value.get_ref<const std::string&>();
      if ((key == "private" || key == "authorized") && s != "true" && s != "false") return false;
    }
    auto Opt = [&](const char* k) { return updates.contains(k) ? std::optional(updates[k].get<std::string>()) : std::nullopt; };
    auto Bool = [&](const char* k) { return updates.contains(k) ? std::optional(updates[k] == "true") : std::nullopt; };
    // updates_json is the same object, re-serialised.
    return Json::parse(event.updates_json, nullptr, false) == updates && Opt("title") == event.title &&
           Opt("type") == event.type && Opt("visibility") == event.visibility &&
           Bool("private") == event.is_private && Bool("authorized") == event.authorized;
  }
};

std::string Mutate(std::string body, std::mt19937_64& rng) {
  static const std::string kAlphabet = "{}[]\":,.-+eE0123456789 \\tfnul\x80\xff\x01aZ";
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < edits; ++i) {
    const size_t pos = body.empty() ? 0 : rng() % body.size();
    const char c = kAlphabet[rng() % kAlphabet.size()];
    switch (rng() % 5) {
      case 0: if (!body.empty()) body[pos] = c; break;
      case 1: body.insert(pos, 1, c); break;
      case 2: if (!body.empty()) body.erase(pos, 1 + rng() % 4); break;
      case 3: body.resize(pos); break;
      default: body.insert(pos, body.substr(rng() % (body.size() + 1), rng() % 12)); break;
    }
  }
  return body;
}

std::vector<std::string> ValidSeeds() {
  return {BaseEvent().dump(), With("aspect_type", "create"), Without("updates"),
          With("updates", Json{{"private", "true"}, {"type", "Run"}}), WithUpdatesOfSize(2000),
          R"({"aspect_type":"update","event_time":1,"object_id":9,"object_type":"athlete",)"
          R"("owner_id":9,"subscription_id":1,"updates":{"authorized":"false"}})"};
}
std::vector<std::string> InvalidSeeds() {
  std::vector<std::string> seeds;
  for (const auto& c : InvalidCases()) seeds.push_back(c.body);
  return seeds;
}

TEST(WebhookParserFuzz, AcceptsOnlyWhatAnIndependentParserConfirms) {
  std::mt19937_64 rng(20261128);  // fixed seed: reproducible
  const std::vector<std::string> valid = ValidSeeds(), invalid = InvalidSeeds();
  Oracle oracle;
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string body;
    if (i % 10 == 9) {  // pure noise
      body.resize(rng() % 64);
      for (char& c : body) c = static_cast<char>(rng() % 256);
    } else if (i % 2 == 0) {  // mostly small edits of valid events: near misses
      body = Mutate(valid[rng() % valid.size()], rng);
    } else {
      body = Mutate(invalid[rng() % invalid.size()], rng);
    }
    auto event = ParseWebhookEvent(body);
    if (event) {
      ++accepted;
      ASSERT_TRUE(oracle.Confirms(body, *event)) << "accepted an invalid body: " << body;
    } else {
      ++rejected;
      ASSERT_EQ(event.error().code, ErrorCode::kInvalidArgument);
      ASSERT_FALSE(event.error().message.empty());
    }
  }
  // Both paths were exercised, not just one.
  EXPECT_GT(accepted, 300);
  EXPECT_GT(rejected, 5000);
  std::printf("[ info ] fuzz: %d accepted, %d rejected\n", accepted, rejected);
}

}  // namespace
}  // namespace dl::http::webhook
