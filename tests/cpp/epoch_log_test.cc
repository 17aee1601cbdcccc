// EpochLog: the epoch's messages keep their bytes, order and keys until Clear.

#include "engine/epoch_log.h"

#include <gtest/gtest.h>

#include <string>

namespace statefold {
namespace {

DecodedRecord Decoded(std::string_view key, std::string_view value, std::string_view headers = {}) {
  DecodedRecord decoded;
  decoded.has_key = true;
  decoded.key = key;
  decoded.value = value;
  decoded.headers = headers;
  return decoded;
}

RawRecord Raw(int32_t partition, int64_t offset) {
  RawRecord raw;
  raw.partition = partition;
  raw.offset = offset;
  return raw;
}

TEST(EpochLogTest, MessagesKeepTheirBytesOrderAndPosition) {
  EpochLog log;
  log.Reserve(4);
  EXPECT_EQ(log.Append(0, Raw(2, 7), Decoded("u1", R"({"a":1})", "hh"), 1000), 0u);
  DecodedRecord keyless = Decoded("", "payload");
  keyless.has_key = false;
  EXPECT_EQ(log.Append(1, Raw(0, 8), keyless, 2000), 1u);
  ASSERT_EQ(log.size(), 2u);

  Message first = log.MessageAt(log.RecordKey(0));
  EXPECT_EQ(first.key, "u1");
  EXPECT_EQ(first.value, R"({"a":1})");
  EXPECT_EQ(first.headers, "hh");
  EXPECT_EQ(first.partition, 2);
  EXPECT_EQ(first.offset, 7);
  EXPECT_EQ(first.timestamp_ms, 1000);
  EXPECT_EQ(log[0].source_index, 0u);
  EXPECT_TRUE(log[0].has_key);
  EXPECT_EQ(log[0].value_slots, -1);

  Message second = log.MessageAt(log.RecordKey(1));
  EXPECT_EQ(second.key, "");
  EXPECT_EQ(second.value, "payload");
  EXPECT_EQ(second.headers, "");
  EXPECT_FALSE(log[1].has_key);
  EXPECT_EQ(log[1].source_index, 1u);
}

TEST(EpochLogTest, AResolversOwnKeyIsKeptBesideTheRecordKey) {
  EpochLog log;
  log.Append(0, Raw(0, 0), Decoded("record-key", R"({"user":"u9"})"), 1);
  KeyRef field_key = log.AddKey(0, "u9");
  EXPECT_EQ(log.Key(field_key), "u9");
  EXPECT_EQ(log.MessageAt(field_key).key, "u9");
  EXPECT_EQ(log.MessageAt(field_key).value, R"({"user":"u9"})");
  EXPECT_EQ(log.RecordKey(log[0]), "record-key");
}

TEST(EpochLogTest, ClearForgetsEveryMessage) {
  EpochLog log;
  log.Append(0, Raw(0, 0), Decoded("k", "v"), 1);
  log.Clear();
  EXPECT_EQ(log.size(), 0u);
  EXPECT_FALSE(log.Full());
  EXPECT_EQ(log.Append(0, Raw(0, 1), Decoded("k2", "v2"), 2), 0u);
  EXPECT_EQ(log.MessageAt(log.RecordKey(0)).value, "v2");
}

TEST(ByteArenaTest, GrowingKeepsEveryByte) {
  ByteArena arena(16);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string piece(static_cast<size_t>(i % 70), static_cast<char>('a' + i % 26));
    EXPECT_EQ(arena.Append(piece), expected.size());
    expected += piece;
  }
  ASSERT_EQ(arena.size(), expected.size());
  EXPECT_EQ(std::string_view(arena.data(), arena.size()), expected);
  arena.Clear();
  EXPECT_EQ(arena.size(), 0u);
  EXPECT_EQ(arena.Append("xy"), 0u);
}

}  // namespace
}  // namespace statefold
