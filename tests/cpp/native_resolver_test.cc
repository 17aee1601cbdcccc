// Native resolvers (statefold/native.h) on the engine: the semantic rules of docs/semantics.md
// for C++ resolvers, with events decoded by the engine from the event type's layout.

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_fixture.h"
#include "statefold/native.h"

namespace statefold {
namespace {

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

// A state type that counts its copies: NativeResolver::NewState copies the initial state.
struct CountedState {
  CountedState() = default;
  CountedState(const CountedState& other) : seen(other.seen) { ++copies; }
  CountedState& operator=(const CountedState&) = default;
  int64_t seen = 0;
  static inline int copies = 0;
};
STATEFOLD_STRUCT(CountedState, seen)

// The engine decodes each message before its state lookup: one that does not fit the event
// type is a dead letter before the resolver or the key's state is touched.
TEST_F(NativeResolverTest, AMessageThatDoesNotDecodeReachesNeitherTheResolverNorItsKeysState) {
  Append({R"({"key": "u1", "value": {"ms": 5}})", R"({"key": "u2", "value": {"page": 7}})",
          VisitLine("u3", "a"), R"({"key": "u3", "value": {"page": "b", "ms": 1.5}})"});
  int calls = 0;
  NativeRegistry registry;
  registry.AddStream("counted", "logins", [&calls](const Visit&, State<CountedState>& state) {
    ++calls;
    ++state->seen;
  });
  CountedState::copies = 0;
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.dead_letters, 3u);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(CountedState::copies, 1);  // u3's new state; none for u1 and u2
  EXPECT_EQ(StateJson("counted", "u3"), R"({"seen":1})");
  EXPECT_EQ(StateJson("counted", "u1"), "Not found: resolver counted has no state for key u1");
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_NE(dead[0].find(R"("key":"u1")"), std::string::npos) << dead[0];
  EXPECT_NE(dead[2].find("does not decode into Visit: field ms: expected an integer, got a number"),
            std::string::npos)
      << dead[2];
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

struct Reading {
  Feature<std::string> id;
  Feature<double> value;
  Feature<std::vector<std::vector<double>>> history;
};
STATEFOLD_STRUCT(Reading, id, value, history)

// The same rule and reason text as a Python resolver's (test_outputs.py,
// test_a_nan_or_infinite_feature_value_is_a_dead_letter_not_null): JSON has no NaN.
TEST_F(NativeResolverTest, ANanOrInfiniteFeatureValueIsADeadLetterNotNull) {
  Append({VisitLine("u1", "nan"), VisitLine("u2", "inf"), VisitLine("u3", "-inf"),
          VisitLine("u4", "nested"), VisitLine("u5", "2.5")});
  NativeRegistry registry;
  registry.AddStream("readings", "logins", [](const Visit& visit) {
    Reading r;
    r.id = std::string(visit.page);
    if (visit.page == "nested") {
      r.history = std::vector<std::vector<double>>{{1.0}, {std::nan("")}};
    } else {
      r.value = std::stod(visit.page);
    }
    return r;
  });
  RunStats stats = RunOnce(registry.resolvers());
  EXPECT_EQ(stats.resolver_errors, 4u);
  std::vector<std::string> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 4u);
  const char* expected[] = {"feature reading.value: NaN", "feature reading.value: Infinity",
                            "feature reading.value: -Infinity", "feature reading.history: NaN"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NE(
        dead[i].find(std::string("resolver readings returned an invalid value: ") + expected[i] +
                     " has no JSON form, so no feature can hold it: return a finite "
                     "number, or no value for a missing one"),
        std::string::npos)
        << dead[i];
  }
  EXPECT_EQ(Feature("2.5", "value", "reading"), "2.5");
  EXPECT_EQ(Feature("nan", "value", "reading"), "<none>");  // nothing of a refused call stored
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
