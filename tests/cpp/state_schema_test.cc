// The state codec's primitives and the schema-driven payload -> JSON decoder.

#include "state/state_schema.h"

#include <gtest/gtest.h>

#include <limits>

#include "statefold/state_codec.h"

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

TEST(StateSchemaTest, DecodesNestedPayloadToJson) {
  StateSchema schema;
  ASSERT_TRUE(StateSchema::Parse(R"({"kind":"record","name":"S","fields":[
      {"name":"n","type":{"kind":"int"}},
      {"name":"tags","type":{"kind":"set","items":{"kind":"str"}}},
      {"name":"last","type":{"kind":"optional","type":{"kind":"datetime"}}},
      {"name":"pair","type":{"kind":"tuple","items":[{"kind":"str"},{"kind":"float"}]}},
      {"name":"counts","type":{"kind":"dict","keys":{"kind":"str"},"values":{"kind":"list","items":{"kind":"bool"}}}},
      {"name":"raw","type":{"kind":"bytes"}}]})",
                                 &schema)
                  .ok());
  EXPECT_EQ(StateSchema::TypeName(schema.root().children[1]), "set[str]");
  std::string payload;
  ByteWriter w(&payload);
  w.WriteVarint(6);
  w.WriteInt(-7);
  w.WriteVarint(1);
  w.WriteString("a\"b");
  w.WriteBool(true);    // optional present
  w.WriteBool(true);    // aware
  w.WriteInt(3600);     // +01:00
  w.WriteInt(1500000);  // 1.5 s after the epoch, wall clock
  w.WriteString("x");
  w.WriteFloat(0.5);
  w.WriteVarint(1);
  w.WriteString("k");
  w.WriteVarint(2);
  w.WriteBool(true);
  w.WriteBool(false);
  w.WriteString("hi");
  std::string json;
  ASSERT_TRUE(schema.PayloadToJson(payload, &json).ok());
  EXPECT_EQ(json, R"({"n":-7,"tags":["a\"b"],"last":"1970-01-01T00:00:01.500000+01:00",)"
                  R"("pair":["x",0.5],"counts":{"k":[true,false]},"raw":"aGk="})");
  json.clear();
  EXPECT_FALSE(schema.PayloadToJson(payload.substr(0, payload.size() - 1), &json).ok());
}

TEST(StateSchemaTest, RejectsMalformedSchemas) {
  StateSchema schema;
  EXPECT_FALSE(StateSchema::Parse("{", &schema).ok());
  EXPECT_FALSE(StateSchema::Parse(R"({"kind":"widget"})", &schema).ok());
  EXPECT_FALSE(StateSchema::Parse(R"({"kind":"list"})", &schema).ok());
}

}  // namespace
}  // namespace statefold
