// Differential test of EventParser's fast path (ParseSimpleEvent): for every value, Parse and
// ForEach give exactly what ParseWithSimdjson gives, and the fast path handles simple events.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "decode/record_decoder.h"
#include "json_mutations.h"
#include "statefold/native.h"

namespace statefold {
namespace {

struct Login {
  std::string_view user_id;
  std::string ip_address;
  int64_t count = 0;
  int32_t small = 0;
  uint8_t tiny = 0;
  uint64_t unsigned_big = 0;
  bool admin = false;
  std::optional<int64_t> score;
  std::optional<std::string> note;
  std::optional<bool> flag;
  bool operator==(const Login&) const = default;
};
STATEFOLD_STRUCT(Login, user_id, ip_address, count, small, tiny, unsigned_big, admin, score, note,
                 flag)

struct WithDouble {
  std::string id;
  double ratio = 0;
};
STATEFOLD_STRUCT(WithDouble, id, ratio)

struct WithNested {
  std::string id;
  WithDouble inner;
};
STATEFOLD_STRUCT(WithNested, id, inner)

static_assert(native::SimpleEvent<Login>);
static_assert(!native::SimpleEvent<WithDouble>);
static_assert(!native::SimpleEvent<WithNested>);
static_assert(!native::SimpleEvent<std::string_view>);

constexpr std::string_view kRequired =
    R"("user_id": "u1", "ip_address": "10.0.0.1", "count": 3, "small": -4, "tiny": 5, "unsigned_big": 6, "admin": true)";

std::string With(std::string_view more) {
  return "{" + std::string(kRequired) + (more.empty() ? "" : ", ") + std::string(more) + "}";
}

std::vector<std::string> Values() {
  std::vector<std::string> values = {
      With(""),
      With(R"("score": 7, "note": "n", "flag": false)"),
      With(R"("score": null, "note": null, "flag": null)"),
      With(R"("extra": {"a": [1, 2.5e-3, "x\n\u00e9", null, true]}, "more": [])"),
      "  {  \"user_id\" :\"u\" ,\n\"ip_address\":\"\"\t,\"count\":0,\"small\":-0,\"tiny\":0,"
      "\"unsigned_big\":0,\"admin\":false}  ",
      With(R"("count": 9, "user_id": "u2", "note": "a", "note": null)"),
      With(R"("score": 1, "score": null)"),
      With(R"("score": null, "score": 2)"),
      R"({"user_id": "u1"})",
      R"({})",
      R"([])",
      R"("s")",
      "",
      With(R"("small": 2147483647)"),
      With(R"("small": 2147483648)"),
      With(R"("small": -2147483649)"),
      With(R"("tiny": 256)"),
      With(R"("tiny": -1)"),
      With(R"("unsigned_big": -1)"),
      With(R"("count": 999999999999999999)"),
      With(R"("count": 9223372036854775807)"),
      With(R"("count": 9223372036854775808)"),
      With(R"("count": 1.5)"),
      With(R"("count": 1e5)"),
      With(R"("count": 1.0)"),
      With(R"("count": 01)"),
      With(R"("count": -)"),
      With(R"("count": "3")"),
      With(R"("count": null)"),
      With(R"("admin": 1)"),
      With(R"("admin": tru)"),
      With(R"("score": nul)"),
      With(R"("user_id": null)"),
      With(R"("user_id": 5)"),
      With(R"("user_id": "a\"b")"),
      With(R"("user_id": "\u00e9")"),
      With(R"("user_id": "caf)"
           "\xc3\xa9"
           R"(")"),
      With("\"user_id\": \"a\x01\""),
      With(R"("note": "\ud800")"),
      With(R"("us\u0065r_id": "x")"),
      With(R"("extra": {"a": 01})"),
      With(R"("extra": [1,])"),
      With(R"("extra": "\q")"),
      With(R"("extra": 1.e5)"),
      With(std::string(40, '[') + std::string(40, ']').insert(0, "\"deep\": ")),
      With("") + " x",
      With("") + "}",
      With("") + ",",
      "{\"user_id\": \"u1\",}",
      "{\"user_id\" \"u1\"}",
      "{\"user_id\": \"\xff\"}",
  };
  return values;
}

// Outcomes are compared as text. Neither parser may throw (an exception would escape the
// resolver's batch): a malformed literal such as `nul` in an optional field is an error.
template <class ParseFn>
std::string Outcome(ParseFn parse, std::string* error) {
  try {
    return parse() ? "parsed" : "failed: " + *error;
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

class EventParserSimpleTest : public ::testing::Test {
 protected:
  // Checks that Parse agrees with ParseWithSimdjson on `value`; returns whether the fast path
  // handled it. Both parsers are new: on an unclosed object, simdjson's outcome depends on
  // what its parser read before.
  bool Agrees(const std::string& value) {
    native::EventParser<Login> parser;
    return Agrees(parser, value);
  }
  // As above, with a parser that may have learned shapes.
  bool Agrees(native::EventParser<Login>& parser, const std::string& value) {
    native::EventParser<Login> reference;
    Login fast, slow;
    std::string fast_error, slow_error;
    std::string fast_outcome =
        Outcome([&] { return parser.Parse(value, &fast, &fast_error); }, &fast_error);
    std::string slow_outcome = Outcome(
        [&] { return reference.ParseWithSimdjson(value, &slow, &slow_error); }, &slow_error);
    EXPECT_EQ(fast_outcome, slow_outcome) << value;
    EXPECT_NE(slow_outcome.rfind("threw", 0), 0u) << value;
    const bool slow_parsed = slow_outcome == "parsed";
    if (slow_parsed) {
      EXPECT_TRUE(fast == slow) << value;
    }
    Login ignored;
    bool handled = native::ParseSimpleEvent(value, &ignored);
    if (handled) {
      EXPECT_TRUE(slow_parsed) << value;
    }
    return handled;
  }
};

TEST_F(EventParserSimpleTest, FastPathAgreesWithSimdjsonOnEdgeCases) {
  for (const std::string& value : Values()) Agrees(value);
}

TEST_F(EventParserSimpleTest, FastPathAgreesWithSimdjsonOnMutatedValues) {
  size_t handled = 0;
  std::vector<std::string> values = Values();
  values.resize(8);  // the valid ones
  std::vector<std::string> mutants = JsonMutations(values, 20000, 11);
  for (const std::string& value : mutants) handled += Agrees(value);
  EXPECT_GT(handled, mutants.size() / 20);  // the comparison is not vacuous
}

TEST_F(EventParserSimpleTest, FastPathHandlesSimpleEventsWithViewsIntoTheValue) {
  for (size_t i = 0; i < 8; ++i) EXPECT_TRUE(Agrees(Values()[i])) << Values()[i];
  std::string value = With(R"("score": 7)");
  Login event;
  ASSERT_TRUE(native::ParseSimpleEvent(value, &event));
  EXPECT_EQ(event.user_id, "u1");
  EXPECT_EQ(event.user_id.data(), value.data() + value.find("u1"));
  EXPECT_EQ(event.score, 7);
  EXPECT_FALSE(event.note.has_value());
}

// A parser that learned the shape of a value parses values laid out the same way from the
// shape, as simdjson does.
TEST_F(EventParserSimpleTest, LearnedShapesAgreeWithSimdjson) {
  size_t parsed = 0, total = 0;
  for (size_t i = 0; i < 8; ++i) {
    const std::string seed = Values()[i];
    native::EventParser<Login> parser;
    Login event;
    std::string error;
    ASSERT_TRUE(parser.Parse(seed, &event, &error)) << error;
    std::vector<std::string> texts = JsonValueVariants({seed}, 2000, 60 + i);
    for (const std::string& text : texts) parsed += Agrees(parser, text);
    total += texts.size();
  }
  EXPECT_GT(parsed, total / 10);
}

// Events taken from the value slots of a record's shape (Message::value_slots) are what
// simdjson makes of the value's text.
TEST_F(EventParserSimpleTest, EventsFromRecordSlotsAgreeWithSimdjson) {
  size_t from_slots = 0, total = 0;
  for (size_t i = 0; i < 8; ++i) {
    const std::string seed = R"({"key": "k", "value": )" + Values()[i] + R"(, "timestamp": 1})";
    RecordDecoder decoder{1 << 20};
    native::EventParser<Login> parser;
    std::vector<std::string> texts = {seed};
    std::vector<std::string> variants = JsonValueVariants({seed}, 2000, 80 + i);
    texts.insert(texts.end(), variants.begin(), variants.end());
    for (const std::string& text : texts) {
      std::string padded = text + std::string(64, '\0');
      DecodedRecord record;
      if (!decoder.Decode(std::string_view(padded.data(), text.size()), &record).ok()) continue;
      Message message;
      message.value = record.value;
      ValueSlots slots;
      if (record.shape != nullptr) {
        slots = {record.shape->id(), record.shape, record.value_member, record.slot_values};
        message.value_slots = &slots;
        ++from_slots;
      }
      ++total;
      native::EventParser<Login> reference;
      Login fast, slow;
      std::string fast_error, slow_error;
      std::string fast_outcome =
          Outcome([&] { return parser.Parse(message, &fast, &fast_error); }, &fast_error);
      std::string slow_outcome =
          Outcome([&] { return reference.ParseWithSimdjson(message.value, &slow, &slow_error); },
                  &slow_error);
      ASSERT_EQ(fast_outcome, slow_outcome) << text;
      if (slow_outcome == "parsed") {
        EXPECT_TRUE(fast == slow) << text;
      }
      if (record.shape != nullptr) {  // slots of a replaced shape are not used
        slots.shape_id += 1000;
        Login again;
        EXPECT_EQ(Outcome([&] { return parser.Parse(message, &again, &fast_error); }, &fast_error),
                  slow_outcome)
            << text;
      }
    }
  }
  EXPECT_GT(from_slots, total / 20);  // not vacuous
}

TEST_F(EventParserSimpleTest, ForEachVisitsInOrderAndStopsAfterFalse) {
  native::EventParser<Login> parser, reference;
  std::vector<std::string> values;
  for (const std::string& value : Values()) {
    Login event;
    std::string error;
    if (!Outcome([&] { return reference.ParseWithSimdjson(value, &event, &error); }, &error)
             .starts_with("threw")) {
      values.push_back(value);
    }
  }
  std::vector<Message> messages(values.size());
  for (size_t i = 0; i < values.size(); ++i) messages[i].value = values[i];
  Login event;
  std::string error;
  size_t expected = 0;
  size_t visited = parser.ForEach(messages, &event, &error, [&](size_t i, bool parsed) {
    EXPECT_EQ(i, expected++);
    Login slow;
    std::string slow_error;
    EXPECT_EQ(parsed, reference.ParseWithSimdjson(values[i], &slow, &slow_error)) << values[i];
    if (parsed) {
      EXPECT_TRUE(event == slow) << values[i];
    }
    if (!parsed) {
      EXPECT_EQ(error, slow_error) << values[i];
    }
    return true;
  });
  EXPECT_EQ(visited, values.size());
  EXPECT_EQ(expected, values.size());
  visited = parser.ForEach(messages, &event, &error, [](size_t i, bool) { return i != 2; });
  EXPECT_EQ(visited, 3u);
}

}  // namespace
}  // namespace statefold
