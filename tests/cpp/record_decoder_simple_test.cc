// Differential test of RecordDecoder's fast path: for every input, Decode (fast path first)
// gives exactly what DecodeWithSimdjson gives, and the fast path handles the common records.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "decode/record_decoder.h"
#include "json_mutations.h"

namespace statefold {
namespace {

const std::vector<std::string> kRecords = {
    R"({"key": "u4", "value": {"user_id": "u4", "ip_address": "10.4.0.4"}, "timestamp": 1767225600000})",
    R"({"key":"u1","value":{"a":1,"b":[true,false,null,-1.5e3,{"c":"d"}]},"timestamp":"2026-01-01T00:00:01.5Z"})",
    R"({"key": 42, "value": "payload", "timestamp": null})",
    R"({"key": null, "value": {}})",
    R"({"value": {}})",
    R"(  { "value" : { "x" : "y" }  ,  "key" : -7 , "timestamp" : 0 }  )",
    "{\n\"value\":\t{\"a\":1}\r\n}\n",
    R"({"value": {"a": 1}    })",
    R"({"partition": 3, "headers": {"h": "v"}, "value": {"a": 1}, "extra": [1, 2, {"q": "\u00e9\n"}]})",
    R"({"key": "a", "key": "b", "value": {"n": 1}, "value": {"n": 2}})",
    R"({"key": "a", "key": null, "value": {}})",
    R"({"value": {}, "value": "s"})",
    R"({"value": "s", "value": {}})",
    R"({"value": {}, "timestamp": 5, "timestamp": null})",
    R"({"value": {}, "timestamp": "2026-01-01"})",
    R"({"value": {}, "timestamp": "2026-01-01 10:20+02:00"})",
    R"({"value": {}, "timestamp": "2026-13-01T00:00:00Z"})",
    R"({"value": {}, "timestamp": "2026-02-30T00:00:00Z"})",
    R"({"value": {}, "timestamp": "2024-02-29T00:00:00Z"})",
    R"({"value": {}, "timestamp": "2026-01-01T00:00:00+99:99"})",
    R"({"value": {}, "timestamp": "2026-01-01T23:59:60Z"})",
    R"({"value": {}, "timestamp": "yesterday"})",
    R"({"value": {}, "timestamp": 1.5})",
    R"({"value": {}, "timestamp": 1e5})",
    R"({"value": {}, "timestamp": -0})",
    R"({"value": {}, "timestamp": 01})",
    R"({"value": {}, "timestamp": 99999999999999999999})",
    R"({"value": {}, "timestamp": 999999999999999999})",
    R"({"value": {}, "timestamp": true})",
    R"({"key": -0, "value": {}})",
    R"({"key": 0, "value": {}})",
    R"({"key": 1.5, "value": {}})",
    R"({"key": 1e5, "value": {}})",
    R"({"key": 12345678901234567890, "value": {}})",
    R"({"key": true, "value": {}})",
    R"({"key": [1], "value": {}})",
    R"({"key": {}, "value": {}})",
    R"({"key": "a\"b", "value": {}})",
    R"({"key": "caf)"
    "\xc3\xa9"
    R"(", "value": {}})",
    "{\"key\": \"a\x01\", \"value\": {}}",
    R"({"k\u0065y": "u1", "value": {}})",
    R"({"value": "\u00e9"})",
    R"({"value": 5})",
    R"({"value": null})",
    R"({"value": [1]})",
    R"({"value": tru})",
    R"({"value": {"a": nul}})",
    R"({"value": {"a": 01}})",
    R"({"value": {"a": 1.}})",
    R"({"value": {"a": "\x"}})",
    R"({"value": {"a": "\ud800"}})",
    R"({"key": "k"})",
    R"({})",
    R"([1, 2])",
    R"("value")",
    R"({"value": {}} })",
    R"({"value": {}} {"value": {}})",
    R"({"value": {}} x)",
    R"({"value": {}},)",
    R"({"value": {},})",
    R"({,"value": {}})",
    R"({"value" {}})",
    R"({"value": {})",
    "{not json",
    "",
    "   ",
    "{\"value\": \"\xff\xfe\"}",
    std::string("{\"value\": {}}\0", 14),
    "{\"value\": {\"a\": "
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
};

class RecordDecoderSimpleTest : public ::testing::Test {
 protected:
  // Checks that Decode agrees with DecodeWithSimdjson on `line`; returns whether the fast
  // path handled it. Both decoders are new: on an unclosed object, simdjson's outcome may
  // depend on what its parser read before.
  bool Agrees(const std::string& line) {
    RecordDecoder decoder{1 << 20};
    DecodedRecord fast;
    const bool valid = SameAsSimdjson(decoder, line, &fast);
    DecodedRecord ignored;
    bool handled =
        RecordDecoder::DecodeSimple(std::string_view(padded_.data(), line.size()), &ignored);
    if (handled) {
      EXPECT_TRUE(valid) << line;
    }
    return handled;
  }

