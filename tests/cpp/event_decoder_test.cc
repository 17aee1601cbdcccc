// EventDecoder (src/decode/event_decoder.h): differential tests of its fast paths against its
// simdjson decoder (for every value, Decode gives exactly what DecodeWithSimdjson gives, from
// the value's text, its learned shapes or the record's slots), the layouts that
// STATEFOLD_STRUCT makes, and the dead-letter reasons for values that do not fit.

#include "decode/event_decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "decode/record_decoder.h"
#include "event_layouts.h"
#include "json_mutations.h"
#include "statefold/native.h"

namespace statefold {
namespace {

using native::EventFromFields;
using native::EventLayoutOf;
using namespace testing_events;

struct Tree {
  int64_t value = 0;
  std::vector<Tree> children;
  bool operator==(const Tree&) const = default;
};
STATEFOLD_STRUCT(Tree, value, children)

// ---- The layouts of STATEFOLD_STRUCT types. ----

static_assert(sizeof(FieldValue) == 24 && std::is_trivially_copyable_v<FieldValue>);

static_assert(EventLayoutOf<Login>()->fields.size() == 10);
static_assert(EventLayoutOf<Login>()->fields[3].min == INT32_MIN);
static_assert(EventLayoutOf<Login>()->fields[4].max == 255);
static_assert(EventLayoutOf<Order>()->fields[1].item->object == EventLayoutOf<Item>());
static_assert(EventLayoutOf<Tree>()->fields[1].item->object == EventLayoutOf<Tree>());

TEST(EventLayoutOfTest, DescribesEachFieldTypeNullabilityAndRange) {
  const EventLayout& login = *EventLayoutOf<Login>();
  EXPECT_EQ(login.type_name, "Login");
  std::vector<std::string> described;
  for (const EventField& f : login.fields) {
    described.push_back(std::string(f.name) + ":" + std::to_string(static_cast<int>(f.type)) +
                        (f.optional ? "?" : "") +
                        (f.type == FieldType::kInt
                             ? "[" + std::to_string(f.min) + "," + std::to_string(f.max) + "]"
                             : ""));
  }
  EXPECT_EQ(described,
            (std::vector<std::string>{
                "user_id:3", "ip_address:3", "count:1[-9223372036854775808,9223372036854775807]",
                "small:1[-2147483648,2147483647]", "tiny:1[0,255]",
                // A uint64_t takes every int64, as a cast does (-1 is 2^64 - 1).
                "unsigned_big:1[-9223372036854775808,9223372036854775807]", "admin:0",
                "score:1?[-9223372036854775808,9223372036854775807]", "note:3?", "flag:0?"}));
  const EventLayout& order = *EventLayoutOf<Order>();
  EXPECT_EQ(order.fields[0].type, FieldType::kObject);
  EXPECT_EQ(order.fields[0].object, EventLayoutOf<WithDouble>());
  EXPECT_EQ(order.fields[2].type, FieldType::kArray);
  EXPECT_TRUE(order.fields[2].optional);
  EXPECT_EQ(order.fields[2].item->type, FieldType::kString);
  EXPECT_EQ(order.fields[3].item->item->type, FieldType::kInt);
  EXPECT_TRUE(order.fields[4].optional);
  EXPECT_EQ(order.fields[4].object, EventLayoutOf<WithDouble>());
  EXPECT_TRUE(EventLayoutOf<Item>()->fields[1].optional);
  EXPECT_EQ(EventLayoutOf<Item>()->fields[1].type, FieldType::kDouble);
  EXPECT_EQ(EventLayoutOf<Item>()->fields[2].item->min, INT16_MIN);
}

// ---- Simple layouts: the fast paths agree with simdjson. ----

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

// "parsed" or "failed: <reason>". Neither decoder may throw (an exception would escape the
// engine's batch): a malformed literal such as `nul` in an optional field is an error.
template <class DecodeFn>
std::string Outcome(DecodeFn decode) {
  try {
    Status status = decode();
    return status.ok() ? "parsed" : "failed: " + status.message();
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

template <class T>
T EventOf(std::span<const FieldValue> fields) {
  T event;
  EventFromFields(fields, &event);
  return event;
}

class EventDecoderTest : public ::testing::Test {
 protected:
  // Checks that Decode agrees with DecodeWithSimdjson on `value`; returns whether the scalar
  // scan handled it. The reference decoder is new: on an unclosed object, simdjson's outcome
  // depends on what its parser read before.
  bool Agrees(const std::string& value) {
    EventDecoder decoder(*EventLayoutOf<Login>());
    return Agrees(decoder, value);
  }
  // As above, with a decoder that may have learned shapes.
  bool Agrees(EventDecoder& decoder, const std::string& value) {
    EventDecoder reference(*EventLayoutOf<Login>());
    std::span<const FieldValue> fast, slow;
    std::string fast_outcome = Outcome([&] { return decoder.Decode(value, nullptr, &fast); });
    std::string slow_outcome = Outcome([&] { return reference.DecodeWithSimdjson(value, &slow); });
    EXPECT_EQ(fast_outcome, slow_outcome) << value;
    EXPECT_NE(slow_outcome.rfind("threw", 0), 0u) << value;
    const bool slow_parsed = slow_outcome == "parsed";
    if (slow_parsed) {
      EXPECT_TRUE(EventOf<Login>(fast) == EventOf<Login>(slow)) << value;
    }
    std::span<const FieldValue> simple;
    bool handled = decoder.DecodeSimple(value, &simple);
    if (handled) {
      EXPECT_TRUE(slow_parsed) << value;
      if (slow_parsed) {
        EXPECT_TRUE(EventOf<Login>(simple) == EventOf<Login>(slow)) << value;
      }
    }
    return handled;
  }
};

TEST_F(EventDecoderTest, FastPathsAgreeWithSimdjsonOnEdgeCases) {
  for (const std::string& value : Values()) Agrees(value);
}

TEST_F(EventDecoderTest, FastPathsAgreeWithSimdjsonOnMutatedValues) {
  size_t handled = 0;
  std::vector<std::string> values = Values();
  values.resize(8);  // the valid ones
  std::vector<std::string> mutants = JsonMutations(values, 20000, 11);
  for (const std::string& value : mutants) handled += Agrees(value);
  EXPECT_GT(handled, mutants.size() / 20);  // the comparison is not vacuous
}

TEST_F(EventDecoderTest, ScalarScanHandlesSimpleEventsWithViewsIntoTheValue) {
  for (size_t i = 0; i < 8; ++i) EXPECT_TRUE(Agrees(Values()[i])) << Values()[i];
  std::string value = With(R"("score": 7)");
  EventDecoder decoder(*EventLayoutOf<Login>());
  EXPECT_TRUE(decoder.simple());
  std::span<const FieldValue> fields;
  ASSERT_TRUE(decoder.DecodeSimple(value, &fields));
  Login event = EventOf<Login>(fields);
  EXPECT_EQ(event.user_id, "u1");
  EXPECT_EQ(event.user_id.data(), value.data() + value.find("u1"));
  EXPECT_EQ(event.score, 7);
  EXPECT_FALSE(event.note.has_value());
}

// A decoder that learned the shape of a value decodes values laid out the same way from the
// shape, as simdjson does.
TEST_F(EventDecoderTest, LearnedShapesAgreeWithSimdjson) {
  size_t parsed = 0, total = 0;
  for (size_t i = 0; i < 8; ++i) {
    const std::string seed = Values()[i];
    EventDecoder decoder(*EventLayoutOf<Login>());
    std::span<const FieldValue> fields;
    Status status = decoder.Decode(seed, nullptr, &fields);
    ASSERT_TRUE(status.ok()) << status.ToString();
    std::vector<std::string> texts = JsonValueVariants({seed}, 2000, 60 + i);
    for (const std::string& text : texts) parsed += Agrees(decoder, text);
    total += texts.size();
  }
  EXPECT_GT(parsed, total / 10);
}

// Fields taken from the value slots of a record's shape (ValueSlots) are what simdjson makes
// of the value's text, and the slots of a shape that was replaced are not used.
TEST_F(EventDecoderTest, FieldsFromRecordSlotsAgreeWithSimdjson) {
  size_t from_slots = 0, total = 0;
  for (size_t i = 0; i < 8; ++i) {
    const std::string seed = R"({"key": "k", "value": )" + Values()[i] + R"(, "timestamp": 1})";
    RecordDecoder records{1 << 20};
    EventDecoder decoder(*EventLayoutOf<Login>());
    std::vector<std::string> texts = {seed};
    std::vector<std::string> variants = JsonValueVariants({seed}, 2000, 80 + i);
    texts.insert(texts.end(), variants.begin(), variants.end());
    for (const std::string& text : texts) {
      std::string padded = text + std::string(64, '\0');
      DecodedRecord record;
      if (!records.Decode(std::string_view(padded.data(), text.size()), &record).ok()) continue;
      ValueSlots slots;
      const ValueSlots* value_slots = nullptr;
      if (record.shape != nullptr) {
        slots = {record.shape->id(), record.shape, record.value_member, record.slot_values};
        value_slots = &slots;
        ++from_slots;
      }
      ++total;
      EventDecoder reference(*EventLayoutOf<Login>());
      std::span<const FieldValue> fast, slow;
      std::string fast_outcome =
          Outcome([&] { return decoder.Decode(record.value, value_slots, &fast); });
      std::string slow_outcome =
          Outcome([&] { return reference.DecodeWithSimdjson(record.value, &slow); });
      ASSERT_EQ(fast_outcome, slow_outcome) << text;
      if (slow_outcome == "parsed") {
        EXPECT_TRUE(EventOf<Login>(fast) == EventOf<Login>(slow)) << text;
      }
      if (record.shape != nullptr) {  // slots of a replaced shape are not used
        slots.shape_id += 1000;
        std::span<const FieldValue> again;
        EXPECT_EQ(Outcome([&] { return decoder.Decode(record.value, &slots, &again); }),
                  slow_outcome)
            << text;
        if (slow_outcome == "parsed") {
          EXPECT_TRUE(EventOf<Login>(again) == EventOf<Login>(slow)) << text;
        }
      }
    }
  }
  EXPECT_GT(from_slots, total / 20);  // not vacuous
}

// ---- Every layout: what simdjson decodes, and the reasons it gives. ----

std::string Reason(const EventLayout& layout, std::string_view value) {
  EventDecoder decoder(layout);
  std::span<const FieldValue> fields;
  Status status = decoder.Decode(value, nullptr, &fields);
  return status.ok() ? "ok" : status.message();
}

TEST(EventDecoderReasonTest, NameTheTypeAndTheFieldPath) {
  const EventLayout& order = *EventLayoutOf<Order>();
  const std::string ok_customer = R"("customer": {"id": "c", "ratio": 1})";
  auto with = [&](std::string_view more) {
    return "{" + ok_customer + R"(, "items": [], "grid": [])" + std::string(more) + "}";
  };
  EXPECT_EQ(Reason(order, with("")), "ok");
  EXPECT_EQ(Reason(order, R"({"items": [], "grid": []})"),
            "message does not decode into Order: field customer is missing");
  EXPECT_EQ(Reason(order, R"({"customer": {"ratio": 1}, "items": [], "grid": []})"),
            "message does not decode into Order: field customer.id is missing");
  EXPECT_EQ(Reason(order, R"({"customer": {"id": 5, "ratio": 1}, "items": [], "grid": []})"),
            "message does not decode into Order: field customer.id: expected a string, got a "
            "number");
  EXPECT_EQ(Reason(order, with(R"(, "items": [{"name": "a", "codes": [1, 40000]}])")),
            "message does not decode into Order: field items[].codes[]: 40000 is out of range");
  EXPECT_EQ(Reason(order, with(R"(, "items": [{"codes": []}])")),
            "message does not decode into Order: field items[].name is missing");
  EXPECT_EQ(Reason(order, with(R"(, "tags": ["a", 1])")),
            "message does not decode into Order: field tags[]: expected a string, got a number");
  EXPECT_EQ(Reason(order, with(R"(, "grid": [[1], 2])")),
            "message does not decode into Order: field grid[]: expected an array, got a number");
  EXPECT_EQ(Reason(order, with(R"(, "referrer": "x")")),
            "message does not decode into Order: field referrer: expected an object, got a "
            "string");
  EXPECT_EQ(Reason(order, with(R"(, "customer": {"id": "c", "ratio": "1"})")),
            "message does not decode into Order: field customer.ratio: expected a number, got a "
            "string");
  EXPECT_EQ(Reason(order, "{"),
            "message does not decode into Order: malformed JSON in the message");
  EXPECT_EQ(Reason(order, "[]"),
            "message does not decode into Order: field : expected an object, got an array");
  const EventLayout& login = *EventLayoutOf<Login>();
  EXPECT_EQ(Reason(login, With(R"("tiny": 300)")),
            "message does not decode into Login: field tiny: 300 is out of range");
  EXPECT_EQ(Reason(login, R"({"user_id": "u1"})"),
            "message does not decode into Login: field ip_address is missing");
  EXPECT_EQ(Reason(login, With(R"("admin": null)")),
            "message does not decode into Login: field admin: expected a boolean, got null");
  EXPECT_EQ(Reason(login, "just text"),
            "message does not decode into Login: message value is not valid JSON");
}

// The rule the key path relies on (docs/semantics.md, duplicate member names): every tier reads
// a name written with escapes as that name, and the last of repeated names, as pydantic and
// json.loads do.
TEST(EventDecoderNamesTest, AnEscapedNameIsThatNameAndTheLastOfRepeatedNamesWins) {
  EventDecoder decoder(*EventLayoutOf<Login>());
  std::span<const FieldValue> fields;
  for (const std::string& value :
       {With(R"("user_id": "attacker")"), With(R"("us\u0065r_id": "attacker")"),
        "{" + std::string(R"("user_id": "victim", )") + std::string(kRequired).substr(17) +
            R"(, "user_id": "attacker"})"}) {
    SCOPED_TRACE(value);
    ASSERT_TRUE(decoder.Decode(value, nullptr, &fields).ok());
    EXPECT_EQ(EventOf<Login>(fields).user_id, "attacker");
    ASSERT_TRUE(decoder.DecodeWithSimdjson(value, &fields).ok());
    EXPECT_EQ(EventOf<Login>(fields).user_id, "attacker");
  }
}

TEST(EventDecoderNestedTest, DecodesNestedObjectsArraysAndDoubles) {
  EventDecoder decoder(*EventLayoutOf<Order>());
  EXPECT_FALSE(decoder.simple());
  std::span<const FieldValue> fields;
  const std::string value =
      R"({"customer": {"id": "c\u00e9", "ratio": 0.25, "extra": [1]},
          "items": [{"name": "a", "weight": 1.5, "codes": [1, -2]}, {"name": "b", "weight": null, "codes": []}],
          "grid": [[1, 2], [], [3]], "tags": null, "referrer": {"id": "r", "ratio": -1e3},
          "items": [{"name": "ab\"", "codes": [7]}, {"name": "\\\"\\", "codes": []}]})";
  Status status = decoder.Decode(value, nullptr, &fields);
  ASSERT_TRUE(status.ok()) << status.ToString();
  Order order = EventOf<Order>(fields);
  EXPECT_EQ(order.customer, (WithDouble{"c\xc3\xa9", 0.25}));
  // A member given twice counts as the last one.
  ASSERT_EQ(order.items.size(), 2u);
  EXPECT_EQ(order.items[0], (Item{"ab\"", std::nullopt, {7}}));
  EXPECT_EQ(order.items[1].name, "\\\"\\");
  EXPECT_EQ(order.grid, (std::vector<std::vector<int64_t>>{{1, 2}, {}, {3}}));
  EXPECT_FALSE(order.tags.has_value());
  EXPECT_EQ(order.referrer, (WithDouble{"r", -1000}));

  EventDecoder trees(*EventLayoutOf<Tree>());
  status = trees.Decode(R"({"value": 1, "children": [{"value": 2, "children": [{"value": 3,
      "children": []}]}, {"value": 4, "children": []}]})",
                        nullptr, &fields);
  ASSERT_TRUE(status.ok()) << status.ToString();
  Tree tree = EventOf<Tree>(fields);
  ASSERT_EQ(tree.children.size(), 2u);
  ASSERT_EQ(tree.children[0].children.size(), 1u);
  EXPECT_EQ(tree.children[0].children[0].value, 3);
  EXPECT_EQ(tree.children[1].value, 4);
}

