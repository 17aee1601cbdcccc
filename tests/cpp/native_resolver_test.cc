// Native resolvers (statefold/native.h): the schema and codec shared with Python, and the
// semantic rules of docs/semantics.md for C++ resolvers on the engine.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "engine_fixture.h"
#include "state/state_schema.h"
#include "statefold/native.h"
#include "test_resolver.h"

namespace statefold {
namespace {

struct Point {
  double x = 0;
  double y = 0;
};
STATEFOLD_STRUCT(Point, x, y)

struct Everything {
  bool flag = false;
  int32_t small = 0;
  int64_t big = 0;
  double ratio = 0;
  std::string text;
  Bytes raw;
  std::chrono::sys_time<std::chrono::microseconds> seen;
  std::optional<std::string> maybe;
  std::vector<int64_t> numbers;
  std::set<std::string> tags;
  std::map<std::string, std::vector<Point>> paths;
  std::tuple<std::string, int64_t> pair;
  Point origin;
};
STATEFOLD_STRUCT(Everything, flag, small, big, ratio, text, raw, seen, maybe, numbers, tags, paths,
                 pair, origin)

TEST(NativeCodecTest, SchemaIsThePythonSchemaOfTheSameType) {
  // What statefold.schema.describe() writes for
  //   class LoginState(BaseModel): unique_ips: Set[str] = set()
  std::string schema;
  codec::AppendSchema<testing::LoginState>(&schema);
  EXPECT_EQ(
      schema,
      R"({"kind":"record","name":"LoginState","fields":[{"name":"unique_ips","type":{"kind":"set","items":{"kind":"str"}}}]})");
  schema.clear();
  codec::AppendSchema<Point>(&schema);
  EXPECT_EQ(
      schema,
      R"({"kind":"record","name":"Point","fields":[{"name":"x","type":{"kind":"float"}},{"name":"y","type":{"kind":"float"}}]})");
}

TEST(NativeCodecTest, EveryKindRoundTripsAndPrintsAsJson) {
  Everything value;
  value.flag = true;
  value.small = -7;
  value.big = int64_t{1} << 50;
  value.ratio = 0.25;
  value.text = "h\xc3\xa9\"llo";
  value.raw = Bytes(std::string("\x00\xff", 2));
  value.seen =
      std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(1767225600123456));
  value.maybe = "yes";
  value.numbers = {3, -1, 2};
  value.tags = {"b", "a"};
  value.paths["home"] = {Point{1, 2}, Point{3.5, -4}};
  value.pair = {"k", 9};
  value.origin = Point{0.5, 0};

  std::string bytes;
  ByteWriter writer(&bytes);
  codec::Encode(value, &writer);
  Everything decoded;
  ByteReader reader(bytes);
  ASSERT_TRUE(codec::Decode(&reader, &decoded));
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(decoded.text, value.text);
  EXPECT_EQ(decoded.raw, value.raw);
  EXPECT_EQ(decoded.seen, value.seen);
  EXPECT_EQ(decoded.maybe, value.maybe);
  EXPECT_EQ(decoded.numbers, value.numbers);
  EXPECT_EQ(decoded.tags, value.tags);
  EXPECT_EQ(decoded.paths["home"][1].x, 3.5);
  EXPECT_EQ(decoded.pair, value.pair);
  EXPECT_EQ(decoded.big, value.big);

