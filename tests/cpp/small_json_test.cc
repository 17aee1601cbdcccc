// Pins the strict scanner of decode/small_json.h: what it reads, and that it declines
// everything that is not exactly the expected JSON.

#include "decode/small_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace statefold::small_json {
namespace {

bool Skips(std::string_view text) {
  Scanner in(text);
  return in.SkipValue() && in.AtEnd();
}

TEST(SmallJsonTest, ReadsStringsWithoutEscapesAsViews) {
  std::string text = R"(  "u1" "" "a\"b" "caf)"
                     "\xc3\xa9"
                     R"(" "a)"
                     "\x01"
                     R"(" "open)";
  Scanner in(text);
  std::string_view s;
  ASSERT_TRUE(in.ReadString(&s));
  EXPECT_EQ(s, "u1");
  EXPECT_EQ(s.data(), text.data() + 3);
  ASSERT_TRUE(in.ReadString(&s));
  EXPECT_EQ(s, "");
  EXPECT_FALSE(in.ReadString(&s));  // escape
  EXPECT_FALSE(Scanner(R"("caf)"
                       "\xc3\xa9\"")
                   .ReadString(&s));                  // non-ASCII
  EXPECT_FALSE(Scanner("\"a\x01\"").ReadString(&s));  // control character
  EXPECT_FALSE(Scanner("\"a\x7f").ReadString(&s));    // unterminated
  EXPECT_FALSE(Scanner("u1").ReadString(&s));
}

TEST(SmallJsonTest, StringsEndAtTheFirstSpecialByteWhereverItIs) {
  // Plain bytes next in value to the special ones (0x1f, '"', '\\', 0x80), then a special
  // byte, at every position up to 25.
  const std::string fillers = " !#[]~\x7f";
  for (size_t length = 0; length < 26; ++length) {
    std::string plain;
    for (size_t i = 0; i < length; ++i) plain.push_back(fillers[i % fillers.size()]);
    for (char special : {'"', '\\', '\x01', '\x1f', '\x80', '\xff', '\n'}) {
      std::string text = "\"" + plain + special + "abcdefghij\"";
      std::string_view s;
      Scanner in(text);
      EXPECT_EQ(in.ReadString(&s), special == '"') << length << " " << int(special);
      if (special == '"') {
        EXPECT_EQ(s, plain);
      }
    }
  }
}

TEST(SmallJsonTest, ReadsPlainIntegersOfAtMost18Digits) {
  int64_t v;
  std::string_view token;
  for (auto [text, value] : {std::pair{"0", int64_t{0}},
                             {"-0", 0},
                             {"42", 42},
                             {" -7", -7},
                             {"999999999999999999", 999999999999999999},
                             {"-999999999999999999", -999999999999999999}}) {
    Scanner in(text);
    ASSERT_TRUE(in.ReadInteger(&v, &token)) << text;
    EXPECT_EQ(v, value);
    EXPECT_EQ(token, std::string_view(text).substr(text[0] == ' ' ? 1 : 0));
  }
  for (const char* text : {"01", "-", "-01", "1.5", "1e5", "1E5", "1000000000000000000", "+1",
                           "\"1\"", "", "-a", "0.0"}) {
    EXPECT_FALSE(Scanner(text).ReadInteger(&v, &token)) << text;
  }
}