// The engine decodes a whole batch before the resolver runs: every value of a DecodeBatch
// stays valid until the next, including strings that simdjson unescaped into its own buffer.
TEST(EventDecoderBatchTest, ValuesOfABatchStayValidUntilTheNextBatch) {
  EventDecoder decoder(*EventLayoutOf<Order>());
  std::vector<std::string> values;
  for (int i = 0; i < 3000; ++i) {
    values.push_back(R"({"customer": {"id": "c\n)" + std::to_string(i) +
                     R"(", "ratio": 1}, "items": [{"name": "n)" + std::to_string(i) +
                     R"(", "codes": [)" + std::to_string(i % 100) + R"(]}], "grid": []})");
  }
  std::vector<EventInput> inputs;
  for (const std::string& value : values) inputs.push_back({value, nullptr});
  std::vector<std::span<const FieldValue>> fields;
  std::vector<DecodeFailure> failures;
  decoder.DecodeBatch(inputs, &fields, &failures);
  ASSERT_EQ(fields.size(), values.size());
  ASSERT_TRUE(failures.empty()) << failures[0].status.ToString();
  for (int i = 0; i < 3000; ++i) {
    Order order = EventOf<Order>(fields[static_cast<size_t>(i)]);
    EXPECT_EQ(order.customer.id, "c\n" + std::to_string(i));
    EXPECT_EQ(order.items.at(0).name, "n" + std::to_string(i));
    EXPECT_EQ(order.items.at(0).codes, (std::vector<int16_t>{static_cast<int16_t>(i % 100)}));
  }
}