  // `statefold state get` reads the bytes through the schema alone, as for Python states.
  std::string schema_json;
  codec::AppendSchema<Everything>(&schema_json);
  StateSchema schema;
  ASSERT_TRUE(StateSchema::Parse(schema_json, &schema).ok());
  std::string json;
  Status status = schema.PayloadToJson(bytes, &json);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(
      json,
      "{\"flag\":true,\"small\":-7,\"big\":1125899906842624,\"ratio\":0.25,\"text\":"
      "\"h\xc3\xa9\\\"llo\","
      R"("raw":"AP8=","seen":"2026-01-01T00:00:00.123456+00:00","maybe":"yes",)"
      R"("numbers":[3,-1,2],"tags":["a","b"],"paths":{"home":[{"x":1,"y":2},{"x":3.5,"y":-4}]},)"
      R"("pair":["k",9],"origin":{"x":0.5,"y":0}})");
}

TEST(FlatSetTest, KeepsUniqueItemsInOrderAndLooksUpViews) {
  FlatSet<std::string> set{"b", "a"};
  EXPECT_TRUE(set.insert(std::string_view("c")).second);
  EXPECT_FALSE(set.insert("a").second);
  EXPECT_FALSE(set.emplace(std::string_view("b")).second);
  EXPECT_EQ(std::vector<std::string>(set.begin(), set.end()),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(set.contains(std::string_view("b")));
  EXPECT_FALSE(set.contains("d"));
  EXPECT_EQ(set.count("c"), 1u);
  EXPECT_EQ(set.erase("b"), 1u);
  EXPECT_EQ(set.erase("b"), 0u);
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.find("z"), set.end());
}

TEST(FlatSetTest, OrdersStringsAsStdStringDoes) {
  std::vector<std::string> items = {
      "",         "a",        "ab",        "b",    "10.0.0.1", "10.0.0.10",    "10.0.0.2",
      "abcdefgh", "abcdefgi", "abcdefghi", "\xff", "\x01\xff", "abcdefgh\xff", "abcdefgh\x01"};
  for (const std::string& a : items) {
    for (const std::string& b : items) {
      int expected = std::string_view(a).compare(b);
      int got = CompareShortStrings(a, b);
      EXPECT_EQ((expected > 0) - (expected < 0), got) << a << " vs " << b;
    }
  }
  FlatSet<std::string> set(std::initializer_list<std::string>{});
  for (const std::string& item : items) set.insert(item);
  std::vector<std::string> sorted = items;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::vector<std::string>(set.begin(), set.end()), sorted);
}

TEST(FlatSetTest, IsStoredAsASetWithTheBytesOfStdSet) {
  // Same schema and bytes as std::set (and so as Python's set[str]): states move between them.
  std::string flat_schema, set_schema;
  codec::AppendSchema<FlatSet<std::string>>(&flat_schema);
  codec::AppendSchema<std::set<std::string>>(&set_schema);
  EXPECT_EQ(flat_schema, set_schema);
  FlatSet<std::string> flat{"10.0.0.2", "10.0.0.1"};
  std::string flat_bytes, set_bytes;
  ByteWriter flat_writer(&flat_bytes), set_writer(&set_bytes);
  codec::Encode(flat, &flat_writer);
  codec::Encode(std::set<std::string>{"10.0.0.1", "10.0.0.2"}, &set_writer);
  EXPECT_EQ(flat_bytes, set_bytes);
  FlatSet<std::string> decoded;
  ByteReader reader(set_bytes);
  ASSERT_TRUE(codec::Decode(&reader, &decoded));
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(decoded, flat);
}

TEST(NativeCodecTest, TruncatedOrForeignBytesDoNotDecode) {
  Everything value;
  value.numbers = {1, 2, 3};
  std::string bytes;
  ByteWriter writer(&bytes);
  codec::Encode(value, &writer);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    ByteReader reader(std::string_view(bytes).substr(0, cut));
    Everything decoded;
    EXPECT_FALSE(codec::Decode(&reader, &decoded) && reader.AtEnd()) << "cut at " << cut;
  }
  std::string point_bytes;
  ByteWriter point_writer(&point_bytes);
  codec::Encode(Point{1, 2}, &point_writer);
  ByteReader reader(point_bytes);
  Everything decoded;
  EXPECT_FALSE(codec::Decode(&reader, &decoded));  // a record of another field count
}

// ---- Semantics on the engine. ----

struct Visit {
  std::string page;
  std::optional<int64_t> ms;
};
STATEFOLD_STRUCT(Visit, page, ms)

struct VisitState {
  std::vector<std::string> pages;
  int64_t total_ms = 1000;  // a member initializer plays the default
};
STATEFOLD_STRUCT(VisitState, pages, total_ms)

struct PageUser {
  Feature<std::string> id;
  Feature<int64_t> visits;
  Feature<double> seconds;
  Feature<std::vector<std::string>> recent;
  Feature<std::optional<std::string>> referrer;
};
STATEFOLD_STRUCT(PageUser, id, visits, seconds, recent, referrer)

class NativeResolverTest : public EngineFixture {
 protected:
  static std::string VisitLine(const std::string& user, const std::string& page, int64_t ts = 7) {
    return R"({"key": ")" + user + R"(", "value": {"page": ")" + page + R"(", "ms": 500}, )" +
           R"("timestamp": )" + std::to_string(ts) + "}";
  }
};

