// StateSchema parsing (simdjson DOM: schemas are small and parsed once) and the
// payload -> JSON decoder used by `statefold state get`.

#include "state/state_schema.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "statefold/json_text.h"
#include "statefold/state_codec.h"
#include "util/civil_time.h"

namespace statefold {
namespace {

struct KindName {
  SchemaKind kind;
  std::string_view name;
};
constexpr KindName kKindNames[] = {
    {SchemaKind::kBool, "bool"},         {SchemaKind::kInt, "int"},
    {SchemaKind::kFloat, "float"},       {SchemaKind::kStr, "str"},
    {SchemaKind::kBytes, "bytes"},       {SchemaKind::kDatetime, "datetime"},
    {SchemaKind::kOptional, "optional"}, {SchemaKind::kList, "list"},
    {SchemaKind::kSet, "set"},           {SchemaKind::kFrozenSet, "frozenset"},
    {SchemaKind::kVarTuple, "vartuple"}, {SchemaKind::kTuple, "tuple"},
    {SchemaKind::kDict, "dict"},         {SchemaKind::kEnum, "enum"},
    {SchemaKind::kRecord, "record"},
};

Status ParseNode(simdjson::dom::element element, SchemaNode* node) {
  simdjson::dom::object object;
  if (element.get_object().get(object))
    return Status::InvalidArgument("schema node is not an object");
  std::string_view kind;
  if (object["kind"].get_string().get(kind))
    return Status::InvalidArgument("schema node has no kind");
  bool known = false;
  for (const KindName& k : kKindNames) {
    if (k.name == kind) {
      node->kind = k.kind;
      known = true;
    }
  }
  if (!known) return Status::InvalidArgument("unknown schema kind " + std::string(kind));
  auto child = [&](const char* key) -> Status {
    simdjson::dom::element e;
    if (object[key].get(e)) {
      return Status::InvalidArgument(std::string(kind) + " schema node lacks " + key);
    }
    node->children.emplace_back();
    return ParseNode(e, &node->children.back());
  };
  switch (node->kind) {
    case SchemaKind::kOptional:
      return child("type");
    case SchemaKind::kList:
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet:
    case SchemaKind::kVarTuple:
      return child("items");
    case SchemaKind::kDict:
      STATEFOLD_RETURN_IF_ERROR(child("keys"));
      return child("values");
    case SchemaKind::kTuple: {
      simdjson::dom::array items;
      if (object["items"].get_array().get(items))
        return Status::InvalidArgument("tuple lacks items");
      for (simdjson::dom::element item : items) {
        node->children.emplace_back();
        STATEFOLD_RETURN_IF_ERROR(ParseNode(item, &node->children.back()));
      }
      return Status::Ok();
    }
    case SchemaKind::kEnum: {
      std::string_view name, value_kind;
      if (object["name"].get_string().get(name) ||
          object["value_kind"].get_string().get(value_kind)) {
        return Status::InvalidArgument("enum schema lacks name or value_kind");
      }
      node->name = std::string(name);
      node->enum_value_kind = value_kind == "int" ? SchemaKind::kInt : SchemaKind::kStr;
      return Status::Ok();
    }
    case SchemaKind::kRecord: {
      std::string_view name;
      simdjson::dom::array fields;
      if (object["name"].get_string().get(name) || object["fields"].get_array().get(fields)) {
        return Status::InvalidArgument("record schema lacks name or fields");
      }
      node->name = std::string(name);
      for (simdjson::dom::element field : fields) {
        std::string_view field_name;
        simdjson::dom::element type;
        if (field["name"].get_string().get(field_name) || field["type"].get(type)) {
          return Status::InvalidArgument("record " + node->name + " has a malformed field");
        }
        node->field_names.emplace_back(field_name);
        node->children.emplace_back();
        STATEFOLD_RETURN_IF_ERROR(ParseNode(type, &node->children.back())
                                      .WithContext("field " + std::string(field_name)));
      }
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

void AppendIsoDatetime(int64_t micros, bool aware, int64_t offset_seconds, std::string* out) {
  int64_t days, micros_of_day;
  SplitMicros(micros, &days, &micros_of_day);
  const CivilDate date = CivilFromDays(days);
  const int64_t rem = micros_of_day / 1000000;
  const int64_t fraction = micros_of_day % 1000000;
  const long long y = date.year;
  const unsigned m = date.month, d = date.day;
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "\"%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  out->append(buffer, n);
  if (fraction != 0) {
    n = std::snprintf(buffer, sizeof buffer, ".%06lld", static_cast<long long>(fraction));
    out->append(buffer, n);
  }
  if (aware) {
    // Unsigned: a damaged offset of INT64_MIN has no int64 magnitude.
    const uint64_t off = offset_seconds < 0 ? 0 - static_cast<uint64_t>(offset_seconds)
                                            : static_cast<uint64_t>(offset_seconds);
    n = std::snprintf(buffer, sizeof buffer, "%c%02llu:%02llu", offset_seconds < 0 ? '-' : '+',
                      static_cast<unsigned long long>(off / 3600),
                      static_cast<unsigned long long>(off / 60 % 60));
    out->append(buffer, n);
  }
  out->push_back('"');
}

Status Truncated(const SchemaNode& node) {
  return Status::Corruption("state bytes end early or are malformed while reading " +
                            StateSchema::TypeName(node));
}

Status NodeToJson(const SchemaNode& node, ByteReader* in, std::string* out) {
  switch (node.kind) {
    case SchemaKind::kBool: {
      bool v;
      if (!in->ReadBool(&v)) return Truncated(node);
      out->append(v ? "true" : "false");
      return Status::Ok();
    }
    case SchemaKind::kInt: {
      int64_t v;
      if (!in->ReadInt(&v)) return Truncated(node);
      char buffer[24];
      out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr - buffer);
      return Status::Ok();
    }
    case SchemaKind::kFloat: {
      double v;
      if (!in->ReadFloat(&v)) return Truncated(node);
      if (!std::isfinite(v)) {  // "NaN", "Infinity", "-Infinity": the schema says float
        out->append(NonFiniteJsonString(v));
        return Status::Ok();
      }
      char buffer[32];
      out->append(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr - buffer);
      return Status::Ok();
    }
    case SchemaKind::kStr:
    case SchemaKind::kBytes: {
      std::string_view v;
      if (!in->ReadString(&v)) return Truncated(node);
      if (node.kind == SchemaKind::kStr) {
        AppendJsonString(v, out);
      } else {
        AppendJsonBase64(v, out);
      }
      return Status::Ok();
    }
    case SchemaKind::kDatetime: {
      bool aware;
      int64_t offset = 0, micros;
      if (!in->ReadBool(&aware) || (aware && !in->ReadInt(&offset)) || !in->ReadInt(&micros)) {
        return Truncated(node);
      }
      AppendIsoDatetime(micros, aware, offset, out);
      return Status::Ok();
    }
    case SchemaKind::kOptional: {
      bool present;
      if (!in->ReadBool(&present)) return Truncated(node);
      if (!present) {
        out->append("null");
        return Status::Ok();
      }
      return NodeToJson(node.children[0], in, out);
    }
    case SchemaKind::kList:
    case SchemaKind::kSet:
    case SchemaKind::kFrozenSet:
    case SchemaKind::kVarTuple: {
      uint64_t count;
      if (!in->ReadCount(&count)) return Truncated(node);
      out->push_back('[');
      for (uint64_t i = 0; i < count; ++i) {
        if (i > 0) out->push_back(',');
        STATEFOLD_RETURN_IF_ERROR(NodeToJson(node.children[0], in, out));
      }
      out->push_back(']');
      return Status::Ok();
    }
    case SchemaKind::kTuple: {
      out->push_back('[');
      for (size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out->push_back(',');
        STATEFOLD_RETURN_IF_ERROR(NodeToJson(node.children[i], in, out));
      }
      out->push_back(']');
      return Status::Ok();
    }
    case SchemaKind::kDict: {
      uint64_t count;
      if (!in->ReadCount(&count)) return Truncated(node);
      bool string_keys = node.children[0].kind == SchemaKind::kStr;
      out->push_back(string_keys ? '{' : '[');
      for (uint64_t i = 0; i < count; ++i) {
        if (i > 0) out->push_back(',');
        if (!string_keys) out->push_back('[');
        STATEFOLD_RETURN_IF_ERROR(NodeToJson(node.children[0], in, out));
        out->push_back(string_keys ? ':' : ',');
        STATEFOLD_RETURN_IF_ERROR(NodeToJson(node.children[1], in, out));
        if (!string_keys) out->push_back(']');
      }
      out->push_back(string_keys ? '}' : ']');
      return Status::Ok();
    }
    case SchemaKind::kEnum: {
      SchemaNode value;
      value.kind = node.enum_value_kind;
      return NodeToJson(value, in, out);
    }
    case SchemaKind::kRecord: {
      uint64_t count = 0;
      if (!in->ReadCount(&count) || count != node.children.size()) {
        return Status::Corruption("stored " + node.name + " has " + std::to_string(count) +
                                  " fields, the schema " + std::to_string(node.children.size()));
      }
      out->push_back('{');
      for (size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(node.field_names[i], out);
        out->push_back(':');
        STATEFOLD_RETURN_IF_ERROR(
            NodeToJson(node.children[i], in, out).WithContext("field " + node.field_names[i]));
      }
      out->push_back('}');
      return Status::Ok();
    }
  }
  return Status::Corruption("unknown schema kind");
}

}  // namespace

Status StateSchema::Parse(std::string_view json, StateSchema* schema) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) {
    return Status::InvalidArgument("state schema is not valid JSON");
  }
  schema->root_ = SchemaNode();
  return ParseNode(root, &schema->root_);
}

std::string StateSchema::TypeName(const SchemaNode& node) {
  switch (node.kind) {
    case SchemaKind::kOptional:
      return "Optional[" + TypeName(node.children[0]) + "]";
    case SchemaKind::kList:
      return "list[" + TypeName(node.children[0]) + "]";
    case SchemaKind::kSet:
      return "set[" + TypeName(node.children[0]) + "]";
    case SchemaKind::kFrozenSet:
      return "frozenset[" + TypeName(node.children[0]) + "]";
    case SchemaKind::kVarTuple:
      return "tuple[" + TypeName(node.children[0]) + ", ...]";
    case SchemaKind::kTuple: {
      std::string name = "tuple[";
      for (size_t i = 0; i < node.children.size(); ++i) {
        name += (i ? ", " : "") + TypeName(node.children[i]);
      }
      return name + "]";
    }
    case SchemaKind::kDict:
      return "dict[" + TypeName(node.children[0]) + ", " + TypeName(node.children[1]) + "]";
    case SchemaKind::kEnum:
    case SchemaKind::kRecord:
      return node.name;
    default:
      for (const KindName& k : kKindNames) {
        if (k.kind == node.kind) return std::string(k.name);
      }
      return "?";
  }
}

Status StateSchema::PayloadToJson(std::string_view payload, std::string* json) const {
  ByteReader in(payload);
  STATEFOLD_RETURN_IF_ERROR(NodeToJson(root_, &in, json));
  if (!in.AtEnd())
    return Status::Corruption("state bytes continue after the " + root_.name + " value");
  return Status::Ok();
}

Status ParseStateHeader(std::string_view stored, uint32_t* schema_version,
                        std::string_view* payload) {
  if (stored.empty() || static_cast<uint8_t>(stored[0]) != kStateFormatVersion) {
    return Status::Corruption("stored state has an unknown format version");
  }
  ByteReader in(stored.substr(1));
  uint64_t version;
  if (!in.ReadVarint(&version)) return Status::Corruption("stored state has a malformed header");
  *schema_version = static_cast<uint32_t>(version);
  *payload = stored.substr(1 + in.position());
  return Status::Ok();
}

namespace {

void DescribeNodeChange(const SchemaNode& before, const SchemaNode& after, const std::string& path,
                        std::vector<std::string>* changes) {
  const std::string field = path.empty() ? "the state type" : "field " + path;
  if (before.kind != SchemaKind::kRecord || after.kind != SchemaKind::kRecord) {
    const std::string was = StateSchema::TypeName(before), now = StateSchema::TypeName(after);
    if (was != now) changes->push_back(field + ": " + was + " \u2192 " + now);
    return;
  }
  const std::string prefix = path.empty() ? "" : path + ".";
  for (size_t i = 0; i < before.field_names.size(); ++i) {
    const std::string& name = before.field_names[i];
    auto it = std::find(after.field_names.begin(), after.field_names.end(), name);
    if (it == after.field_names.end()) {
      changes->push_back("field " + prefix + name + " removed (was " +
                         StateSchema::TypeName(before.children[i]) + ")");
    } else {
      DescribeNodeChange(before.children[i], after.children[it - after.field_names.begin()],
                         prefix + name, changes);
    }
  }
  for (size_t i = 0; i < after.field_names.size(); ++i) {
    const std::string& name = after.field_names[i];
    if (std::find(before.field_names.begin(), before.field_names.end(), name) ==
        before.field_names.end()) {
      changes->push_back("field " + prefix + name + " added (" +
                         StateSchema::TypeName(after.children[i]) + ")");
    }
  }
  // The same fields in another order are stored in another order.
  if (changes->empty() && before.field_names != after.field_names) {
    changes->push_back((path.empty() ? "the fields" : "the fields of " + path) + " were reordered");
  }
}

}  // namespace

std::string DescribeSchemaChange(std::string_view before, std::string_view after) {
  StateSchema was, now;
  if (!StateSchema::Parse(before, &was).ok() || !StateSchema::Parse(after, &now).ok()) {
    return "the stored schema and the new one differ";
  }
  std::vector<std::string> changes;
  DescribeNodeChange(was.root(), now.root(), "", &changes);
  if (was.root().kind == SchemaKind::kRecord && now.root().kind == SchemaKind::kRecord &&
      was.root().name != now.root().name) {
    changes.insert(changes.begin(),
                   "the state type " + was.root().name + " \u2192 " + now.root().name);
  }
  if (changes.empty()) {
    return "a type of the state is defined differently in a way its name does not show (such "
           "as an enum's values)";
  }
  std::string text;
  for (const std::string& change : changes) text += (text.empty() ? "" : "; ") + change;
  return text;
}

}  // namespace statefold