// What a batch decoded into, value by value: the reason, or the event as its JSON-ish text.
template <class T>
std::string Describe(const T& event);
template <>
std::string Describe(const Order& order) {
  std::string text = order.customer.id + "/" + std::to_string(order.customer.ratio) + "/";
  for (const Item& item : order.items) {
    text += item.name + ":" + (item.weight ? std::to_string(*item.weight) : "-") + ":";
    for (int16_t code : item.codes) text += std::to_string(code) + ",";
  }
  text += order.tags ? std::to_string(order.tags->size()) : "-";
  for (const auto& row : order.grid) text += "[" + std::to_string(row.size()) + "]";
  return text + (order.referrer ? order.referrer->id : "-");
}
template <>
std::string Describe(const Login& login) {
  return std::string(login.user_id) + "/" + login.ip_address + "/" + std::to_string(login.count) +
         "/" + std::to_string(login.small) + "/" + std::to_string(login.tiny) + "/" +
         std::to_string(login.unsigned_big) + "/" + std::to_string(login.admin) + "/" +
         (login.score ? std::to_string(*login.score) : "-") + "/" + login.note.value_or("-") + "/" +
         (login.flag ? std::to_string(*login.flag) : "-");
}

template <class ToEvent>
std::vector<std::string> Outcomes(const std::vector<std::span<const FieldValue>>& fields,
                                  const std::vector<DecodeFailure>& failures, ToEvent to_event) {
  std::vector<std::string> outcomes;
  size_t failure = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (failure < failures.size() && failures[failure].index == i) {
      outcomes.push_back(failures[failure++].status.ToString());
    } else {
      outcomes.push_back(Describe(to_event(fields[i])));
    }
  }
  return outcomes;
}

