// The state codec of native C++ state types (statefold/native_codec.h): the schema and the
// bytes it shares with the Python SDK, every kind round-tripping, and bytes that do not decode.

#include "statefold/native_codec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "state/state_schema.h"
#include "test_resolver.h"

namespace statefold {
namespace {

struct Point {
  double x = 0;
  double y = 0;
};
STATEFOLD_STRUCT(Point, x, y)

struct Everything {
  bool flag = false;
  int32_t small = 0;
  int64_t big = 0;
  double ratio = 0;
  std::string text;
  Bytes raw;
  std::chrono::sys_time<std::chrono::microseconds> seen;
  std::optional<std::string> maybe;
  std::vector<int64_t> numbers;
  std::set<std::string> tags;
  std::map<std::string, std::vector<Point>> paths;
  std::tuple<std::string, int64_t> pair;
  Point origin;
};
STATEFOLD_STRUCT(Everything, flag, small, big, ratio, text, raw, seen, maybe, numbers, tags, paths,
                 pair, origin)

TEST(NativeCodecTest, SchemaIsThePythonSchemaOfTheSameType) {
  // What statefold.schema.describe() writes for
  //   class LoginState(BaseModel): unique_ips: Set[str] = set()
  std::string schema;
  codec::AppendSchema<testing::LoginState>(&schema);
  EXPECT_EQ(
      schema,
      R"({"kind":"record","name":"LoginState","fields":[{"name":"unique_ips","type":{"kind":"set","items":{"kind":"str"}}}]})");
  schema.clear();
  codec::AppendSchema<Point>(&schema);
  EXPECT_EQ(
      schema,
      R"({"kind":"record","name":"Point","fields":[{"name":"x","type":{"kind":"float"}},{"name":"y","type":{"kind":"float"}}]})");
}

TEST(NativeCodecTest, EveryKindRoundTripsAndPrintsAsJson) {
  Everything value;
  value.flag = true;
  value.small = -7;
  value.big = int64_t{1} << 50;
  value.ratio = 0.25;
  value.text = "h\xc3\xa9\"llo";
  value.raw = Bytes(std::string("\x00\xff", 2));
  value.seen =
      std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(1767225600123456));
  value.maybe = "yes";
  value.numbers = {3, -1, 2};
  value.tags = {"b", "a"};
  value.paths["home"] = {Point{1, 2}, Point{3.5, -4}};
  value.pair = {"k", 9};
  value.origin = Point{0.5, 0};

  std::string bytes;
  ByteWriter writer(&bytes);
  codec::Encode(value, &writer);
  Everything decoded;
  ByteReader reader(bytes);
  ASSERT_TRUE(codec::Decode(&reader, &decoded));
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(decoded.text, value.text);
  EXPECT_EQ(decoded.raw, value.raw);
  EXPECT_EQ(decoded.seen, value.seen);
  EXPECT_EQ(decoded.maybe, value.maybe);
  EXPECT_EQ(decoded.numbers, value.numbers);
  EXPECT_EQ(decoded.tags, value.tags);
  EXPECT_EQ(decoded.paths["home"][1].x, 3.5);
  EXPECT_EQ(decoded.pair, value.pair);
  EXPECT_EQ(decoded.big, value.big);

  // `statefold state get` reads the bytes through the schema alone, as for Python states.
  std::string schema_json;
  codec::AppendSchema<Everything>(&schema_json);
  StateSchema schema;
  ASSERT_TRUE(StateSchema::Parse(schema_json, &schema).ok());
  std::string json;
  Status status = schema.PayloadToJson(bytes, &json);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(
      json,
      "{\"flag\":true,\"small\":-7,\"big\":1125899906842624,\"ratio\":0.25,\"text\":"
      "\"h\xc3\xa9\\\"llo\","
      R"("raw":"AP8=","seen":"2026-01-01T00:00:00.123456+00:00","maybe":"yes",)"
      R"("numbers":[3,-1,2],"tags":["a","b"],"paths":{"home":[{"x":1,"y":2},{"x":3.5,"y":-4}]},)"
      R"("pair":["k",9],"origin":{"x":0.5,"y":0}})");
}

TEST(NativeCodecTest, TruncatedOrForeignBytesDoNotDecode) {
  Everything value;
  value.numbers = {1, 2, 3};
  std::string bytes;
  ByteWriter writer(&bytes);
  codec::Encode(value, &writer);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    ByteReader reader(std::string_view(bytes).substr(0, cut));
    Everything decoded;
    EXPECT_FALSE(codec::Decode(&reader, &decoded) && reader.AtEnd()) << "cut at " << cut;
  }
  std::string point_bytes;
  ByteWriter point_writer(&point_bytes);
  codec::Encode(Point{1, 2}, &point_writer);
  ByteReader reader(point_bytes);
  Everything decoded;
  EXPECT_FALSE(codec::Decode(&reader, &decoded));  // a record of another field count
}

}  // namespace
}  // namespace statefold

namespace statefold {
namespace {

// fuzz/corpus/state_codec/13-overflow-*: a stored UTC offset whose microseconds do not fit in
// 64 bits is corruption, not signed overflow.
TEST(NativeCodecTest, ADatetimeWhoseOffsetOverflowsDoesNotDecode) {
  std::string bytes;
  ByteWriter writer(&bytes);
  writer.WriteBool(true);
  writer.WriteInt(int64_t{1} << 62);  // seconds east of UTC
  writer.WriteInt(0);
  ByteReader reader(bytes);
  std::chrono::sys_time<std::chrono::microseconds> decoded;
  EXPECT_FALSE(codec::Decode(&reader, &decoded));
}

// `statefold state get` of damaged datetimes: extreme microseconds and offsets print, without
// signed overflow (SplitMicros, the offset's magnitude).
TEST(NativeCodecTest, StateGetPrintsDamagedDatetimesWithoutOverflow) {
  StateSchema schema;
  ASSERT_TRUE(StateSchema::Parse(R"({"kind":"datetime"})", &schema).ok());
  for (int64_t micros :
       {std::numeric_limits<int64_t>::min(), int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
    std::string bytes;
    ByteWriter writer(&bytes);
    writer.WriteBool(true);
    writer.WriteInt(std::numeric_limits<int64_t>::min());
    writer.WriteInt(micros);
    std::string json;
    EXPECT_TRUE(schema.PayloadToJson(bytes, &json).ok()) << micros;
    EXPECT_NE(json.find("-2562047788015215:30"), std::string::npos) << json;
  }
}

}  // namespace
}  // namespace statefold
