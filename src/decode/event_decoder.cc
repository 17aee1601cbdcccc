// EventDecoder: the value slots, learned shapes and the strict scalar scan (decode/
// json_shape.h, decode/small_json.h) for simple layouts, and simdjson On-Demand for the
// rest. Each decoder walks the layout at run time; the three fast ones decline (return false)
// wherever they are not sure to give what simdjson gives.

#include "decode/event_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "decode/json_shape.h"
#include "decode/small_json.h"
#include "util/arena.h"
#include "util/bytes.h"

namespace statefold {
namespace {

using small_json::JsonShape;
using Kind = JsonShape::Kind;

bool IsScalar(FieldType type) {
  return type == FieldType::kBool || type == FieldType::kInt || type == FieldType::kString;
}

bool IsNull(std::string_view token) { return token == "null"; }

// The index of the field named `name`, or -1.
int FindField(const EventLayout& layout, std::string_view name) {
  for (size_t i = 0; i < layout.fields.size(); ++i) {
    const std::string_view field = layout.fields[i].name;
    if (field.size() == name.size() &&
        small_json::SameBytes(field.data(), name.data(), name.size())) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// ---- Decoders 1 and 2: the slots of a learned shape. ----

// Where the values of one shape hold the layout's fields: each field's slot and its kind, or
// slot -1 for an absent (optional) field.
struct EventPlan {
  struct Field {
    int32_t slot = -1;
    Kind kind{};
  };
  std::vector<Field> fields;
};

// Makes the plan of an event object with `members`, whose values are slots of `shape`;
// false when a required field is absent or a field's value is an object or array (which
// the scalar scan declines).
bool PlanEvent(const EventLayout& layout, const JsonShape& shape,
               const std::vector<JsonShape::Member>& members, EventPlan* plan) {
  plan->fields.assign(layout.fields.size(), EventPlan::Field());
  for (size_t i = 0; i < layout.fields.size(); ++i) {
    const JsonShape::Member* member = JsonShape::Find(members, layout.fields[i].name);
    if (member == nullptr) {
      if (!layout.fields[i].optional) return false;
      continue;
    }
    if (member->slot < 0) return false;
    plan->fields[i] = {member->slot, shape.kind(static_cast<size_t>(member->slot))};
  }
  return true;
}

// Reads one field from the value of a shape's slot as the scalar scan would read its text,
// or returns false ("not handled").
bool ReadSlot(const EventField& field, Kind kind, std::string_view value, FieldValue* out) {
  if (field.optional && kind == Kind::kLiteral && IsNull(value)) {
    out->present = false;
    return true;
  }
  out->present = true;
  switch (field.type) {
    case FieldType::kBool:
      if (kind != Kind::kLiteral || IsNull(value)) return false;
      out->boolean = value == "true";
      return true;
    case FieldType::kInt: {
      int64_t v;
      if (kind != Kind::kNumber || !small_json::ParseInteger(value, &v)) return false;
      out->integer = v;
      return field.min <= v && v <= field.max;  // out of range: simdjson gives the error
    }
    default:  // kString
      if (kind != Kind::kString) return false;
      out->string = value;  // a view into the message value
      return true;
  }
}

// Reads the fields from the slot values of a shape that `plan` is for.
bool ReadByPlan(const EventLayout& layout, const EventPlan& plan, const std::string_view* values,
                FieldValue* out) {
  for (size_t i = 0; i < layout.fields.size(); ++i) {
    const EventPlan::Field& field = plan.fields[i];
    if (field.slot < 0) {
      out[i].present = false;  // an absent optional
    } else if (!ReadSlot(layout.fields[i], field.kind, values[field.slot], &out[i])) {
      return false;
    }
  }
  return true;
}

// The plans for the record shapes whose value slots messages carry, by shape id: the last
// kEntries shapes seen.
class SlotPlans {
 public:
  static constexpr size_t kEntries = 4;

  // The plan for `slots`, or nullptr when its shape has none (or has been replaced).
  const EventPlan* Find(const EventLayout& layout, const ValueSlots& slots) {
    for (const Entry& entry : entries_) {
      if (entry.shape_id == slots.shape_id) return entry.usable ? &entry.plan : nullptr;
    }
    if (slots.shape->id() != slots.shape_id) return nullptr;  // the shape is gone
    Entry& entry = entries_[next_++ % kEntries];
    entry.shape_id = slots.shape_id;
    entry.usable = slots.value->is_object && !slots.value->repeats_names &&
                   PlanEvent(layout, *slots.shape, slots.value->members, &entry.plan);
    return entry.usable ? &entry.plan : nullptr;
  }

 private:
  struct Entry {
    uint64_t shape_id = 0;  // ids start at 1
    bool usable = false;
    EventPlan plan;
  };
  Entry entries_[kEntries];
  size_t next_ = 0;
};

// ---- Decoder 3: the strict scalar scan. ----

// Reads one field value as simdjson would, or returns false ("not handled").
bool ReadScalar(const EventField& field, small_json::Scanner* in, FieldValue* out) {
  if (field.optional && in->Peek() == 'n') {
    out->present = false;
    return in->ReadNull();
  }
  out->present = true;
  switch (field.type) {
    case FieldType::kBool:
      return in->ReadBool(&out->boolean);
    case FieldType::kInt: {
      std::string_view token;
      return in->ReadInteger(&out->integer, &token) && field.min <= out->integer &&
             out->integer <= field.max;  // out of range: simdjson gives the error
    }
    default:                                // kString
      return in->ReadString(&out->string);  // a view into the value
  }
}

// Decodes `json`, an object of strict JSON whose fields are simple (strings without escapes,
// integers in range, literals), or returns false ("not handled") for anything else.
bool ScanSimple(const EventLayout& layout, std::string_view json, FieldValue* out) {
  small_json::Scanner in(json);
  if (!in.Consume('{')) return false;
  uint64_t seen = 0;
  if (!in.Consume('}')) {
    do {
      std::string_view name;
      if (!in.ReadString(&name) || !in.Consume(':')) return false;
      const int i = FindField(layout, name);
      if (i < 0) {
        if (!in.SkipValue()) return false;
        continue;
      }
      seen |= uint64_t{1} << i;
      if (!ReadScalar(layout.fields[static_cast<size_t>(i)], &in, &out[i])) return false;
    } while (in.Consume(','));
    if (!in.Consume('}')) return false;
  }
  if (!in.AtEnd()) return false;
  for (size_t i = 0; i < layout.fields.size(); ++i) {
    if (seen & (uint64_t{1} << i)) continue;
    if (!layout.fields[i].optional) return false;  // missing: simdjson gives the error
    out[i].present = false;
  }
  return true;
}

// ---- Decoder 4: simdjson On-Demand. ----

bool JsonTypeError(simdjson::ondemand::value& value, std::string_view expected,
                   const std::string& path, std::string* error) {
  simdjson::ondemand::json_type type;
  std::string_view got = "invalid JSON";
  if (!value.type().get(type)) {
    switch (type) {
      case simdjson::ondemand::json_type::array:
        got = "an array";
        break;
      case simdjson::ondemand::json_type::object:
        got = "an object";
        break;
      case simdjson::ondemand::json_type::number:
        got = "a number";
        break;
      case simdjson::ondemand::json_type::string:
        got = "a string";
        break;
      case simdjson::ondemand::json_type::boolean:
        got = "a boolean";
        break;
      case simdjson::ondemand::json_type::null:
        got = "null";
        break;
    }
  }
  *error = "field " + path + ": expected " + std::string(expected) + ", got " + std::string(got);
  return false;
}

// Parses values of a layout with simdjson into FieldValues in `arena`. On failure sets
// *error, naming the field's path ("user.id", "items[].id").
class SimdjsonDecoder {
 public:
  explicit SimdjsonDecoder(Arena* arena) : arena_(arena) {}

  // `depth`: how many arrays enclose the object.
  bool ParseObject(simdjson::ondemand::value value, const EventLayout& layout, size_t depth,
                   FieldValue* out, std::string* path, std::string* error) {
    simdjson::ondemand::object object;
    if (value.get_object().get(object)) return JsonTypeError(value, "an object", *path, error);
    uint64_t seen = 0;
    const size_t path_size = path->size();
    for (auto field_result : object) {
      simdjson::ondemand::field field;
      if (std::move(field_result).get(field)) {
        *error = "malformed JSON in " + (path->empty() ? std::string("the message") : *path);
        return false;
      }
      simdjson::ondemand::raw_json_string key = field.key();
      for (size_t i = 0; i < layout.fields.size(); ++i) {
        const EventField& f = layout.fields[i];
        if (!(key == f.name)) continue;
        seen |= uint64_t{1} << i;
        if (!path->empty()) path->push_back('.');
        path->append(f.name);
        const bool parsed = ParseValue(field.value(), f, depth, &out[i], path, error);
        path->resize(path_size);
        if (!parsed) return false;
        break;
      }
    }
    // Absent fields: optionals are not present; anything else is an error.
    for (size_t i = 0; i < layout.fields.size(); ++i) {
      if (seen & (uint64_t{1} << i)) continue;
      const EventField& f = layout.fields[i];
      if (!f.optional) {
        *error = "field " + (path->empty() ? std::string() : *path + ".") + std::string(f.name) +
                 " is missing";
        return false;
      }
      out[i].present = false;
    }
    return true;
  }

 private:
  // `depth`: how many arrays enclose the value.
  bool ParseValue(simdjson::ondemand::value value, const EventField& field, size_t depth,
                  FieldValue* out, std::string* path, std::string* error) {
    if (field.optional) {
      bool is_null = false;
      if (value.is_null().get(is_null)) {  // `nul`, say
        *error = "malformed JSON in field " + *path;
        return false;
      }
      if (is_null) {
        out->present = false;
        return true;
      }
    }
    out->present = true;
    switch (field.type) {
      case FieldType::kBool:
        if (value.get_bool().get(out->boolean)) {
          return JsonTypeError(value, "a boolean", *path, error);
        }
        return true;
      case FieldType::kInt: {
        int64_t v;
        if (value.get_int64().get(v)) return JsonTypeError(value, "an integer", *path, error);
        if (v < field.min || v > field.max) {
          *error = "field " + *path + ": " + std::to_string(v) + " is out of range";
          return false;
        }
        out->integer = v;
        return true;
      }
      case FieldType::kDouble:
        if (value.get_double().get(out->number)) {
          return JsonTypeError(value, "a number", *path, error);
        }
        return true;
      case FieldType::kString: {
        std::string_view v;
        if (value.get_string().get(v)) return JsonTypeError(value, "a string", *path, error);
        // simdjson's copy is overwritten by the next value: keep one for the batch.
        char* copy = arena_->Allocate(v.size());
        if (!v.empty()) std::memcpy(copy, v.data(), v.size());
        out->string = std::string_view(copy, v.size());
        return true;
      }
      case FieldType::kObject: {
        const size_t n = field.object->fields.size();
        FieldValue* children = arena_->AllocateArray<FieldValue>(n);
        if (!ParseObject(value, *field.object, depth, children, path, error)) return false;
        out->children = std::span<const FieldValue>(children, n);
        return true;
      }
      case FieldType::kArray: {
        simdjson::ondemand::array array;
        if (value.get_array().get(array)) return JsonTypeError(value, "an array", *path, error);
        // The items of the open arrays, one list per depth: the count is known at the end.
        if (depth == items_.size()) items_.emplace_back();  // a deque: the others stay put
        std::vector<FieldValue>& items = items_[depth];
        items.clear();
        const size_t path_size = path->size();
        for (auto item_result : array) {
          simdjson::ondemand::value item;
          if (std::move(item_result).get(item)) {
            *error = "malformed JSON in " + *path;
            return false;
          }
          path->append("[]");
          const bool parsed =
              ParseValue(item, *field.item, depth + 1, &items.emplace_back(), path, error);
          path->resize(path_size);
          if (!parsed) return false;
        }
        FieldValue* copy = arena_->AllocateArray<FieldValue>(items.size());
        if (!items.empty()) std::memcpy(copy, items.data(), items.size() * sizeof(FieldValue));
        out->children = std::span<const FieldValue>(copy, items.size());
        return true;
      }
    }
    return false;
  }

  Arena* arena_;
  std::deque<std::vector<FieldValue>> items_;
};

}  // namespace

struct EventDecoder::Impl {
  explicit Impl(const EventLayout& layout)
      : layout(layout),
        simple(std::all_of(layout.fields.begin(), layout.fields.end(),
                           [](const EventField& f) { return IsScalar(f.type); })),
        simdjson_decoder(&arena) {}

  FieldValue* NewFields() { return arena.AllocateArray<FieldValue>(layout.fields.size()); }

  std::span<const FieldValue> Fields(const FieldValue* fields) const {
    return std::span<const FieldValue>(fields, layout.fields.size());
  }

  Status Fail(const std::string& error) const {
    return Status::Corruption("message does not decode into " + std::string(layout.type_name) +
                              ": " + error);
  }

  Status DecodeWithSimdjson(std::string_view json, FieldValue* out) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
    if (padded.size() < json.size() + simdjson::SIMDJSON_PADDING) {
      padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
    }
    if (!json.empty()) std::memcpy(padded.data(), json.data(), json.size());
    simdjson::ondemand::document document;
    simdjson::ondemand::value root;
    if (parser.iterate(padded.data(), json.size(), padded.size()).get(document) ||
        document.get_value().get(root)) {
      return Fail("message value is not valid JSON");
    }
    path.clear();
    error.clear();
    if (!simdjson_decoder.ParseObject(root, layout, 0, out, &path, &error)) {
      return Fail(error.empty() ? std::string("message value is not valid JSON") : error);
    }
    return Status::Ok();
  }

  const EventLayout& layout;
  const bool simple;
  Arena arena;  // the decoded values of the batch: children and unescaped strings
  SlotPlans slot_plans;
  small_json::ShapeCache<EventPlan> shapes;  // of values the scalar scan decoded
  simdjson::ondemand::parser parser;
  SimdjsonDecoder simdjson_decoder;
  std::string padded;
  std::string path;
  std::string error;
};

EventDecoder::EventDecoder(const EventLayout& layout) : impl_(std::make_unique<Impl>(layout)) {}

EventDecoder::~EventDecoder() = default;

void EventDecoder::StartBatch() { impl_->arena.Reset(); }

bool EventDecoder::simple() const { return impl_->simple; }

Status EventDecoder::Decode(std::string_view value, const ValueSlots* slots,
                            std::span<const FieldValue>* fields) {
  Impl& d = *impl_;
  FieldValue* out = d.NewFields();
  *fields = d.Fields(out);
  if (d.simple) {
    if (slots != nullptr) {
      const EventPlan* plan = d.slot_plans.Find(d.layout, *slots);
      if (plan != nullptr && ReadByPlan(d.layout, *plan, slots->values, out)) {
        return Status::Ok();
      }
    }
    if (const auto* entry = d.shapes.Match(value)) {
      if (ReadByPlan(d.layout, entry->plan, d.shapes.values(), out) ||
          ScanSimple(d.layout, value, out)) {
        return Status::Ok();
      }
    } else if (ScanSimple(d.layout, value, out)) {
      if (d.shapes.ShouldLearn()) {
        d.shapes.Learn(value, [&d](const JsonShape& shape, EventPlan* plan) {
          return shape.is_object() && PlanEvent(d.layout, shape, shape.members(), plan);
        });
      }
      return Status::Ok();
    }
  }
  return d.DecodeWithSimdjson(value, out);
}

Status EventDecoder::DecodeWithSimdjson(std::string_view value,
                                        std::span<const FieldValue>* fields) {
  FieldValue* out = impl_->NewFields();
  *fields = impl_->Fields(out);
  return impl_->DecodeWithSimdjson(value, out);
}

bool EventDecoder::DecodeSimple(std::string_view value, std::span<const FieldValue>* fields) {
  if (!impl_->simple) return false;
  FieldValue* out = impl_->NewFields();
  *fields = impl_->Fields(out);
  return ScanSimple(impl_->layout, value, out);
}

}  // namespace statefold