// The same, each value decoded by simdjson alone with a decoder of its own.
template <class T>
std::vector<std::string> Outcomes(const std::vector<EventInput>& inputs) {
  std::vector<std::string> outcomes;
  for (const EventInput& input : inputs) {
    EventDecoder alone(*EventLayoutOf<T>());
    std::span<const FieldValue> fields;
    Status status = alone.DecodeWithSimdjson(input.value, &fields);
    outcomes.push_back(status.ok() ? Describe(EventOf<T>(fields)) : status.ToString());
  }
  return outcomes;
}

// A batch of a layout that is not simple is parsed as one document stream: each value still
// decodes exactly as it does on its own, whatever its neighbours are (unclosed objects, two
// documents in one value, blanks), in batches of every size.
TEST(EventDecoderBatchTest, AStreamedBatchDecodesEachValueAsItDecodesAlone) {
  const std::vector<std::string> seeds = {
      R"({"customer": {"id": "c", "ratio": 1.5}, "items": [{"name": "a", "codes": [1]}], "grid": [[1], []]})",
      R"({"customer": {"id": "c\"", "ratio": -0}, "items": [], "grid": [], "tags": ["x"], "referrer": null})",
      R"(  {"grid": [], "items": [{"name": "b", "weight": 2e3, "codes": []}], "customer": {"id": "", "ratio": 0}}  )",
      R"({"customer": {"id": "c", "ratio": 1}, "items": [], "grid": [[40000]]})",
  };
  std::vector<std::string> values = seeds;
  for (const std::string& v : JsonMutations(seeds, 6000, 21)) values.push_back(v);
  values.insert(values.begin() + 100, {"", "{} {}", "{", "}", "[1]"});
  EventDecoder decoder(*EventLayoutOf<Order>());
  size_t parsed = 0;
  std::vector<std::span<const FieldValue>> fields;
  std::vector<DecodeFailure> failures;
  for (size_t begin = 0, size = 1; begin < values.size(); begin += size, size = size % 37 + 1) {
    const size_t end = std::min(values.size(), begin + size);
    std::vector<EventInput> inputs;
    for (size_t i = begin; i < end; ++i) inputs.push_back({values[i], nullptr});
    decoder.DecodeBatch(inputs, &fields, &failures);
    ASSERT_EQ(fields.size(), inputs.size());
    ASSERT_EQ(Outcomes(fields, failures, EventOf<Order>), Outcomes<Order>(inputs)) << begin;
    parsed += inputs.size() - failures.size();
  }
  EXPECT_GT(parsed, values.size() / 20);  // not vacuous
}