  // Decodes `line` with `decoder` into *fast (views valid until the next call) and checks
  // the outcome against a new decoder's DecodeWithSimdjson; returns whether `line` is valid.
  bool SameAsSimdjson(RecordDecoder& decoder, const std::string& line, DecodedRecord* fast) {
    RecordDecoder reference{1 << 20};
    padded_ = line + std::string(64, '\0');
    std::string_view bytes(padded_.data(), line.size());
    DecodedRecord slow;
    Status fast_status = decoder.Decode(bytes, fast);
    Status slow_status = reference.DecodeWithSimdjson(bytes, &slow);
    EXPECT_EQ(fast_status.ok(), slow_status.ok()) << line;
    EXPECT_EQ(fast_status.message(), slow_status.message()) << line;
    if (!slow_status.ok()) return false;
    EXPECT_EQ(fast->has_key, slow.has_key) << line;
    if (slow.has_key) {
      EXPECT_EQ(fast->key, slow.key) << line;
    }
    EXPECT_EQ(fast->value, slow.value) << line;
    EXPECT_EQ(fast->value_is_object, slow.value_is_object) << line;
    EXPECT_EQ(fast->has_timestamp, slow.has_timestamp) << line;
    EXPECT_EQ(fast->timestamp_ms, slow.timestamp_ms) << line;
    return true;
  }

  RecordDecoder decoder_{1 << 20};
  RecordDecoder reference_{1 << 20};
  std::string padded_;
};

TEST_F(RecordDecoderSimpleTest, FastPathAgreesWithSimdjsonOnEdgeCases) {
  for (const std::string& line : kRecords) Agrees(line);
}

TEST_F(RecordDecoderSimpleTest, FastPathAgreesWithSimdjsonOnMutatedRecords) {
  size_t handled = 0;
  std::vector<std::string> mutants = JsonMutations(kRecords, 20000, 7);
  for (const std::string& line : mutants) handled += Agrees(line);
  EXPECT_GT(handled, mutants.size() / 20);  // the comparison is not vacuous
}

TEST_F(RecordDecoderSimpleTest, FastPathHandlesTheCommonRecords) {
  for (size_t i = 0; i < 9; ++i) EXPECT_TRUE(Agrees(kRecords[i])) << kRecords[i];
  DecodedRecord record;
  std::string line = R"({"key": "u1", "value": {"a": 1} , "timestamp": 1767225600000})";
  ASSERT_TRUE(RecordDecoder::DecodeSimple(line, &record));
  EXPECT_EQ(record.key, "u1");
  EXPECT_EQ(record.key.data(), line.data() + 9);  // a view, not a copy
  EXPECT_EQ(record.value, R"({"a": 1} )");        // as simdjson's raw_json(): up to the comma
  EXPECT_EQ(record.timestamp_ms, 1767225600000);
}

// A decoder that learned the shape of a record decodes records laid out the same way from
// the shape (small_json::JsonShape), and agrees with simdjson on every record.
TEST_F(RecordDecoderSimpleTest, LearnedShapesAgreeWithSimdjson) {
  size_t by_shape = 0, total = 0;
  for (size_t i = 0; i < 9; ++i) {
    const std::string& seed = kRecords[i];
    RecordDecoder decoder{1 << 20};
    DecodedRecord record;
    ASSERT_TRUE(SameAsSimdjson(decoder, seed, &record));
    std::vector<std::string> texts = JsonValueVariants({seed}, 2000, 3 + i);
    std::vector<std::string> mutants = JsonMutations({seed}, 1000, 40 + i);
    texts.insert(texts.end(), mutants.begin(), mutants.end());
    for (const std::string& text : texts) {
      DecodedRecord fast;
      ++total;
      if (!SameAsSimdjson(decoder, text, &fast)) continue;
      if (fast.shape != nullptr) {
        ++by_shape;
        // The value member's slots are the value's scalars, as views into the record.
        ASSERT_TRUE(fast.value_is_object);
        for (const auto& member : fast.value_member->members) {
          if (member.slot < 0) continue;
          std::string_view v = fast.slot_values[member.slot];
          EXPECT_GE(v.data(), fast.value.data()) << text;
          EXPECT_LE(v.data() + v.size(), fast.value.data() + fast.value.size()) << text;
        }
      }
    }
  }
  EXPECT_GT(by_shape, total / 5);  // the shapes were used
}

TEST_F(RecordDecoderSimpleTest, BatchesDecodeEachRecordAsDecodeDoes) {
  std::string file;
  std::vector<size_t> starts;
  for (const std::string& line : kRecords) {
    if (line.find('\n') != std::string::npos) continue;
    starts.push_back(file.size());
    file += line + "\n";
  }
  file.append(64, '\0');
  std::vector<RawRecord> records;
  size_t k = 0;
  for (const std::string& line : kRecords) {
    if (line.find('\n') != std::string::npos) continue;
    RawRecord raw;
    raw.enveloped = true;
    raw.bytes = std::string_view(file).substr(starts[k++], line.size());
    records.push_back(raw);
  }
  decoder_.StartBatch(records);
  size_t index, expected = 0;
  DecodedRecord record;
  Status status;
  while (decoder_.Next(&index, &record, &status)) {
    ASSERT_EQ(index, expected++);
    DecodedRecord alone;
    Status alone_status = reference_.DecodeWithSimdjson(records[index].bytes, &alone);
    EXPECT_EQ(status.message(), alone_status.message()) << records[index].bytes;
    if (alone_status.ok()) {
      EXPECT_EQ(record.value, alone.value) << records[index].bytes;
    }
  }
  EXPECT_EQ(expected, records.size());
}

}  // namespace
}  // namespace statefold