PageUser TrackVisits(const Visit& visit, State<VisitState>& state) {
  state->pages.push_back(visit.page);
  state->total_ms += visit.ms.value_or(0);
  if (visit.page == "boom") throw std::invalid_argument("bad page");
  return {.id = "fixed",
          .visits = state->pages.size(),
          .seconds = state->total_ms / 1000.0,
          .recent = state->pages,
          .referrer = std::nullopt};
}

TEST_F(NativeResolverTest, MemberInitializersGiveEachNewKeyItsOwnDefaultState) {
  Append({VisitLine("u1", "a"), VisitLine("u2", "b"), VisitLine("u1", "c")});
  NativeRegistry registry;
  registry.AddStream("visits", "logins", TrackVisits);
  RunOnce(registry.resolvers());
  EXPECT_EQ(StateJson("visits", "u1"), R"({"pages":["a","c"],"total_ms":2000})");
  EXPECT_EQ(StateJson("visits", "u2"), R"({"pages":["b"],"total_ms":1500})");
}

TEST_F(NativeResolverTest, AnExplicitInitialStateIsCopiedForEveryNewKey) {
  Append({VisitLine("u1", "a"), VisitLine("u2", "b")});
  NativeRegistry registry;
  registry.AddStream("visits", "logins", TrackVisits, VisitState{{"start"}, 0});
  RunOnce(registry.resolvers());
  EXPECT_EQ(StateJson("visits", "u1"), R"({"pages":["start","a"],"total_ms":500})");
  EXPECT_EQ(StateJson("visits", "u2"), R"({"pages":["start","b"],"total_ms":500})");
}

TEST_F(NativeResolverTest, FeaturesAreWrittenAsThePythonSdkWritesThem) {
  Append({VisitLine("u1", "a", 42)});
  NativeRegistry registry;
  registry.AddStream("visits", "logins", TrackVisits);
  RunOnce(registry.resolvers());
  EXPECT_EQ(Feature("fixed", "id", "page_user"), R"("fixed")");
  EXPECT_EQ(Feature("fixed", "visits", "page_user"), "1");
  EXPECT_EQ(Feature("fixed", "seconds", "page_user"), "1.5");
  EXPECT_EQ(Feature("fixed", "recent", "page_user"), R"(["a"])");
  EXPECT_EQ(Feature("fixed", "referrer", "page_user"), "null");
}

TEST_F(NativeResolverTest, MutationsAreSavedAndTheNextRunContinuesFromThem) {
  Append({VisitLine("u1", "a")});
  {
    NativeRegistry registry;
    registry.AddStream("visits", "logins", TrackVisits);
    RunOnce(registry.resolvers());
  }
  Append({VisitLine("u1", "b")});
  NativeRegistry registry;  // a new process, as far as the state is concerned
  registry.AddStream("visits", "logins", TrackVisits);
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(StateJson("visits", "u1"), R"({"pages":["a","b"],"total_ms":2000})");
}

TEST_F(NativeResolverTest, AThrowingResolverLeavesNoTraceAndProcessingGoesOn) {
  Append({VisitLine("u1", "a"), VisitLine("u1", "boom"), VisitLine("u1", "c")});
  NativeRegistry registry;
  registry.AddStream("visits", "logins", TrackVisits);
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.resolver_errors, 1u);
  EXPECT_EQ(StateJson("visits", "u1"), R"({"pages":["a","c"],"total_ms":2000})");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find(R"("offset":1)"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("resolver visits threw std::invalid_argument: bad page"),
            std::string::npos)
      << dead[0];
}

TEST_F(NativeResolverTest, EventsThatDoNotFitTheEventTypeAreDeadLettered) {
  Append({R"({"key": "u1", "value": {"ms": 5}})", R"({"key": "u1", "value": {"page": 5}})",
          R"({"key": "u1", "value": {"page": "a", "ms": "slow"}})",
          R"({"key": "u1", "value": "just text"})", R"({"key": "u1", "value": {"page": "b"}})",
          R"({"key": "u1", "value": {"page": "c", "ms": null, "extra": [1, {"x": 2}]}})"});
  NativeRegistry registry;
  registry.AddStream("visits", "logins", TrackVisits);
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.dead_letters, 4u);
  EXPECT_EQ(StateJson("visits", "u1"), R"({"pages":["b","c"],"total_ms":1000})");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 4u);
  EXPECT_NE(dead[0].find("does not decode into Visit: field page is missing"), std::string::npos)
      << dead[0];
  EXPECT_NE(dead[1].find("field page: expected a string, got a number"), std::string::npos)
      << dead[1];
  EXPECT_NE(dead[2].find("field ms: expected an integer, got a string"), std::string::npos)
      << dead[2];
  EXPECT_NE(dead[3].find("does not decode into Visit: message value is not valid JSON"),
            std::string::npos)
      << dead[3];
}

