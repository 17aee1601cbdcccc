// Pins decode/json_shape.h: what a shape learns from an example, that a text matches it
// exactly when it is laid out the same with a valid value of each slot's kind, and how
// ShapeCache keeps and learns shapes.

#include "decode/json_shape.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "json_mutations.h"

namespace statefold::small_json {
namespace {

using Kind = JsonShape::Kind;

const std::string kRecord =
    R"({"key": "u4", "value": {"user_id": "u4", "ip_address": "10.4.0.4", "n": -1.5e3, "ok": true, "tags": ["a", 2]}, "timestamp": 1767225600000})";

// Strict JSON (as JsonShape::Learn requires of its example).
bool Strict(std::string_view text) {
  Scanner in(text);
  return in.SkipValue() && in.AtEnd();
}

TEST(JsonShapeTest, LearnsSlotsMembersAndPositions) {
  JsonShape shape;
  ASSERT_TRUE(shape.Learn(kRecord));
  ASSERT_EQ(shape.slot_count(), 8u);
  const Kind kinds[] = {Kind::kString,  Kind::kString, Kind::kString, Kind::kNumber,
                        Kind::kLiteral, Kind::kString, Kind::kNumber, Kind::kNumber};
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(shape.kind(i), kinds[i]) << i;
  EXPECT_TRUE(shape.is_object());
  ASSERT_EQ(shape.members().size(), 3u);
  const JsonShape::Member* key = shape.FindMember("key");
  const JsonShape::Member* value = shape.FindMember("value");
  const JsonShape::Member* timestamp = shape.FindMember("timestamp");
  ASSERT_TRUE(key && value && timestamp);
  EXPECT_EQ(shape.FindMember("user_id"), nullptr);  // not a top-level member
  EXPECT_EQ(key->slot, 0);
  EXPECT_EQ(timestamp->slot, 7);
  EXPECT_EQ(value->slot, -1);
  EXPECT_TRUE(value->is_object);
  EXPECT_FALSE(value->repeats_names);
  ASSERT_EQ(value->members.size(), 5u);
  EXPECT_EQ(JsonShape::Find(value->members, "ip_address")->slot, 2);
  EXPECT_EQ(JsonShape::Find(value->members, "tags")->slot, -1);  // an array

  std::string text =
      R"({"key": "u12345", "value": {"user_id": "", "ip_address": "1.2.3.4", "n": 0, "ok": null, "tags": ["bb", -7]}, "timestamp": 5})";
  std::string_view values[JsonShape::kMaxSlots];
  ASSERT_TRUE(shape.Match(text, values));
  EXPECT_EQ(values[0], "u12345");
  EXPECT_EQ(values[0].data(), text.data() + 9);  // views into the text
  EXPECT_EQ(values[1], "");
  EXPECT_EQ(values[2], "1.2.3.4");
  EXPECT_EQ(values[3], "0");
  EXPECT_EQ(values[4], "null");
  EXPECT_EQ(values[5], "bb");
  EXPECT_EQ(values[6], "-7");
  EXPECT_EQ(values[7], "5");
  const char* begin = JsonShape::Resolve(text, values, value->begin);
  const char* end = JsonShape::Resolve(text, values, value->end);
  EXPECT_EQ(std::string_view(begin, static_cast<size_t>(end - begin)),
            R"({"user_id": "", "ip_address": "1.2.3.4", "n": 0, "ok": null, "tags": ["bb", -7]})");
}

TEST(JsonShapeTest, ValueSpansRunUpToTheNextToken) {
  JsonShape shape;
  ASSERT_TRUE(shape.Learn(R"({"value": {"a": 1}  , "x": [ ] })"));
  std::string text = R"({"value": {"a": 22}  , "x": [ ] })";
  std::string_view values[JsonShape::kMaxSlots];
  ASSERT_TRUE(shape.Match(text, values));
  const JsonShape::Member* value = shape.FindMember("value");
  const char* begin = JsonShape::Resolve(text, values, value->begin);
  EXPECT_EQ(std::string_view(begin, JsonShape::Resolve(text, values, value->end) - begin),
            R"({"a": 22}  )");
  const JsonShape::Member* x = shape.FindMember("x");
  begin = JsonShape::Resolve(text, values, x->begin);
  EXPECT_EQ(std::string_view(begin, JsonShape::Resolve(text, values, x->end) - begin), "[ ] ");
}

TEST(JsonShapeTest, LearnsOnlyStrictJsonWithPlainStringsAndDistinctNames) {
  JsonShape shape;
  EXPECT_TRUE(shape.Learn(R"("s")"));
  EXPECT_FALSE(shape.is_object());
  EXPECT_TRUE(shape.Learn("[1, true, \"x\"]"));
  EXPECT_TRUE(shape.Learn("{}"));
  EXPECT_FALSE(shape.Learn(R"({"a": 1,})"));
  EXPECT_FALSE(shape.Learn(R"({"a": 01})"));
  EXPECT_FALSE(shape.Learn(R"({"a": "b"} x)"));
  EXPECT_FALSE(shape.Learn(R"({"a": "b\"c"})"));
  EXPECT_FALSE(shape.Learn(R"({"a\u0062": 1})"));
  EXPECT_FALSE(shape.Learn("{\"a\": \"caf\xc3\xa9\"}"));
  EXPECT_FALSE(shape.Learn(R"({"a": 1, "a": 2})"));
  // A repeated name one level down is allowed, and flagged.
  ASSERT_TRUE(shape.Learn(R"({"v": {"a": 1, "a": 2}})"));
  EXPECT_TRUE(shape.FindMember("v")->repeats_names);
  std::string many = "[";
  for (size_t i = 0; i <= JsonShape::kMaxSlots; ++i) many += i == 0 ? "1" : ",1";
  EXPECT_FALSE(shape.Learn(many + "]"));
  many.erase(many.size() - 2);
  EXPECT_TRUE(shape.Learn(many + "]"));
  EXPECT_EQ(shape.slot_count(), JsonShape::kMaxSlots);
}

TEST(JsonShapeTest, MatchesOnlyTheSameLayoutWithValidValues) {
  JsonShape shape;
  ASSERT_TRUE(shape.Learn(R"({"s": "x", "n": 1, "b": true})"));
  std::string_view values[JsonShape::kMaxSlots];
  for (const char* same : {R"({"s": "", "n": -0.5e+7, "b": false})",
                           R"({"s": "a b c d e f g h i j k l m n o p q", "n": 0, "b": null})"}) {
    EXPECT_TRUE(shape.Match(same, values)) << same;
  }
  for (const char* other :
       {R"({"s": "x", "n": 1, "b": true} )",  // whitespace is layout
        R"({"s":"x", "n": 1, "b": true})", R"({"t": "x", "n": 1, "b": true})",
        R"({"s": "x", "n": 1, "b": true, "c": 1})", R"({"s": "x", "n": 1})",
        R"({"s": "a\"b", "n": 1, "b": true})", "{\"s\": \"a\x01\", \"n\": 1, \"b\": true}",
        "{\"s\": \"\xc3\xa9\", \"n\": 1, \"b\": true}", R"({"s": 1, "n": 1, "b": true})",
        R"({"s": "x", "n": 01, "b": true})", R"({"s": "x", "n": 1., "b": true})",
        R"({"s": "x", "n": -, "b": true})", R"({"s": "x", "n": "1", "b": true})",
        R"({"s": "x", "n": 1, "b": tru})", R"({"s": "x", "n": 1, "b": 1})",
        R"({"s": "x", "n": 1, "b": true)", R"({"s": "x)", ""}) {
    EXPECT_FALSE(shape.Match(other, values)) << other;
  }
}

// A text matches exactly when it has the learned layout: then it is strict JSON, and
// learning it gives a shape that matches the example (the same layout and slot kinds).
TEST(JsonShapeTest, MatchingTextsHaveTheExamplesShape) {
  const std::vector<std::string> seeds = {
      kRecord, R"({"key":null,"value":"payload","timestamp":"2026-01-01T00:00:00Z"})",
      R"(  [ 1 , "a" , { "b" : false } ]  )"};
  for (const std::string& seed : seeds) {
    JsonShape shape;
    ASSERT_TRUE(shape.Learn(seed)) << seed;
    size_t matched = 0;
    std::vector<std::string> texts = JsonValueVariants({seed}, 3000, 5);
    std::vector<std::string> mutants = JsonMutations({seed}, 3000, 6);
    texts.insert(texts.end(), mutants.begin(), mutants.end());
    for (const std::string& text : texts) {
      std::string_view values[JsonShape::kMaxSlots];
      std::string padded = text + std::string(16, '\0');
      const bool match = shape.Match(text, values);
      EXPECT_EQ(shape.Match<true>(std::string_view(padded.data(), text.size()), values), match)
          << text;
      if (!match) continue;
      ++matched;
      EXPECT_TRUE(Strict(text)) << text;
      JsonShape again;
      ASSERT_TRUE(again.Learn(text)) << text;
      EXPECT_TRUE(again.Match(seed, values)) << text;
      ASSERT_EQ(again.slot_count(), shape.slot_count());
      for (size_t i = 0; i < shape.slot_count(); ++i) EXPECT_EQ(again.kind(i), shape.kind(i));
    }
    EXPECT_GT(matched, texts.size() / 20) << seed;  // not vacuous
  }
}

TEST(JsonShapeTest, EveryShapeHasItsOwnId) {
  JsonShape a, b;
  ASSERT_TRUE(a.Learn("{}"));
  ASSERT_TRUE(b.Learn("{}"));
  uint64_t first = a.id();
  EXPECT_NE(a.id(), b.id());
  ASSERT_TRUE(a.Learn("{}"));
  EXPECT_NE(a.id(), first);  // relearned: plans made for the old one no longer apply
}

struct CountingPlan {
  int made = 0;
};

TEST(ShapeCacheTest, MatchesLearnedShapesAndBacksOffWhenTheyAreNotReused) {
  ShapeCache<CountingPlan> cache;
  auto plan = [](const JsonShape&, CountingPlan* p) { return ++p->made > 0; };
  EXPECT_EQ(cache.Match(R"({"a": 1})"), nullptr);
  EXPECT_TRUE(cache.ShouldLearn());
  cache.Learn(R"({"a": 1})", plan);
  const auto* entry = cache.Match(R"({"a": 22})");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(cache.values()[0], "22");
  // Plans that cannot be made leave nothing behind.
  cache.Learn(R"({"b": 1})", [](const JsonShape&, CountingPlan*) { return false; });
  EXPECT_EQ(cache.Match(R"({"b": 1})"), nullptr);
  // Texts of ever new layouts: learning backs off to every 64th miss.
  int learned = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string text = "{\"k" + std::to_string(i) + "\": 1}";
    if (cache.Match(text) != nullptr) continue;
    if (cache.ShouldLearn()) {
      ++learned;
      cache.Learn(text, plan);
    }
  }
  EXPECT_LT(learned, 40);
  EXPECT_GT(learned, 10);
  // A layout that comes back is learned again within 64 misses, and then matched.
  int misses = 0;
  for (int i = 0; i < 200 && cache.Match(R"({"z": 1})") == nullptr; ++i) {
    ++misses;
    if (cache.ShouldLearn()) cache.Learn(R"({"z": 1})", plan);
  }
  EXPECT_LE(misses, 64);
  EXPECT_NE(cache.Match(R"({"z": 5})"), nullptr);
}

}  // namespace
}  // namespace statefold::small_json
