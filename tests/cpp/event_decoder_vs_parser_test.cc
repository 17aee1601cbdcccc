// Temporary, while native.h still has its own event parser: the engine-side EventDecoder gives
// exactly what native::EventParser gives (outcome, reason and event) on the values of the event
// tests, their byte mutations and value variants, and from record slots.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "decode/event_decoder.h"
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

struct Inner {
  std::string id;
  double ratio = 0;
  std::optional<std::vector<int8_t>> small;
  bool operator==(const Inner&) const = default;
};
STATEFOLD_STRUCT(Inner, id, ratio, small)

struct Outer {
  std::string_view name;
  Inner inner;
  std::vector<Inner> list;
  std::optional<Inner> maybe;
  std::vector<std::vector<std::string>> grid;
  float f = 0;
  bool operator==(const Outer&) const = default;
};
STATEFOLD_STRUCT(Outer, name, inner, list, maybe, grid, f)

// Old and new agree on `value` (with `slots` for the new one and a message for the old one).
template <class T>
void Same(native::EventParser<T>& parser, EventDecoder& decoder, const Message& message,
          const ValueSlots* slots, const std::string& what) {
  T old_event{}, new_event{};
  std::string error;
  bool old_parsed = parser.Parse(message, &old_event, &error);
  std::span<const FieldValue> fields;
  Status status = decoder.Decode(message.value, slots, &fields);
  ASSERT_EQ(status.ok(), old_parsed) << what << " " << error << " / " << status.ToString();
  if (old_parsed) {
    native::EventFromFields(fields, &new_event);
    EXPECT_TRUE(old_event == new_event) << what;
  } else {
    EXPECT_EQ(status.message(), "message does not decode into " +
                                    std::string(reflect::DescriptionOf<T>().name) + ": " + error)
        << what;
  }
}

std::vector<std::string> LoginValues() {
  const std::string required =
      R"("user_id": "u1", "ip_address": "10.0.0.1", "count": 3, "small": -4, "tiny": 5, "unsigned_big": 6, "admin": true)";
  auto with = [&](std::string more) {
    return "{" + required + (more.empty() ? "" : ", ") + more + "}";
  };
  return {with(""),
          with(R"("score": 7, "note": "n", "flag": false)"),
          with(R"("score": null, "note": null, "flag": null)"),
          with(R"("extra": {"a": [1, 2.5e-3, "x\n\u00e9", null, true]}, "more": [])"),
          with(R"("count": 9, "user_id": "u2", "note": "a", "note": null)"),
          with(R"("score": 1, "score": null)"),
          with(R"("tiny": 256)"),
          with(R"("unsigned_big": -1)"),
          with(R"("user_id": "a\"b")"),
          with(R"("admin": tru)"),
          with(R"("score": nul)"),
          R"({"user_id": "u1"})",
          "[]",
          "",
          with("") + " x"};
}

TEST(EventDecoderVsParserTest, SimpleEventsFromTextAndShapes) {
  std::vector<std::string> values = LoginValues();
  std::vector<std::string> all = values;
  for (const std::string& v : JsonMutations(values, 20000, 5)) all.push_back(v);
  for (const std::string& v : JsonValueVariants({values[0], values[1], values[2]}, 6000, 9)) {
    all.push_back(v);
  }
  native::EventParser<Login> parser;
  EventDecoder decoder(*native::EventLayoutOf<Login>());
  for (const std::string& value : all) {
    Message message;
    message.value = value;
    Same(parser, decoder, message, nullptr, value);
  }
}

TEST(EventDecoderVsParserTest, SimpleEventsFromRecordSlots) {
  std::vector<std::string> values = LoginValues();
  std::vector<std::string> records;
  for (size_t i = 0; i < 4; ++i) {
    std::string seed = R"({"key": "k", "value": )" + values[i] + R"(, "timestamp": 1})";
    records.push_back(seed);
    for (const std::string& v : JsonValueVariants({seed}, 3000, 20 + i)) records.push_back(v);
  }
  RecordDecoder record_decoder{1 << 20};
  native::EventParser<Login> parser;
  EventDecoder decoder(*native::EventLayoutOf<Login>());
  size_t from_slots = 0;
  for (const std::string& text : records) {
    std::string padded = text + std::string(64, '\0');
    DecodedRecord record;
    if (!record_decoder.Decode(std::string_view(padded.data(), text.size()), &record).ok()) {
      continue;
    }
    Message message;
    message.value = record.value;
    ValueSlots slots;
    if (record.shape != nullptr) {
      slots = {record.shape->id(), record.shape, record.value_member, record.slot_values};
      message.value_slots = &slots;
      ++from_slots;
    }
    Same(parser, decoder, message, message.value_slots, text);
  }
  EXPECT_GT(from_slots, records.size() / 20);
}

TEST(EventDecoderVsParserTest, NestedEventsFromText) {
  std::vector<std::string> values = {
      R"({"name": "n", "inner": {"id": "i", "ratio": 1.5, "small": [1, -128, 127]}, "list": [], "grid": [], "f": 1})",
      R"({"name": "n\u00e9", "inner": {"id": "i\"", "ratio": -0, "small": null}, "list": [{"id": "a", "ratio": 1}, {"id": "b", "ratio": 2, "small": []}], "maybe": {"id": "m", "ratio": 3}, "grid": [["a"], [], ["b", "c"]], "f": 0.1, "x": [1, {"y": 2}]})",
      R"({"name": "n", "inner": {"id": "i", "ratio": 1}, "list": [{"id": "a"}], "grid": [], "f": 1})",
      R"({"name": "n", "inner": {"id": "i", "ratio": 1, "small": [128]}, "list": [], "grid": [], "f": 1})",
      R"({"name": "n", "inner": {"id": "i", "ratio": 1}, "list": [], "grid": [[1]], "f": 1})",
      R"({"name": "n", "inner": 5, "list": [], "grid": [], "f": 1})",
      R"({"name": "n", "inner": {"id": "i", "ratio": 1}, "inner": {"id": "j", "ratio": 2}, "list": [], "grid": [], "f": 1})",
  };
  std::vector<std::string> all = values;
  for (const std::string& v : JsonMutations(values, 20000, 3)) all.push_back(v);
  for (const std::string& value : all) {
    // New parsers each time: the old one parses non-simple events with simdjson only.
    native::EventParser<Outer> parser;
    EventDecoder decoder(*native::EventLayoutOf<Outer>());
    Message message;
    message.value = value;
    Same(parser, decoder, message, nullptr, value);
  }
}

}  // namespace
}  // namespace statefold