struct Nested {
  struct Who {
    std::string id;
  };
  Who user;
  std::string page;
};
STATEFOLD_STRUCT(Nested::Who, id)
STATEFOLD_STRUCT(Nested, user, page)

struct Counter {
  int64_t seen = 0;
};
STATEFOLD_STRUCT(Counter, seen)

struct Account {
  Primary<int64_t> number;
  Feature<int64_t> seen;
  static constexpr std::string_view kNamespace = "acct";
};
STATEFOLD_STRUCT(Account, number, seen)

TEST_F(NativeResolverTest, KeysComeFromAMessageFieldAndIntegerPrimaryKeysAreText) {
  Append({R"({"value": {"user": {"id": "7"}, "page": "a"}})",
          R"({"key": "ignored", "value": {"user": {"id": "7"}, "page": "b"}})",
          R"({"value": {"page": "c"}})"});
  NativeRegistry registry;
  registry
      .AddStream("by_user", "logins",
                 [](const Nested& event, State<Counter>& state) {
                   ++state->seen;
                   return Account{.number = std::stoll(event.user.id), .seen = state->seen};
                 })
      .Keys("user.id");
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.dead_letters, 1u);
  EXPECT_EQ(StateJson("by_user", "7"), R"({"seen":2})");
  EXPECT_EQ(Feature("7", "seen", "acct"), "2");
  EXPECT_EQ(Feature("7", "number", "acct"), "7");
}

TEST_F(NativeResolverTest, StatelessOptionalAndVoidResolvers) {
  Append({VisitLine("u1", "a"), VisitLine("u2", "skip")});
  int64_t void_calls = 0;
  NativeRegistry registry;
  registry.AddStream("pages", "logins", [](const Visit& visit) -> std::optional<PageUser> {
    if (visit.page == "skip") return std::nullopt;
    PageUser user;  // GCC before 14 warns about partial designated initializers
    user.id = visit.page;
    user.visits = 1;
    return user;
  });
  registry.AddStream("count", "logins",
                     [&void_calls](std::string_view raw) { void_calls += raw.starts_with("{"); });
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.outputs, 1u);
  EXPECT_EQ(void_calls, 2);
  EXPECT_EQ(Feature("a", "visits", "page_user"), "1");
  EXPECT_EQ(Feature("skip", "visits", "page_user"), "<none>");
}

TEST_F(NativeResolverTest, AResultWithoutPrimaryKeyIsADeadLetter) {
  Append({VisitLine("u1", "a")});
  NativeRegistry registry;
  registry.AddStream("nokey", "logins", [](const Visit&) {
    PageUser user;
    user.visits = 1;
    return user;
  });
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.resolver_errors, 1u);
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("page_user features have no primary key"), std::string::npos) << dead[0];
}

TEST_F(NativeResolverTest, AnOwnParserReplacesTheJsonMapping) {
  Append({R"({"key": "u1", "value": "a|1"})", R"({"key": "u1", "value": "nopipe"})"});
  NativeRegistry registry;
  registry
      .AddStream("parsed", "logins",
                 [](const Visit& visit, State<VisitState>& state) {
                   state->pages.push_back(visit.page);
                   state->total_ms += *visit.ms;
                 })
      .Parse([](std::string_view value, Visit* visit) {
        size_t bar = value.find('|');
        if (bar == std::string_view::npos)
          return Status::InvalidArgument("no | in " + std::string(value));
        visit->page = std::string(value.substr(0, bar));
        visit->ms = std::stoll(std::string(value.substr(bar + 1)));
        return Status::Ok();
      });
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.dead_letters, 1u);
  EXPECT_EQ(StateJson("parsed", "u1"), R"({"pages":["a"],"total_ms":1001})");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("no | in nopipe"), std::string::npos) << dead[0];
}

}  // namespace
}  // namespace statefold