// fuzz/corpus/event_decoder/12-stream-reason: the stream reads a value that its own parse
// refuses for a missing field, and finds the stray `2` in a member that the value's own parse
// skips. The same refusal, with another reason, until values that the stream does not decode
// were decoded again on their own: a value has one outcome, however it is batched.
TEST(EventDecoderBatchTest, AValueTheStreamRefusesHasTheReasonItHasAlone) {
  const std::vector<std::string> values = {
      R"({"user_id": "u1", "ip_dress": "10.0.0.1", "count": 1.0, "small":22222222222222222222, "grid": []})",
      R"({"cuSSSSSSSSSr": {"id": "c",2 "ratio": 1e400}, "items": [], "grid": []})"};
  std::vector<EventInput> inputs;
  for (const std::string& value : values) inputs.push_back({value, nullptr});
  EventDecoder decoder(*EventLayoutOf<Order>());
  std::vector<std::span<const FieldValue>> fields;
  std::vector<DecodeFailure> failures;
  decoder.DecodeBatch(inputs, &fields, &failures);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[1].status.message(),
            "message does not decode into Order: field customer is missing");
  EXPECT_EQ(Outcomes(fields, failures, EventOf<Order>), Outcomes<Order>(inputs));
}

// Simple layouts decode a batch value by value, from the slots, shapes or the scan.
TEST(EventDecoderBatchTest, ASimpleBatchDecodesEachValueAsDecodeDoes) {
  std::vector<std::string> values = Values();
  for (const std::string& v : JsonValueVariants({Values()[0], Values()[1]}, 3000, 5)) {
    values.push_back(v);
  }
  EventDecoder decoder(*EventLayoutOf<Login>());
  std::vector<EventInput> inputs;
  for (const std::string& value : values) inputs.push_back({value, nullptr});
  std::vector<std::span<const FieldValue>> fields;
  std::vector<DecodeFailure> failures;
  decoder.DecodeBatch(inputs, &fields, &failures);
  EXPECT_EQ(Outcomes(fields, failures, EventOf<Login>), Outcomes<Login>(inputs));
  EXPECT_GT(inputs.size() - failures.size(), values.size() / 20);
}

}  // namespace
}  // namespace statefold
