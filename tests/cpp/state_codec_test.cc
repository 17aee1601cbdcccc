// The state codec (statefold/state_codec.h): its primitives (ByteWriter/ByteReader of
// statefold/coding.h) and the stored value's header.

#include "statefold/state_codec.h"

#include <gtest/gtest.h>

#include <limits>

namespace statefold {
namespace {

TEST(StateCodecTest, PrimitivesRoundTrip) {
  std::string bytes;
  ByteWriter w(&bytes);
  const int64_t ints[] = {
      0, 1, -1, 63, -64, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  for (int64_t v : ints) w.WriteInt(v);
  w.WriteFloat(2.5);
  w.WriteString("héllo");
  w.WriteBool(true);
  ByteReader r(bytes);
  for (int64_t v : ints) {
    int64_t out;
    ASSERT_TRUE(r.ReadInt(&out));
    EXPECT_EQ(out, v);
  }
  double d;
  ASSERT_TRUE(r.ReadFloat(&d));
  EXPECT_EQ(d, 2.5);
  std::string_view s;
  ASSERT_TRUE(r.ReadString(&s));
  EXPECT_EQ(s, "héllo");
  bool b;
  ASSERT_TRUE(r.ReadBool(&b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(r.AtEnd());
}

TEST(StateCodecTest, TruncatedInputIsRejected) {
  std::string bytes;
  ByteWriter(&bytes).WriteString("abcdef");
  ByteReader r(std::string_view(bytes).substr(0, 3));
  std::string_view s;
  EXPECT_FALSE(r.ReadString(&s));
}

TEST(StateCodecTest, HeaderCarriesFormatAndSchemaVersion) {
  std::string stored;
  WriteStateHeader(300, &stored);
  stored += "payload";
  uint32_t version;
  std::string_view payload;
  ASSERT_TRUE(ParseStateHeader(stored, &version, &payload).ok());
  EXPECT_EQ(version, 300u);
  EXPECT_EQ(payload, "payload");
  EXPECT_FALSE(ParseStateHeader("\x09", &version, &payload).ok());
}

}  // namespace
}  // namespace statefold
