// Pins the JSON Lines record format and its dead-letter reasons.

#include "decode/record_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "decode/json_nesting.h"

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

TEST_F(RecordDecoderTest, FieldNamesMayBeEscaped) {
  ASSERT_TRUE(Decode(R"({"k\u0065y": "u1", "v\u0061lue": {"a": 1}, "extra\"": 2})").ok());
  EXPECT_EQ(record_.key, "u1");
  EXPECT_EQ(record_.value, R"({"a": 1})");
}

TEST_F(RecordDecoderTest, StringPayloadIsUnescaped) {
  ASSERT_TRUE(Decode(R"({"key": "k", "value": "{\"a\": 1}", "timestamp": 1700000000000})").ok());
  EXPECT_FALSE(record_.value_is_object);
  EXPECT_EQ(record_.value, R"({"a": 1})");
  EXPECT_EQ(record_.timestamp_ms, 1700000000000);
}

// fuzz/corpus/record_decoder/13-skipped-members-invalid: On-Demand does not validate the
// members it skips, so a record with invalid JSON inside its value or an unknown field was
// accepted (and NaN reached pydantic, which allows it). Numbers beyond a double's range are
// JSON and stay accepted, as the fast paths accept them.
TEST_F(RecordDecoderTest, InvalidJsonInsideSkippedMembersIsRefused) {
  for (const std::string& line : std::vector<std::string>{
           R"({"key": "k", "value": {"ip": "1", "score": NaN}})",
           R"({"key": "k", "value": {"a": [1,,2]}})",
           R"({"key": "k", "value": {"a": tru}, "timestamp": 1})",
           // The DOM parser reports these as a number's error, as it reports 1e400.
           R"({"key": "k", "value": {"ip": "1", "score": -Infinity}})",
           R"({"key": "k", "value": {"ip": "1", "score": -NaN}})",
           // An error after an accepted range error or lone surrogate is still found.
           R"({"key": "k", "value": {"big": 1e400, "a": tru}})",
           R"({"key": "k", "value": {"s": "\ud800", "a": [1,]}})",
       }) {
    Status status = Decode(line);
    EXPECT_FALSE(status.ok()) << line;
    EXPECT_NE(status.message().find("record is not valid JSON"), std::string::npos)
        << status.message();
  }
  // (Deep nesting, which On-Demand skips too, is the nesting limit's: RecordNestingTest.)
  EXPECT_TRUE(Decode(R"({"key": "k", "value": {"a": "é", "big": 1e400, "s": "\ud800"}})").ok());
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

// One limit for every resolver (docs/semantics.md, Records): the Python and native event
// parsers never see a value nesting deeper than kMaxValueNesting.
TEST(RecordNestingTest, AValueNestingDeeperThanTheLimitIsRefusedBeforeAnyResolver) {
  RecordDecoder decoder(1 << 20);
  auto value_of_depth = [](int depth) {  // an object holding depth - 1 levels of arrays
    return R"({"a": )" + std::string(depth - 1, '[') + "1" + std::string(depth - 1, ']') + "}";
  };
  for (int depth : {1, 32, 33, kMaxValueNesting, kMaxValueNesting + 1, 100000}) {
    const std::string value = value_of_depth(depth);
    std::string line = R"({"key": "u", "value": )" + value + "}";
    const size_t size = line.size();
    line.append(64, '\0');
    DecodedRecord record;
    Status status = decoder.Decode(std::string_view(line.data(), size), &record);
    RawRecord raw;  // a Kafka record: the value is the payload
    raw.value = value;
    Status native = decoder.DecodeNative(raw, &record);
    if (depth <= kMaxValueNesting) {
      EXPECT_TRUE(status.ok()) << depth << ": " << status.ToString();
      EXPECT_TRUE(native.ok()) << depth << ": " << native.ToString();
    } else {
      const std::string reason = NestingReason(value.find('[') + kMaxValueNesting - 1);
      EXPECT_EQ(status.message(), reason) << depth;
      EXPECT_EQ(native.message(), reason) << depth;
    }
  }
  // Brackets inside strings are text, and a payload that is not JSON is not judged.
  const std::string brackets = std::string(200, '[');
  std::string line = R"({"value": {"s": ")" + brackets + R"("}})";
  const size_t size = line.size();
  line.append(64, '\0');
  DecodedRecord record;
  EXPECT_TRUE(decoder.Decode(std::string_view(line.data(), size), &record).ok());
  RawRecord raw;
  const std::string payload = "x" + brackets;  // outlives the view
  raw.value = payload;
  EXPECT_TRUE(decoder.DecodeNative(raw, &record).ok());
  EXPECT_EQ(FindNestingBeyond(R"(["\"[[", [[1]]])", 2), 10u);
}

// Every event decoder (simdjson, the scalar scan, pydantic, json.loads) takes the last of
// repeated names; the key path's members must be unique, so that the key is read from the
// member the event shows, whatever the decoder.
TEST_F(RecordDecoderTest, AMemberNamedTwiceOnTheKeyPathIsRefusedSoKeyAndEventAgree) {
  std::string key;
  Status twice = decoder_.ExtractKey(R"({"meta": {"uid": "victim", "uid": "attacker"}})",
                                     {"meta", "uid"}, &key);
  EXPECT_EQ(twice.message(),
            "key field meta.uid: the message has member meta.uid more than once, so its key and "
            "its event could disagree");
  Status outer = decoder_.ExtractKey(R"({"meta": {"uid": "victim"}, "meta": {"uid": "attacker"}})",
                                     {"meta", "uid"}, &key);
  EXPECT_NE(outer.message().find("has member meta more than once"), std::string::npos)
      << outer.message();
  // A name written with escapes is the same name.
  Status escaped =
      decoder_.ExtractKey(R"({"uid": "victim", "u\u0069d": "attacker"})", {"uid"}, &key);
  EXPECT_NE(escaped.message().find("more than once"), std::string::npos) << escaped.message();
  ASSERT_TRUE(decoder_.ExtractKey(R"({"u\u0069d": "u8"})", {"uid"}, &key).ok());
  EXPECT_EQ(key, "u8");
  // Names repeated off the path do not matter to the key.
  ASSERT_TRUE(decoder_
                  .ExtractKey(R"({"n": 1, "meta": {"x": 1, "x": 2, "uid": "u9"}, "n": 2})",
                              {"meta", "uid"}, &key)
                  .ok());
  EXPECT_EQ(key, "u9");
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

TEST(Iso8601Test, ImpossibleDatesTimesAndOffsetsAreRefusedNotShifted) {
  int64_t ms = 7;
  EXPECT_FALSE(ParseIso8601Millis("2026-02-30T00:00:00Z", &ms));  // not March 2
  EXPECT_FALSE(ParseIso8601Millis("2026-02-29", &ms));            // 2026 is not a leap year
  EXPECT_FALSE(ParseIso8601Millis("1900-02-29", &ms));            // nor is 1900
  EXPECT_FALSE(ParseIso8601Millis("2026-04-31", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-00", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T00:00:00+99:99", &ms));  // not 100 h 39 min
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T00:00:00+24:00", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T00:00:00-05:60", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T24:00:00Z", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T23:60:00Z", &ms));
  EXPECT_FALSE(ParseIso8601Millis("2026-01-01T23:59:60Z", &ms));
  EXPECT_EQ(ms, 7);  // untouched
  ASSERT_TRUE(ParseIso8601Millis("2024-02-29T00:00:00Z", &ms));
  EXPECT_EQ(ms, 1709164800000);
  ASSERT_TRUE(ParseIso8601Millis("2000-02-29T23:59:59.999-23:59", &ms));
  EXPECT_EQ(ms, 951868799999 + (23 * 60 + 59) * 60000LL);
}

TEST_F(RecordDecoderTest, AnImpossibleTimestampIsADeadLetterWithAPreciseReason) {
  EXPECT_EQ(Decode(R"({"value": {}, "timestamp": "2026-02-30T00:00:00Z"})").message(),
            "record timestamp \"2026-02-30T00:00:00Z\" is not a valid ISO-8601 date-time: day "
            "out of range for its month (no such date)");
  EXPECT_EQ(Decode(R"({"value": {}, "timestamp": "2026-01-01T00:00:00+99:99"})").message(),
            "record timestamp \"2026-01-01T00:00:00+99:99\" is not a valid ISO-8601 date-time: "
            "UTC offset out of range (hours 00-23, minutes 00-59)");
  EXPECT_NE(Decode(R"({"value": {}, "timestamp": "2026-01-01T25:00Z"})").message().find("hour"),
            std::string::npos);
  // A long timestamp is shown cut.
  const std::string long_text = "2026-01-01T00:00:00Z" + std::string(500, '0');
  const std::string reason =
      Decode(R"({"value": {}, "timestamp": ")" + long_text + "\"}").message();
  EXPECT_LT(reason.size(), 200u) << reason;
  EXPECT_NE(reason.find("not of the form"), std::string::npos) << reason;
}

