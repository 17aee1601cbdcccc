// libFuzzer target: the state codec (statefold/state_codec.h, statefold/native_codec.h and the
// schema-driven reader of src/state/state_schema.h), bytes -> state -> bytes. The input is a
// stored state value (header, then payload) of a native state type that holds every kind:
//   - ParseStateHeader either fails with a reason or splits off the payload;
//   - the payload either does not decode (as the native adapter's DecodeState checks it: the
//     whole payload, nothing left over) or it re-encodes to a canonical form that decodes to
//     the same state: encoding that again gives the same bytes;
//   - `statefold state get`'s reader (StateSchema::PayloadToJson, from the schema alone) never
//     crashes, and reads every payload the native codec accepts and its canonical form; it
//     also reads the payload through a schema of the kinds only Python states have (enum,
//     frozenset, vartuple, dicts with int keys), for crashes only.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "state/state_schema.h"
#include "statefold/native_codec.h"
#include "statefold/state_codec.h"

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
  uint8_t tiny = 0;
  int64_t big = 0;
  double ratio = 0;
  float ratio32 = 0;
  std::string text;
  Bytes raw;
  std::chrono::sys_time<std::chrono::microseconds> seen;
  std::chrono::sys_time<std::chrono::milliseconds> seen_ms;
  std::optional<std::string> maybe;
  std::vector<int64_t> numbers;
  std::set<std::string> tags;
  std::map<std::string, std::vector<Point>> paths;
  std::map<int64_t, std::optional<bool>> by_number;
  std::tuple<std::string, int64_t> pair;
  Point origin;
};
STATEFOLD_STRUCT(Everything, flag, small, tiny, big, ratio, ratio32, text, raw, seen, seen_ms,
                 maybe, numbers, tags, paths, by_number, pair, origin)

constexpr std::string_view kPythonOnlySchema = R"({"kind":"record","name":"PyState","fields":[
  {"name":"color","type":{"kind":"enum","name":"Color","values":["red","green"],"value_kind":"str"}},
  {"name":"level","type":{"kind":"enum","name":"Level","values":[1,2],"value_kind":"int"}},
  {"name":"seen","type":{"kind":"frozenset","items":{"kind":"datetime"}}},
  {"name":"scores","type":{"kind":"vartuple","items":{"kind":"float"}}},
  {"name":"by_id","type":{"kind":"dict","keys":{"kind":"int"},"values":{"kind":"bytes"}}},
  {"name":"pair","type":{"kind":"tuple","items":[{"kind":"str"},{"kind":"optional","type":{"kind":"int"}}]}}
]})";

[[noreturn]] void Fail(const char* what, std::string_view bytes) {
  std::fprintf(stderr, "state_codec_fuzz: %s\nbytes (%zu):", what, bytes.size());
  for (unsigned char c : bytes) std::fprintf(stderr, " %02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

const StateSchema& SchemaOf(std::string_view json) {
  static std::map<std::string_view, StateSchema> schemas;
  auto [it, inserted] = schemas.try_emplace(json);
  if (inserted && !StateSchema::Parse(json, &it->second).ok()) {
    std::fprintf(stderr, "state_codec_fuzz: a schema does not parse\n");
    std::abort();
  }
  return it->second;
}

const std::string& EverythingSchema() {
  static const std::string schema = [] {
    std::string json;
    codec::AppendSchema<Everything>(&json);
    return json;
  }();
  return schema;
}

// As NativeResolverAdapter::DecodeState: the whole payload, nothing left over.
bool DecodeWhole(std::string_view payload, Everything* state) {
  ByteReader in(payload);
  return codec::Decode(&in, state) && in.AtEnd();
}

std::string Encode(const Everything& state) {
  std::string bytes;
  ByteWriter writer(&bytes);
  codec::Encode(state, &writer);
  return bytes;
}

}  // namespace
}  // namespace statefold

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace statefold;
  const std::string_view stored(reinterpret_cast<const char*>(data), size);
  uint32_t version = 0;
  std::string_view payload;
  const Status header = ParseStateHeader(stored, &version, &payload);
  if (!header.ok()) {
    if (header.message().empty()) Fail("ParseStateHeader fails without a reason", stored);
    payload = stored;  // the readers below still must not crash on it
  }
  std::string json;
  (void)SchemaOf(kPythonOnlySchema).PayloadToJson(payload, &json);
  const StateSchema& schema = SchemaOf(EverythingSchema());
  json.clear();
  const Status as_json = schema.PayloadToJson(payload, &json);

  Everything state;
  if (!DecodeWhole(payload, &state)) return 0;
  if (!as_json.ok()) {
    std::fprintf(stderr, "PayloadToJson: %s\n", as_json.ToString().c_str());
    Fail("state get cannot read a payload the native codec accepts", payload);
  }
  const std::string canonical = Encode(state);
  Everything again;
  if (!DecodeWhole(canonical, &again)) Fail("the canonical form does not decode", canonical);
  if (Encode(again) != canonical) Fail("the canonical form is not a fixed point", canonical);
  json.clear();
  if (!schema.PayloadToJson(canonical, &json).ok()) {
    Fail("state get cannot read the canonical form", canonical);
  }
  return 0;
}
