// Pins the JSON Lines record format and its dead-letter reasons.

#include "decode/record_decoder.h"

#include <gtest/gtest.h>

namespace statefold {
namespace {

class RecordDecoderTest : public ::testing::Test {
 protected:
  Status Decode(const std::string& line) {
    padded_ = line + std::string(64, '\0');
    return decoder_.Decode(std::string_view(padded_.data(), line.size()), &record_);
  }
  RecordDecoder decoder_{1024};
  DecodedRecord record_;
  std::string padded_;
};

TEST_F(RecordDecoderTest, ReadsKeyObjectValueAndIsoTimestamp) {
  ASSERT_TRUE(
      Decode(
          R"({"key": "u1", "value": {"user_id": "u1", "ip_address": "10.0.0.1"}, "timestamp": "2026-01-01T00:00:01.5Z"})")
          .ok());
  EXPECT_TRUE(record_.has_key);
  EXPECT_EQ(record_.key, "u1");
  EXPECT_TRUE(record_.value_is_object);
  EXPECT_EQ(record_.value, R"({"user_id": "u1", "ip_address": "10.0.0.1"})");
  EXPECT_TRUE(record_.has_timestamp);
  EXPECT_EQ(record_.timestamp_ms, 1767225601500);
}

TEST_F(RecordDecoderTest, KeyMayBeNullAbsentOrNumber) {
  ASSERT_TRUE(Decode(R"({"key": null, "value": {}})").ok());
  EXPECT_FALSE(record_.has_key);
  ASSERT_TRUE(Decode(R"({"value": {}})").ok());
  EXPECT_FALSE(record_.has_key);
  ASSERT_TRUE(Decode(R"({"key": 42, "value": {}})").ok());
  EXPECT_EQ(record_.key, "42");
}

TEST_F(RecordDecoderTest, StringPayloadIsUnescaped) {
  ASSERT_TRUE(Decode(R"({"key": "k", "value": "{\"a\": 1}", "timestamp": 1700000000000})").ok());
  EXPECT_FALSE(record_.value_is_object);
  EXPECT_EQ(record_.value, R"({"a": 1})");
  EXPECT_EQ(record_.timestamp_ms, 1700000000000);
}

TEST_F(RecordDecoderTest, BadRecordsGiveReasons) {
  EXPECT_NE(Decode(R"({"value": {}} })").message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(Decode(R"({"value": {}} {"value": {}})").message().find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(Decode("{not json").message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(Decode("[1, 2]").message().find("not a JSON object"), std::string::npos);
  EXPECT_NE(Decode(R"({"key": "k"})").message().find("no \"value\""), std::string::npos);
  EXPECT_NE(Decode(R"({"key": [1], "value": {}})").message().find("key must be"),
            std::string::npos);
  EXPECT_NE(Decode(R"({"value": 5})").message().find("value must be"), std::string::npos);
  EXPECT_NE(Decode(R"({"value": {}, "timestamp": "yesterday"})").message().find("ISO-8601"),
            std::string::npos);
  EXPECT_NE(Decode("{\"value\": \"\xff\xfe\"}").message().find("UTF-8"), std::string::npos);
  EXPECT_NE(
      Decode(R"({"value": {"a": ")" + std::string(2000, 'x') + "\"}}").message().find("exceeds"),
      std::string::npos);
}

TEST_F(RecordDecoderTest, ExtractsNestedKeyFields) {
  std::string key;
  ASSERT_TRUE(decoder_.ExtractKey(R"({"user": {"id": "u7"}, "n": 3})", {"user", "id"}, &key).ok());
  EXPECT_EQ(key, "u7");
  ASSERT_TRUE(decoder_.ExtractKey(R"({"n": 3})", {"n"}, &key).ok());
  EXPECT_EQ(key, "3");
  Status missing = decoder_.ExtractKey(R"({"n": 3})", {"user", "id"}, &key);
  EXPECT_NE(missing.message().find("key field user.id is missing"), std::string::npos);
  Status wrong = decoder_.ExtractKey(R"({"n": [3]})", {"n"}, &key);
  EXPECT_NE(wrong.message().find("must be a string or an integer"), std::string::npos);
}

TEST(Iso8601Test, ParsesOffsetsAndFractions) {
  int64_t ms;
  ASSERT_TRUE(ParseIso8601Millis("1970-01-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, 0);
  ASSERT_TRUE(ParseIso8601Millis("1970-01-01T01:00:00+01:00", &ms));
  EXPECT_EQ(ms, 0);
  ASSERT_TRUE(ParseIso8601Millis("1970-01-01T00:00:00.123456", &ms));
  EXPECT_EQ(ms, 123);
  ASSERT_TRUE(ParseIso8601Millis("2000-03-01", &ms));
  EXPECT_EQ(ms, 951868800000);
  EXPECT_FALSE(ParseIso8601Millis("2000-13-01", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2000-01-01T10", &ms));
}

}  // namespace
}  // namespace statefold
