// EventDecoder: the value slots, learned shapes and the strict scalar scan (decode/
// json_shape.h, decode/small_json.h) for simple layouts, and simdjson On-Demand for the
// rest. Each decoder walks the layout at run time (plans for the slots are made once per
// shape); the three fast ones decline (return false) wherever they are not sure to give what
// simdjson gives.

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
    if (ShortBytesEqual(layout.fields[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

// ---- Decoders 1 and 2: the slots of a learned shape. ----

// How one field is read from its slot, worked out once per shape from the field's type and
// the slot's kind; each read gives what the scalar scan gives for the slot's text.
enum class SlotRead : uint8_t {
  kAbsent,    // no member: an absent optional
  kString,    // a string slot of a string field: the value as it is
  kInteger,   // a number slot of an integer field: in range, or not handled
  kBool,      // a literal slot of a bool field: true, false, or null (an optional's absence)
  kNullOnly,  // a literal slot of an optional string or integer field: null, or not handled
};

// Where the values of one shape hold the layout's fields.
struct EventPlan {
  struct Field {
    int32_t slot;
    SlotRead read;
    bool optional;
    int64_t min, max;  // kInteger
  };
  std::vector<Field> fields;
};

// Makes the plan of an event object with `members`, whose values are slots of `shape`; false
// where the scalar scan would decline every value of the shape: a required field absent, a
// field's value an object or array, or a slot of a kind the field never takes.
bool PlanEvent(const EventLayout& layout, const JsonShape& shape,
               const std::vector<JsonShape::Member>& members, EventPlan* plan) {
  plan->fields.clear();
  for (const EventField& field : layout.fields) {
    EventPlan::Field& read = plan->fields.emplace_back();
    read = {-1, SlotRead::kAbsent, field.optional, field.min, field.max};
    const JsonShape::Member* member = JsonShape::Find(members, field.name);
    if (member == nullptr) {
      if (!field.optional) return false;
      continue;
    }
    if (member->slot < 0) return false;
    read.slot = member->slot;
    const Kind kind = shape.kind(static_cast<size_t>(member->slot));
    if (field.type == FieldType::kBool && kind == Kind::kLiteral) {
      read.read = SlotRead::kBool;
    } else if (field.type == FieldType::kString && kind == Kind::kString) {
      read.read = SlotRead::kString;
    } else if (field.type == FieldType::kInt && kind == Kind::kNumber) {
      read.read = SlotRead::kInteger;
    } else if (field.optional && kind == Kind::kLiteral) {
      read.read = SlotRead::kNullOnly;
    } else {
      return false;
    }
  }
  return true;
}

// Reads the fields from the slot values of a shape that `plan` is for, or returns false
// ("not handled"). Inline: the engine's batches mostly take this path.
[[gnu::always_inline]] inline bool ReadByPlan(const EventPlan& plan, const std::string_view* values,
                                              FieldValue* out) {
  for (const EventPlan::Field& field : plan.fields) {
    switch (field.read) {
      case SlotRead::kAbsent:
        out->present = false;
        break;
      case SlotRead::kString:
        out->present = true;
        out->string = values[field.slot];  // a view into the message
        break;
      case SlotRead::kInteger: {
        int64_t v;
        // Out of range: simdjson gives the error.
        if (!small_json::ParseInteger(values[field.slot], &v) || v < field.min || v > field.max) {
          return false;
        }
        out->present = true;
        out->integer = v;
        break;
      }
      case SlotRead::kBool: {
        const std::string_view literal = values[field.slot];
        if (IsNull(literal)) {
          if (!field.optional) return false;
          out->present = false;
        } else {
          out->present = true;
          out->boolean = literal == "true";
        }
        break;
      }
      case SlotRead::kNullOnly:
        if (!IsNull(values[field.slot])) return false;
        out->present = false;
        break;
    }
    ++out;
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

// Where a value is, for error messages: a chain from the value up to the message's object,
// turned into text ("user.id", "items[].codes[]") only when there is an error.
struct Path {
  const Path* parent;
  std::string_view name;  // a member's name; empty for an array's item
};

std::string PathText(const Path* path) {
  if (path == nullptr) return std::string();
  std::string text = PathText(path->parent);
  if (path->name.empty()) {
    text += "[]";
  } else {
    if (!text.empty()) text.push_back('.');
    text += path->name;
  }
  return text;
}

// The error builders are out of line and cold, so that the hot paths keep few registers.
[[gnu::noinline, gnu::cold]] bool JsonTypeError(simdjson::ondemand::value& value,
                                                std::string_view expected, const Path* path,
                                                std::string* error) {
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
  *error = "field " + PathText(path) + ": expected " + std::string(expected) + ", got " +
           std::string(got);
  return false;
}

// "<what><path>"; "<what>the message" for the message's own object when `message` says so.
[[gnu::noinline, gnu::cold]] bool Malformed(const char* what, const Path* path, std::string* error,
                                            bool message = false) {
  const std::string text = PathText(path);
  *error = what + (message && text.empty() ? std::string("the message") : text);
  return false;
}

[[gnu::noinline, gnu::cold]] bool OutOfRange(int64_t v, const Path* path, std::string* error) {
  *error = "field " + PathText(path) + ": " + std::to_string(v) + " is out of range";
  return false;
}

[[gnu::noinline, gnu::cold]] bool Missing(std::string_view name, const Path* path,
                                          std::string* error) {
  const std::string text = PathText(path);
  *error = "field " + (text.empty() ? text : text + ".") + std::string(name) + " is missing";
  return false;
}

// Whether a member's raw name is `name`: simdjson's raw_json_string == (unescaped bytes up
// to the closing quote), without its call to memcmp.
bool IsName(simdjson::ondemand::raw_json_string key, std::string_view name) {
  if (name.size() > simdjson::SIMDJSON_PADDING) return key == name;
  const char* raw = key.raw();
  return raw[name.size()] == '"' && short_bytes::SameBytes(raw, name.data(), name.size());
}

// Whether a member's raw name holds an escape sequence.
bool HasEscape(simdjson::ondemand::raw_json_string key) {
  for (const char* c = key.raw(); *c != '"'; ++c) {
    if (*c == '\\') return true;
  }
  return false;
}

// Parses values of a layout with simdjson into FieldValues in `arena`. On failure sets
// *error, naming the field's path.
class SimdjsonDecoder {
 public:
  explicit SimdjsonDecoder(Arena* arena) : arena_(arena) {}

  // `depth`: how many arrays enclose the object; `path`: where it is (nullptr: the message).
  bool ParseObject(simdjson::ondemand::value value, const EventLayout& layout, size_t depth,
                   FieldValue* out, const Path* path, std::string* error) {
    simdjson::ondemand::object object;
    if (value.get_object().get(object)) return JsonTypeError(value, "an object", path, error);
    uint64_t seen = 0;
    for (auto field_result : object) {
      simdjson::ondemand::field field;
      if (std::move(field_result).get(field)) {
        return Malformed("malformed JSON in ", path, error, /*message=*/true);
      }
      simdjson::ondemand::raw_json_string key = field.key();
      int i = 0;
      const int count = static_cast<int>(layout.fields.size());
      while (i < count && !IsName(key, layout.fields[static_cast<size_t>(i)].name)) ++i;
      if (i == count) {
        // A name with escapes ("u\u0069d") is compared unescaped, as pydantic and json.loads
        // read it; a repeated name is read again, so the last one wins, as there.
        if (!HasEscape(key)) continue;
        std::string_view name;
        if (field.unescaped_key().get(name)) {
          return Malformed("malformed JSON in ", path, error, /*message=*/true);
        }
        if ((i = FindField(layout, name)) < 0) continue;
      }
      const EventField& f = layout.fields[static_cast<size_t>(i)];
      seen |= uint64_t{1} << i;
      const Path member{path, f.name};
      if (!ParseValue(field.value(), f, depth, &out[i], &member, error)) return false;
    }
    // Absent fields: optionals are not present; anything else is an error.
    for (size_t i = 0; i < layout.fields.size(); ++i) {
      if (seen & (uint64_t{1} << i)) continue;
      const EventField& f = layout.fields[i];
      if (!f.optional) return Missing(f.name, path, error);
      out[i].present = false;
    }
    return true;
  }

 private:
  // `depth`: how many arrays enclose the value; `path`: where it is.
  bool ParseValue(simdjson::ondemand::value value, const EventField& field, size_t depth,
                  FieldValue* out, const Path* path, std::string* error) {
    if (field.optional) {
      bool is_null = false;
      if (value.is_null().get(is_null)) {  // `nul`, say
        return Malformed("malformed JSON in field ", path, error);
      }
      if (is_null) {
        out->present = false;
        return true;
      }
    }
    out->present = true;
    switch (field.type) {
      case FieldType::kBool:
        if (value.get_bool().get(out->boolean))
          return JsonTypeError(value, "a boolean", path, error);
        return true;
      case FieldType::kInt: {
        int64_t v;
        if (value.get_int64().get(v)) return JsonTypeError(value, "an integer", path, error);
        if (v < field.min || v > field.max) return OutOfRange(v, path, error);
        out->integer = v;
        return true;
      }
      case FieldType::kDouble:
        if (value.get_double().get(out->number))
          return JsonTypeError(value, "a number", path, error);
        return true;
      case FieldType::kString: {
        std::string_view v;
        if (value.get_string().get(v)) return JsonTypeError(value, "a string", path, error);
        // simdjson's copy is overwritten by the next value: keep one for the batch.
        char* copy = arena_->Allocate(v.size());
        short_bytes::Copy(copy, v.data(), v.size());
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
        if (value.get_array().get(array)) return JsonTypeError(value, "an array", path, error);
        // The items of the open arrays, one list per depth: the count is known at the end.
        if (depth == items_.size()) items_.emplace_back();  // a deque: the others stay put
        std::vector<FieldValue>& items = items_[depth];
        items.clear();
        const Path item_path{path, std::string_view()};
        for (auto item_result : array) {
          simdjson::ondemand::value item;
          if (std::move(item_result).get(item)) return Malformed("malformed JSON in ", path, error);
          if (!ParseValue(item, *field.item, depth + 1, &items.emplace_back(), &item_path, error)) {
            return false;
          }
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

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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

  Status Fail(const std::string& reason) const {
    return Status::Corruption("message does not decode into " + std::string(layout.type_name) +
                              ": " + reason);
  }

  // Decoder 1, into `out`: false when it does not apply.
  [[gnu::always_inline]] bool DecodeFromSlots(const ValueSlots* slots, FieldValue* out) {
    if (!simple || slots == nullptr) return false;
    const EventPlan* plan = slot_plans.Find(layout, *slots);
    return plan != nullptr && ReadByPlan(*plan, slots->values, out);
  }

  // Decoders 2 to 4 in turn, into `out`.
  Status DecodeText(std::string_view value, FieldValue* out) {
    if (simple) {
      if (const auto* entry = shapes.Match(value)) {
        if (ReadByPlan(entry->plan, shapes.values(), out) || ScanSimple(layout, value, out)) {
          return Status::Ok();
        }
      } else if (ScanSimple(layout, value, out)) {
        if (shapes.ShouldLearn()) {
          shapes.Learn(value, [this](const JsonShape& shape, EventPlan* plan) {
            return shape.is_object() && PlanEvent(layout, shape, shape.members(), plan);
          });
        }
        return Status::Ok();
      }
    }
    return DecodeWithSimdjson(value, out);
  }

  Status DecodeWithSimdjson(std::string_view json, FieldValue* out) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
    if (padded.size() < json.size() + simdjson::SIMDJSON_PADDING) {
      padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
    }
    if (!json.empty()) std::memcpy(padded.data(), json.data(), json.size());
    // Zeros, not the bytes of an earlier value: simdjson reads the padding at the end of an
    // unclosed object, and its outcome must not depend on what came before.
    std::memset(padded.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document document;
    simdjson::ondemand::value root;
    if (parser.iterate(padded.data(), json.size(), padded.size()).get(document) ||
        document.get_value().get(root)) {
      return Fail("message value is not valid JSON");
    }
    error.clear();
    if (!simdjson_decoder.ParseObject(root, layout, 0, out, nullptr, &error)) {
      return Fail(error.empty() ? std::string("message value is not valid JSON") : error);
    }
    return Status::Ok();
  }

  // Decodes inputs from the first on from one document stream while the documents line up
  // with the values, and returns how many it went through; those it could not decode are in
  // `retry`, for the caller to decode one by one.
  size_t DecodeStream(std::span<const EventInput> inputs, std::span<const FieldValue>* fields) {
    const size_t n = inputs.size();
    starts.resize(n);
    size_t total = 0;
    for (const EventInput& input : inputs) total += input.value.size() + 1;
    if (batch.size() < total + simdjson::SIMDJSON_PADDING) {
      batch.resize(total + simdjson::SIMDJSON_PADDING);
    }
    size_t position = 0;
    for (size_t k = 0; k < n; ++k) {
      const std::string_view value = inputs[k].value;
      size_t leading = 0;
      while (leading < value.size() && IsJsonSpace(value[leading])) ++leading;
      starts[k] = position + leading;  // where the document of value k must begin
      if (!value.empty()) std::memcpy(batch.data() + position, value.data(), value.size());
      position += value.size();
      batch[position++] = '\n';
    }
    std::memset(batch.data() + total, 0, simdjson::SIMDJSON_PADDING);  // as in DecodeWithSimdjson
    size_t i = 0;
    simdjson::ondemand::document_stream stream;
    if (parser.iterate_many(batch.data(), total, std::max<size_t>(total, 1 << 16)).get(stream)) {
      return 0;
    }
    auto it = stream.begin();
    while (i < n && it != stream.end() && it.current_index() == starts[i]) {
      FieldValue* out = NewFields();
      bool parsed;
      {
        simdjson::ondemand::document_reference document;
        simdjson::ondemand::value root;
        if ((*it).get(document) || document.get_value().get(root)) break;
        error.clear();
        parsed = simdjson_decoder.ParseObject(root, layout, 0, out, nullptr, &error);
      }
      ++it;
      const bool lined_up = i + 1 < n ? it != stream.end() && it.current_index() == starts[i + 1]
                                      : !(it != stream.end());
      if (!lined_up) break;  // the document ran past value i: decode it on its own
      if (parsed) {
        fields[i] = Fields(out);
      } else {
        // Decoded again on its own, after the stream: the stream's first pass saw the whole
        // batch and may have found another error in the value first, and a value must get
        // one outcome, its reason included, however it is batched.
        fields[i] = {};
        retry.push_back(i);
      }
      ++i;
    }
    return i;
  }

  const EventLayout& layout;
  const bool simple;
  Arena arena;  // the decoded values of the batch: children and unescaped strings
  SlotPlans slot_plans;
  small_json::ShapeCache<EventPlan> shapes;  // of values the scalar scan decoded
  simdjson::ondemand::parser parser;
  SimdjsonDecoder simdjson_decoder;
  std::string padded;          // a value and simdjson's padding
  std::string batch;           // a batch's values, one per line, and simdjson's padding
  std::vector<size_t> starts;  // of each value's document in `batch`
  std::vector<size_t> retry;   // values the stream did not decode: decoded on their own
  std::string error;
};

EventDecoder::EventDecoder(const EventLayout& layout) : impl_(std::make_unique<Impl>(layout)) {}

EventDecoder::~EventDecoder() = default;

bool EventDecoder::simple() const { return impl_->simple; }

void EventDecoder::DecodeBatch(std::span<const EventInput> inputs,
                               std::vector<std::span<const FieldValue>>* fields,
                               std::vector<DecodeFailure>* failures) {
  Impl& d = *impl_;
  d.arena.Reset();
  fields->resize(inputs.size());
  failures->clear();
  size_t i = 0;
  if (!d.simple && inputs.size() > 1) {
    d.retry.clear();
    i = d.DecodeStream(inputs, fields->data());
    for (size_t k : d.retry) {  // the stream is gone: its parser is free again
      FieldValue* out = d.NewFields();
      (*fields)[k] = d.Fields(out);
      Status status = d.DecodeText(inputs[k].value, out);
      if (!status.ok()) {
        (*fields)[k] = {};
        failures->push_back({k, std::move(status)});
      }
    }
  }
  for (; i < inputs.size(); ++i) {
    FieldValue* out = d.NewFields();
    (*fields)[i] = d.Fields(out);
    if (d.DecodeFromSlots(inputs[i].slots, out)) continue;
    Status status = d.DecodeText(inputs[i].value, out);
    if (!status.ok()) {
      (*fields)[i] = {};
      failures->push_back({i, std::move(status)});
    }
  }
}

Status EventDecoder::Decode(std::string_view value, const ValueSlots* slots,
                            std::span<const FieldValue>* fields) {
  FieldValue* out = impl_->NewFields();
  *fields = impl_->Fields(out);
  if (impl_->DecodeFromSlots(slots, out)) return Status::Ok();
  return impl_->DecodeText(value, out);
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
