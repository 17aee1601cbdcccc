// StateSchema: parsing a state schema, and its payload -> JSON decoder.

#include "state/state_schema.h"

#include <gtest/gtest.h>

#include "statefold/state_codec.h"

namespace statefold {
namespace {

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

// A record schema "S" with `fields`, each {"name":..., "type":...} JSON.
std::string Record(const std::string& name, const std::string& fields) {
  return R"({"kind":"record","name":")" + name + R"(","fields":[)" + fields + "]}";
}

TEST(StateSchemaTest, DescribeSchemaChangeNamesEachFieldWithItsOldAndNewType) {
  const std::string before =
      Record("S", R"({"name":"seen","type":{"kind":"set","items":{"kind":"str"}}},
                     {"name":"note","type":{"kind":"str"}},
                     {"name":"profile","type":)" +
                      Record("P", R"({"name":"age","type":{"kind":"int"}})") + "}");
  const std::string after =
      Record("S", R"({"name":"seen","type":{"kind":"list","items":{"kind":"str"}}},
                     {"name":"profile","type":)" +
                      Record("P", R"({"name":"age","type":{"kind":"str"}})") + R"(},
                     {"name":"total","type":{"kind":"int"}})");
  EXPECT_EQ(DescribeSchemaChange(before, after),
            "field seen: set[str] \u2192 list[str]; field note removed (was str); "
            "field profile.age: int \u2192 str; field total added (int)");
}

TEST(StateSchemaTest, DescribeSchemaChangeOfTheTypeItselfAndOfWhatNamesDoNotShow) {
  EXPECT_EQ(DescribeSchemaChange(R"({"kind":"int"})", R"({"kind":"str"})"),
            "the state type: int \u2192 str");
  const std::string a = R"({"name":"a","type":{"kind":"int"}})";
  const std::string b = R"({"name":"b","type":{"kind":"int"}})";
  EXPECT_EQ(DescribeSchemaChange(Record("S", a + "," + b), Record("S", b + "," + a)),
            "the fields were reordered");
  EXPECT_EQ(DescribeSchemaChange(Record("S", a), Record("T", a)), "the state type S \u2192 T");
  const std::string colors =
      R"({"name":"c","type":{"kind":"enum","name":"Color","value_kind":"str"}})";
  EXPECT_NE(DescribeSchemaChange(Record("S", colors), Record("S", colors + " "))
                .find("such as an enum's values"),
            std::string::npos);
  EXPECT_EQ(DescribeSchemaChange("not json", Record("S", a)),
            "the stored schema and the new one differ");
}

}  // namespace
}  // namespace statefold
