// StateSchema: the shape of a state type, shared by every language that reads or writes
// state. Its JSON form is stored beside the state and looks like
//   {"kind": "record", "name": "LoginState",
//    "fields": [{"name": "unique_ips", "type": {"kind": "set", "items": {"kind": "str"}}}]}
// Kinds: bool int float str bytes datetime; optional{type}; list|set|frozenset|vartuple{items};
// tuple{items: [...]}; dict{keys, values}; enum{name, values, value_kind}; record{name, fields}.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "statefold/json_text.h"
#include "statefold/status.h"

namespace statefold {

enum class SchemaKind : unsigned char {
  kBool,
  kInt,
  kFloat,
  kStr,
  kBytes,
  kDatetime,
  kOptional,
  kList,
  kSet,
  kFrozenSet,
  kVarTuple,
  kTuple,
  kDict,
  kEnum,
  kRecord,
};

struct SchemaNode {
  SchemaKind kind = SchemaKind::kInt;
  std::string name;                      // record or enum name
  std::vector<std::string> field_names;  // record fields, in encoding order
  std::vector<SchemaNode> children;      // record fields, tuple items, or [item] / [key, value]
  SchemaKind enum_value_kind = SchemaKind::kStr;  // kStr or kInt
};

class StateSchema {
 public:
  // Parses the JSON form. Fails with InvalidArgument naming the offending node.
  static Status Parse(std::string_view json, StateSchema* schema);

  const SchemaNode& root() const { return root_; }

  // "set[str]", "dict[str, list[int]]", "LoginState": used in error messages.
  static std::string TypeName(const SchemaNode& node);

  // Decodes a payload written for this schema into JSON (sets and tuples as arrays, bytes as
  // base64, datetimes as ISO-8601 strings, dicts with non-string keys as [key, value] pairs).
  Status PayloadToJson(std::string_view payload, std::string* json) const;

 private:
  SchemaNode root_;
};

// What changed from the schema JSON `before` to `after`, for an error message a user can act
// on: "field total added (int); field seen: set[str] → list[str]; field note removed (was
// str)", nested record fields by path ("field profile.age: int → str"). Falls back to the two
// type names when a schema does not parse or the difference is in what a type name does not
// show (an enum's values).
std::string DescribeSchemaChange(std::string_view before, std::string_view after);

}  // namespace statefold