TEST(SmallJsonTest, ReadsLiterals) {
  bool b = false;
  EXPECT_TRUE(Scanner(" true").ReadBool(&b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(Scanner("false").ReadBool(&b));
  EXPECT_FALSE(b);
  EXPECT_TRUE(Scanner("null").ReadNull());
  EXPECT_FALSE(Scanner("tru").ReadBool(&b));
  EXPECT_FALSE(Scanner("fals").ReadBool(&b));
  EXPECT_FALSE(Scanner("nul").ReadNull());
  EXPECT_FALSE(Scanner("1").ReadBool(&b));
  EXPECT_FALSE(Scanner("\"true\"").ReadBool(&b));
}

TEST(SmallJsonTest, ConsumeAndAtEndSkipJsonWhitespaceOnly) {
  Scanner in(" \t\r\n{ \n}  ");
  EXPECT_TRUE(in.Consume('{'));
  EXPECT_FALSE(in.Consume(','));
  EXPECT_TRUE(in.Consume('}'));
  EXPECT_TRUE(in.AtEnd());
  EXPECT_FALSE(Scanner("\f").AtEnd());
  EXPECT_FALSE(Scanner("\v{").Consume('{'));
  EXPECT_FALSE(Scanner("").Consume('\0'));
}

// Texts that are JSON, and texts that are not, whatever their numbers' magnitude.
const std::vector<std::string> kJson = {"{}",
                                        "[]",
                                        " [ ] ",
                                        "0",
                                        "-0",
                                        "1.5",
                                        "-1.5e-3",
                                        "1E+10",
                                        "123456789012345678901234",
                                        "true",
                                        "false",
                                        "null",
                                        R"("")",
                                        R"("\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00")",
                                        R"({"a": [1, {"b": null}, "c"], "d": {}})",
                                        R"([[[[]]]])",
                                        R"([{"a": [{}]}, [], {"b": {"c": [1, {"d": []}]}}])",
                                        "{\"a\":\n1\t,\r\"b\":2}"};
const std::vector<std::string> kNotJson = {"",
                                           "{",
                                           "}",
                                           "[",
                                           "[1,]",
                                           "[,1]",
                                           "{\"a\"}",
                                           "{\"a\":}",
                                           "{\"a\":1,}",
                                           "{a:1}",
                                           "{'a':1}",
                                           "01",
                                           "-",
                                           "1.",
                                           ".5",
                                           "1e",
                                           "1e+",
                                           "+1",
                                           "0x1",
                                           "NaN",
                                           "Infinity",
                                           "tru",
                                           "nul",
                                           "truex",
                                           "\"\\x\"",
                                           "\"\\u12\"",
                                           "\"\\u12g4\"",
                                           "\"a",
                                           "\"\x01\"",
                                           "[1 2]",
                                           "[}",
                                           "{]",
                                           "{\"a\": 1]",
                                           "[{]}",
                                           "{\"a\": [1}",
                                           "[1, {\"a\": 2]]",
                                           "{\"a\":1 \"b\":2}",
                                           "1 2",
                                           "[\x0b]",
                                           "[1]]",
                                           "{}}"};

TEST(SmallJsonTest, SkipValueAcceptsExactlyRfc8259) {
  for (const std::string& text : kJson) EXPECT_TRUE(Skips(text)) << text;
  for (const std::string& text : kNotJson) EXPECT_FALSE(Skips(text)) << text;
  EXPECT_FALSE(Skips("\"\xc3\xa9\""));  // declined: the full parser reads non-ASCII
}

// The judge of records that simdjson's DOM parser refused for a number's range or a lone
// surrogate (RecordDecoder::DecodeWithSimdjson): grammar, and nothing but grammar.
TEST(SmallJsonTest, IsJsonGrammarAcceptsExactlyRfc8259) {
  for (const std::string& text : kJson) EXPECT_TRUE(IsJsonGrammar(text, 8)) << text;
  for (const std::string& text : kNotJson) EXPECT_FALSE(IsJsonGrammar(text, 8)) << text;
  for (const char* text : {"\"\xc3\xa9\"", "1e400", "-1e400", R"(["\ud800", "\udc00\ud800"])",
                           R"({"a": {"b": [1e999, "\udfff"]}})"}) {
    EXPECT_TRUE(IsJsonGrammar(text, 8)) << text;
  }
  for (const char* text : {"-Infinity", "-NaN", "[1e400, tru]", R"(["\ud800", 01])",
                           R"({"a": "\ud800" "b"})", "[1e400,]"}) {
    EXPECT_FALSE(IsJsonGrammar(text, 8)) << text;
  }
  EXPECT_TRUE(IsJsonGrammar(std::string(8, '[') + std::string(8, ']'), 8));
  EXPECT_FALSE(IsJsonGrammar(std::string(9, '[') + std::string(9, ']'), 8));
  EXPECT_TRUE(IsJsonGrammar(R"({"a": {"b": {}}})", 3));  // an empty container is a level too
  EXPECT_FALSE(IsJsonGrammar(R"({"a": {"b": {}}})", 2));
}

TEST(SmallJsonTest, SkipValueNestsAtMost32Deep) {
  std::string ok = std::string(32, '[') + std::string(32, ']');
  std::string deep = std::string(33, '[') + std::string(33, ']');
  EXPECT_TRUE(Skips(ok));
  EXPECT_FALSE(Skips(deep));
  std::string objects;
  for (int i = 0; i < 33; ++i) objects += "{\"a\":";
  objects += "1" + std::string(33, '}');
  EXPECT_FALSE(Skips(objects));
}

}  // namespace
}  // namespace statefold::small_json