// StartBatch/Next parse a file's consecutive lines as one document stream; whatever the lines
// hold, each record's outcome must be exactly what Decode gives it alone.
TEST_F(RecordDecoderTest, BatchDecodingGivesEachRecordItsOwnOutcome) {
  const std::vector<std::string> lines = {
      R"({"key": "u1", "value": {"a": 1}, "timestamp": 5})",
      R"({"key": "u\"2", "value": "text \u00e9", "timestamp": "2026-01-01T00:00:00Z"})",
      R"(  {"key": 7, "value": {"nested": {"b": [1, 2]}}})",
      R"({"key": "u3", "value": {"a": 1}} {"key": "extra"})",
      R"({"key": "u4", "value": {"a": )",
      R"(1}})",
      R"({"key": "u5"})",
      R"([1, 2])",
      R"("just a string")",
      "{\"key\": \"u6\", \"value\": {\"big\": \"" + std::string(2000, 'x') + "\"}}",
      R"({"key": "u7", "value": {"tail": true}})",
  };
  std::string buffer;
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 3) buffer += "\n\n";  // blank lines between records
    spans.emplace_back(buffer.size(), lines[i].size());
    buffer += lines[i] + "\n";
  }
  buffer += std::string(64, '\0');
  std::vector<RawRecord> records;
  for (auto [begin, size] : spans) {
    RawRecord record;
    record.bytes = std::string_view(buffer).substr(begin, size);
    records.push_back(record);
  }
  std::vector<std::string> batch_results;
  decoder_.StartBatch(records);
  size_t index;
  DecodedRecord decoded;
  Status status;
  while (decoder_.Next(&index, &decoded, &status)) {
    ASSERT_EQ(index, batch_results.size());
    batch_results.push_back(status.ToString() + "|" + std::string(decoded.key) + "|" +
                            std::string(decoded.value) + "|" +
                            std::to_string(decoded.timestamp_ms));
  }
  ASSERT_EQ(batch_results.size(), records.size());
  size_t ok = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    Status alone = Decode(lines[i]);
    ok += alone.ok();
    EXPECT_EQ(batch_results[i], alone.ToString() + "|" + std::string(record_.key) + "|" +
                                    std::string(record_.value) + "|" +
                                    std::to_string(record_.timestamp_ms))
        << "record " << i;
  }
  EXPECT_EQ(ok, 4u);  // the others are dead letters with their own reasons
}

}  // namespace
}  // namespace statefold
