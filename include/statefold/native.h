// Native C++ stream resolvers: the C++ side of Chalk's `@stream` with `State[...]`.
//
//   struct LoginEvent { std::string user_id; std::string ip_address; };
//   STATEFOLD_STRUCT(LoginEvent, user_id, ip_address)
//
//   struct User { statefold::Feature<std::string> id; statefold::Feature<int64_t> unique_ip_count;
//   }; STATEFOLD_STRUCT(User, id, unique_ip_count)
//
//   struct LoginState { std::set<std::string, std::less<>> unique_ips; };
//   STATEFOLD_STRUCT(LoginState, unique_ips)
//
//   User track_unique_ips(const LoginEvent& event, statefold::State<LoginState>& state) {
//     state->unique_ips.insert(event.ip_address);
//     return {.id = event.user_id, .unique_ip_count = state->unique_ips.size()};
//   }
//
//   STATEFOLD_NATIVE_MODULE(registry) {
//     registry.AddStream("track_unique_ips", "login_stream", track_unique_ips);
//   }
//
// Semantics are those of Python resolvers (docs/semantics.md), on the same engine:
// - The event type is a STATEFOLD_STRUCT parsed from the message's JSON value (unknown fields
//   ignored, std::optional fields may be absent or null), or std::string_view for the raw
//   value; .Parse(fn) installs an own parser. A message that does not parse is a dead letter.
// - The state is one object per key: a copy of the initial value given to AddStream, or a
//   value-initialized T (member initializers apply) when none is given. The resolver mutates
//   it in place; mutations are saved at the next checkpoint, and a resolver that throws
//   leaves no trace: the key is rolled back and the message is dead-lettered.
// - The state type is stored with the codec of statefold/native_codec.h: the same bytes and
//   schema as the equivalent Python state type.
// - The result is a feature struct whose fields are statefold::Feature<T> (its namespace is
//   the snake_case type name, or `static constexpr std::string_view kNamespace`); set fields
//   are written, with the message's time and offset. Its primary key is the field named `id`
//   (or declared statefold::Primary<T>). A resolver may also return std::optional of it
//   (nullopt: no output) or void.
// - Keys: the message key, or the message field named by .Keys("user_id") (dotted path).
#pragma once

#include <cxxabi.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "statefold/internal/prefetch.h"
#include "statefold/json_shape.h"
#include "statefold/json_text.h"
#include "statefold/native/event_layout_of.h"
#include "statefold/native/type_traits.h"
#include "statefold/native_codec.h"
#include "statefold/reflect.h"
#include "statefold/resolver.h"
#include "statefold/small_json.h"
#include "statefold/status.h"

// Bumped whenever the layout of anything a module shares with the host changes.
#define STATEFOLD_NATIVE_API_VERSION 3  // 3: Message::value_slots

namespace statefold {

// A feature value in a feature struct: set or not (unset features are not written).
template <class T>
class Feature {
 public:
  using ValueType = T;
  Feature() = default;
  template <class U>
  requires std::is_constructible_v<T, U&&> Feature(U&& value)
      : value_(static_cast<T>(std::forward<U>(value))) {}  // NOLINT: implicit

  bool has_value() const { return value_.has_value(); }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return &*value_; }
  void reset() { value_.reset(); }

 private:
  std::optional<T> value_;
};

// A feature that is its struct's primary key, when it is not named `id`.
template <class T>
class Primary : public Feature<T> {
 public:
  using Feature<T>::Feature;
};

// The live state of the message's key, as the resolver sees it.
template <class T>
class State {
 public:
  explicit State(T* value) : value_(value) {}
  T& operator*() const { return *value_; }
  T* operator->() const { return value_; }
  T& get() const { return *value_; }

 private:
  T* value_;
};

namespace native {

// "UserProfile" -> "user_profile", Chalk's namespace convention.
inline std::string SnakeCase(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      if (i > 0) out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The index of the primary key: the field declared Primary<T>, or else the field named `id`.
template <FeatureStruct T>
constexpr size_t PrimaryKeyIndex() {
  size_t declared = SIZE_MAX, named = SIZE_MAX;
  reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    if (IsPrimary<typename std::remove_cvref_t<decltype(f)>::Type>::value) declared = index;
    if (f.name == "id") named = index;
    return true;
  });
  return declared != SIZE_MAX ? declared : named;
}

template <FeatureStruct T>
std::string NamespaceOf() {
  if constexpr (requires { T::kNamespace; }) {
    return std::string(T::kNamespace);
  } else {
    return SnakeCase(reflect::DescriptionOf<T>().name);
  }
}

// ---- Feature values as JSON text (the same text the Python SDK writes). ----

template <class T>
void AppendJson(const T& value, std::string* out);

template <class T>
void AppendJsonItems(const T& items, std::string* out) {
  out->push_back('[');
  bool first = true;
  for (const auto& item : items) {
    if (!first) out->push_back(',');
    first = false;
    AppendJson(item, out);
  }
  out->push_back(']');
}

template <class T>
void AppendJson(const T& value, std::string* out) {
  if constexpr (std::is_same_v<T, bool>) {
    out->append(value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    char buffer[24];
    // (pointer, length): append(first, last) is a general replace, several times the cost.
    const char* end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    out->append(buffer, static_cast<size_t>(end - buffer));
  } else if constexpr (std::is_floating_point_v<T>) {
    AppendJsonDouble(static_cast<double>(value), out);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    AppendJsonString(std::string_view(value), out);
  } else if constexpr (IsOptional<T>::value) {
    if (value) {
      AppendJson(*value, out);
    } else {
      out->append("null");
    }
  } else if constexpr (requires { value.begin()->second; }) {
    out->push_back('{');
    bool first = true;
    for (const auto& [key, item] : value) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(std::string_view(key), out);
      out->push_back(':');
      AppendJson(item, out);
    }
    out->push_back('}');
  } else if constexpr (requires { value.begin(); }) {
    AppendJsonItems(value, out);
  } else {
    static_assert(sizeof(T) == 0,
                  "feature values must be bool, numbers, strings, optionals, "
                  "sequences or string-keyed maps of these");
  }
}

// ---- Events from JSON (simdjson On-Demand). ----

// Parses a JSON value into `out`; on failure sets `*error` (naming the path) and returns false.
template <class T>
bool ParseJson(simdjson::ondemand::value value, T* out, std::string* path, std::string* error);

inline bool JsonTypeError(simdjson::ondemand::value& value, std::string_view expected,
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

template <reflect::Described T>
bool ParseObject(simdjson::ondemand::value value, T* out, std::string* path, std::string* error) {
  simdjson::ondemand::object object;
  if (value.get_object().get(object)) return JsonTypeError(value, "an object", *path, error);
  constexpr size_t kFields = reflect::FieldCount<T>();
  static_assert(kFields <= 64, "at most 64 fields per event struct");
  uint64_t seen = 0;
  const size_t path_size = path->size();
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) {
      *error = "malformed JSON in " + (path->empty() ? std::string("the message") : *path);
      return false;
    }
    simdjson::ondemand::raw_json_string key = field.key();
    bool failed = false;
    reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
      if (!(key == f.name)) return true;  // not this field: keep looking
      seen |= uint64_t{1} << index;
      if (!path->empty()) path->push_back('.');
      path->append(f.name);
      failed = !ParseJson(field.value(), &(out->*f.member), path, error);
      path->resize(path_size);
      return false;
    });
    if (failed) return false;
  }
  // Absent fields: optionals become empty; anything else is an error.
  bool complete = reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    if (seen & (uint64_t{1} << index)) return true;
    using Member = typename std::remove_cvref_t<decltype(f)>::Type;
    if constexpr (IsOptional<Member>::value) {
      (out->*f.member).reset();
      return true;
    } else {
      *error = "field " + (path->empty() ? std::string() : *path + ".") + std::string(f.name) +
               " is missing";
      return false;
    }
  });
  return complete;
}

template <class T>
bool ParseJson(simdjson::ondemand::value value, T* out, std::string* path, std::string* error) {
  if constexpr (IsOptional<T>::value) {
    bool is_null = false;
    if (value.is_null().get(is_null)) {  // `nul`, say
      *error = "malformed JSON in field " + *path;
      return false;
    }
    if (is_null) {
      out->reset();
      return true;
    }
    if (!out->has_value()) out->emplace();
    return ParseJson(value, &**out, path, error);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (value.get_bool().get(*out)) return JsonTypeError(value, "a boolean", *path, error);
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    int64_t v;
    if (value.get_int64().get(v)) return JsonTypeError(value, "an integer", *path, error);
    *out = static_cast<T>(v);
    if (static_cast<int64_t>(*out) != v) {
      *error = "field " + *path + ": " + std::to_string(v) + " is out of range";
      return false;
    }
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    double v;
    if (value.get_double().get(v)) return JsonTypeError(value, "a number", *path, error);
    *out = static_cast<T>(v);
    return true;
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    std::string_view v;
    if (value.get_string().get(v)) return JsonTypeError(value, "a string", *path, error);
    *out = v;  // a view stays valid for the resolver call
    return true;
  } else if constexpr (reflect::Described<T>) {
    return ParseObject(value, out, path, error);
  } else if constexpr (requires { out->push_back(std::declval<typename T::value_type>()); }) {
    simdjson::ondemand::array array;
    if (value.get_array().get(array)) return JsonTypeError(value, "an array", *path, error);
    out->clear();
    const size_t path_size = path->size();
    for (auto item_result : array) {
      simdjson::ondemand::value item;
      if (std::move(item_result).get(item)) {
        *error = "malformed JSON in " + *path;
        return false;
      }
      path->append("[]");
      bool parsed = ParseJson(item, &out->emplace_back(), path, error);
      path->resize(path_size);
      if (!parsed) return false;
    }
    return true;
  } else {
    static_assert(sizeof(T) == 0,
                  "event fields must be bool, numbers, std::string, "
                  "std::string_view, std::optional, std::vector or described "
                  "structs");
  }
}

// ---- Events from JSON without simdjson, for the simple event types. ----

template <class T>
constexpr bool kSimpleScalar =
    std::is_integral_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>;
template <class T>
constexpr bool kSimpleField = kSimpleScalar<T>;
template <class T>
constexpr bool kSimpleField<std::optional<T>> = kSimpleScalar<T>;

// An event struct whose fields are bool, integers, strings or optionals of these.
template <class T>
concept SimpleEvent = reflect::Described<T> &&[]<size_t... I>(std::index_sequence<I...>) {
  return (
      kSimpleField<
          typename std::tuple_element_t<I, decltype(reflect::DescriptionOf<T>().fields)>::Type> &&
      ...);
}
(std::make_index_sequence<reflect::FieldCount<T>()>{});

// Reads one field value as ParseJson would, or returns false ("not handled").
template <class T>
bool ReadSimpleField(small_json::Scanner* in, T* out) {
  if constexpr (IsOptional<T>::value) {
    if (in->Peek() == 'n') {
      if (!in->ReadNull()) return false;
      out->reset();
      return true;
    }
    if (!out->has_value()) out->emplace();
    return ReadSimpleField(in, &**out);
  } else if constexpr (std::is_same_v<T, bool>) {
    return in->ReadBool(out);
  } else if constexpr (std::is_integral_v<T>) {
    int64_t v;
    std::string_view token;
    if (!in->ReadInteger(&v, &token)) return false;
    *out = static_cast<T>(v);
    return static_cast<int64_t>(*out) == v;  // out of range: ParseJson gives the error
  } else {
    std::string_view v;
    if (!in->ReadString(&v)) return false;
    *out = v;  // a view into `json`
    return true;
  }
}

// The fast path of EventParser::Parse: parses `json`, an object of strict JSON whose event
// fields are simple (strings without escapes, integers in range, literals), into *out and
// returns true, or returns false ("not handled", *out unspecified) for anything else.
// Where it returns true, ParseWithSimdjson gives the same event.
template <SimpleEvent T>
bool ParseSimpleEvent(std::string_view json, T* out) {
  small_json::Scanner in(json);
  if (!in.Consume('{')) return false;
  uint64_t seen = 0;
  if (!in.Consume('}')) {
    do {
      std::string_view name;
      if (!in.ReadString(&name) || !in.Consume(':')) return false;
      bool known = false, read = false;
      reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
        if (name != f.name) return true;
        known = true;
        seen |= uint64_t{1} << index;
        read = ReadSimpleField(&in, &(out->*f.member));
        return false;
      });
      if (known ? !read : !in.SkipValue()) return false;
    } while (in.Consume(','));
    if (!in.Consume('}')) return false;
  }
  if (!in.AtEnd()) return false;
  return reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    if (seen & (uint64_t{1} << index)) return true;
    if constexpr (IsOptional<typename std::remove_cvref_t<decltype(f)>::Type>::value) {
      (out->*f.member).reset();
      return true;
    } else {
      return false;  // missing: ParseJson gives the error
    }
  });
}

// Reads one field from the value of a shape's slot (small_json::JsonShape::Match) as
// ReadSimpleField would, or returns false ("not handled").
template <class T>
bool ReadShapeField(small_json::JsonShape::Kind kind, std::string_view value, T* out) {
  using Kind = small_json::JsonShape::Kind;
  if constexpr (IsOptional<T>::value) {
    if (kind == Kind::kLiteral && value == "null") {
      out->reset();
      return true;
    }
    if (!out->has_value()) out->emplace();
    return ReadShapeField(kind, value, &**out);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (kind != Kind::kLiteral || value == "null") return false;
    *out = value == "true";
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    int64_t v;
    if (kind != Kind::kNumber || !small_json::ParseInteger(value, &v)) return false;
    *out = static_cast<T>(v);
    return static_cast<int64_t>(*out) == v;  // out of range: ParseJson gives the error
  } else {
    if (kind != Kind::kString) return false;
    *out = value;  // a view into the message value
    return true;
  }
}

// Where the values of one shape hold the event's fields: each field's slot and its kind, or
// slot -1 for an absent (optional) field.
template <class T>
struct EventPlan {
  struct Field {
    int32_t slot = -1;
    small_json::JsonShape::Kind kind{};
  };
  std::array<Field, reflect::FieldCount<T>()> fields{};
};

// Makes the plan of an event object with `members`, whose values are slots of `shape`;
// false when a required field is absent or a field's value is an object or array (which
// ParseSimpleEvent declines).
template <SimpleEvent T>
bool PlanEvent(const small_json::JsonShape& shape,
               const std::vector<small_json::JsonShape::Member>& members, EventPlan<T>* plan) {
  return reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    const auto* member = small_json::JsonShape::Find(members, f.name);
    if (member == nullptr) {
      plan->fields[index].slot = -1;
      return IsOptional<typename std::remove_cvref_t<decltype(f)>::Type>::value;
    }
    if (member->slot < 0) return false;
    plan->fields[index] = {member->slot, shape.kind(static_cast<size_t>(member->slot))};
    return true;
  });
}

// The plan of event values of shape `shape` (the value's own shape).
template <SimpleEvent T>
bool PlanEventValue(const small_json::JsonShape& shape, EventPlan<T>* plan) {
  return shape.is_object() && PlanEvent(shape, shape.members(), plan);
}

// Parses an event from the slot values of a shape it has `plan` for, as ParseSimpleEvent
// would parse its text, or returns false ("not handled").
template <SimpleEvent T>
bool ParseEventByPlan(const EventPlan<T>& plan, const std::string_view* values, T* out) {
  return reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    const auto& field = plan.fields[index];
    if (field.slot < 0) {
      if constexpr (IsOptional<typename std::remove_cvref_t<decltype(f)>::Type>::value) {
        (out->*f.member).reset();
      }
      return true;
    }
    return ReadShapeField(field.kind, values[field.slot], &(out->*f.member));
  });
}

// The plans of simple events for the record shapes whose value slots messages carry
// (Message::value_slots), by shape id: the last kEntries shapes seen.
template <class T>
class SlotPlans {
 public:
  static constexpr size_t kEntries = 4;

  // The plan for `slots`, or nullptr when its shape has none (or has been replaced).
  const EventPlan<T>* Find(const ValueSlots& slots) {
    for (const Entry& entry : entries_) {
      if (entry.shape_id == slots.shape_id) return entry.usable ? &entry.plan : nullptr;
    }
    if (slots.shape->id() != slots.shape_id) return nullptr;  // the shape is gone
    Entry& entry = entries_[next_++ % kEntries];
    entry.shape_id = slots.shape_id;
    entry.usable = slots.value->is_object && !slots.value->repeats_names &&
                   PlanEvent(*slots.shape, slots.value->members, &entry.plan);
    return entry.usable ? &entry.plan : nullptr;
  }

 private:
  struct Entry {
    uint64_t shape_id = 0;  // ids start at 1
    bool usable = false;
    EventPlan<T> plan;
  };
  Entry entries_[kEntries];
  size_t next_ = 0;
};

template <class T>
struct EventShapes {
  using type = std::monostate;
};
template <SimpleEvent T>
struct EventShapes<T> {
  using type = small_json::ShapeCache<EventPlan<T>>;
};
template <class T>
struct EventSlotPlans {
  using type = std::monostate;
};
template <SimpleEvent T>
struct EventSlotPlans<T> {
  using type = SlotPlans<T>;
};

// Parses message values (JSON text) into events. Reuses its buffers between messages.
template <class Event>
class EventParser {
 public:
  // Returns false with the reason in *error when `json` is not an object of the event type.
  // Simple events (SimpleEvent) try the shapes of earlier values (small_json::JsonShape),
  // then ParseSimpleEvent, then ParseWithSimdjson; all three agree where they accept.
  bool Parse(std::string_view json, Event* event, std::string* error) {
    if constexpr (SimpleEvent<Event>) {
      if (const auto* entry = shapes_.Match(json)) {
        if (ParseEventByPlan(entry->plan, shapes_.values(), event) ||
            ParseSimpleEvent(json, event)) {
          error->clear();
          return true;
        }
      } else if (ParseSimpleEvent(json, event)) {
        if (shapes_.ShouldLearn()) shapes_.Learn(json, PlanEventValue<Event>);
        error->clear();
        return true;
      }
    }
    return ParseWithSimdjson(json, event, error);
  }

  // Parses a message's value, from its value slots (Message::value_slots) where it can.
  bool Parse(const Message& message, Event* event, std::string* error) {
    if constexpr (SimpleEvent<Event>) {
      if (message.value_slots != nullptr) {
        const EventPlan<Event>* plan = slot_plans_.Find(*message.value_slots);
        if (plan != nullptr && ParseEventByPlan(*plan, message.value_slots->values, event)) {
          error->clear();
          return true;
        }
      }
    }
    return Parse(message.value, event, error);
  }

  // Parse without the fast path: the authority for every value, bad ones included.
  bool ParseWithSimdjson(std::string_view json, Event* event, std::string* error) {
    error->clear();
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
    if (padded_.size() < json.size() + simdjson::SIMDJSON_PADDING) {
      padded_.resize(json.size() + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(padded_.data(), json.data(), json.size());
    simdjson::ondemand::document document;
    if (parser_.iterate(padded_.data(), json.size(), padded_.size()).get(document)) {
      *error = "message value is not valid JSON";
      return false;
    }
    simdjson::ondemand::value root;
    if (document.get_value().get(root)) {
      *error = "message value is not valid JSON";
      return false;
    }
    path_.clear();
    if (!ParseObject(root, event, &path_, error)) {
      if (error->empty()) *error = "message value is not valid JSON";
      return false;
    }
    return true;
  }

  // Parses each message's value into *event in turn and calls visit(i, parsed) (*error holds
  // the reason when !parsed); stops after a visit that returns false and returns how many
  // messages it visited. Simple events are parsed one by one with Parse. Other values are
  // parsed as one stream of documents, which spares simdjson its per-document start-up;
  // wherever a document does not line up exactly with one message's value, that message and
  // the rest are parsed one by one, so a malformed value never affects another.
  template <class Visit>
  size_t ForEach(std::span<const Message> messages, Event* event, std::string* error,
                 Visit&& visit) {
    const size_t n = messages.size();
    size_t i = 0;
    if (!SimpleEvent<Event> && n > 1) {
      starts_.resize(n);
      size_t total = 0;
      for (const Message& m : messages) total += m.value.size() + 1;
      if (batch_.size() < total + simdjson::SIMDJSON_PADDING) {
        batch_.resize(total + simdjson::SIMDJSON_PADDING);
      }
      size_t position = 0;
      for (size_t k = 0; k < n; ++k) {
        std::string_view value = messages[k].value;
        size_t leading = 0;
        while (leading < value.size() && IsJsonSpace(value[leading])) ++leading;
        starts_[k] = position + leading;  // where the document of message k must begin
        std::memcpy(batch_.data() + position, value.data(), value.size());
        position += value.size();
        batch_[position++] = '\n';
      }
      simdjson::ondemand::document_stream stream;
      if (!parser_.iterate_many(batch_.data(), total, std::max<size_t>(total, 1 << 16))
               .get(stream)) {
        auto it = stream.begin();
        while (i < n && it != stream.end() && it.current_index() == starts_[i]) {
          bool parsed = false;
          error->clear();
          {
            simdjson::ondemand::document_reference document;
            simdjson::ondemand::value root;
            if ((*it).get(document) || document.get_value().get(root)) break;
            path_.clear();
            parsed = ParseObject(root, event, &path_, error);
          }
          ++it;  // string views into the parser stay valid until the next document is read
          bool lined_up = i + 1 < n ? it != stream.end() && it.current_index() == starts_[i + 1]
                                    : !(it != stream.end());
          if (!lined_up) break;  // the document ran past message i: parse it on its own
          if (!parsed && error->empty()) *error = "message value is not valid JSON";
          if (!visit(i, parsed)) return i + 1;
          ++i;
        }
      }
    }
    for (; i < n; ++i) {
      bool parsed = Parse(messages[i], event, error);
      if (!visit(i, parsed)) return i + 1;
    }
    return n;
  }

 private:
  static bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  [[no_unique_address]] typename EventShapes<Event>::type shapes_;
  [[no_unique_address]] typename EventSlotPlans<Event>::type slot_plans_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::string batch_;
  std::vector<size_t> starts_;
  std::string path_;
};

inline std::string DemangledTypeName(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string result = status == 0 && name != nullptr ? name : type.name();
  std::free(name);
  return result;
}

// What a resolver function looks like: its event, state and result types.
template <class F>
struct Signature : Signature<decltype(&F::operator())> {};
template <class R, class... A>
struct Signature<R (*)(A...)> : Signature<R(A...)> {};
template <class C, class R, class... A>
struct Signature<R (C::*)(A...) const> : Signature<R(A...)> {};
template <class C, class R, class... A>
struct Signature<R (C::*)(A...)> : Signature<R(A...)> {};
template <class R, class E>
struct Signature<R(E)> {
  using Result = R;
  using Event = std::remove_cvref_t<E>;
  using StateType = void;
};
template <class R, class E, class S>
struct Signature<R(E, S&)> {
  static_assert(sizeof(S) == 0, "the state parameter must be statefold::State<T>&");
};
template <class R, class E, class S>
struct Signature<R(E, State<S>&)> {
  using Result = R;
  using Event = std::remove_cvref_t<E>;
  using StateType = S;
};

template <class R>
struct ResultTraits {
  using Features = R;
};
template <class R>
struct ResultTraits<std::optional<R>> {
  using Features = R;
};

// A native resolver: the engine's Resolver interface over a C++ function.
template <class Fn>
class NativeResolver final : public Resolver {
  using Sig = Signature<Fn>;
  using Event = typename Sig::Event;
  using StateType = typename Sig::StateType;
  using Result = typename Sig::Result;
  static constexpr bool kStateful = !std::is_void_v<StateType>;
  static constexpr bool kRawEvent = std::is_same_v<Event, std::string_view>;
  using InitialState = std::conditional_t<kStateful, StateType, int>;

  static_assert(kRawEvent || reflect::Described<Event>,
                "the event parameter must be a STATEFOLD_STRUCT type or std::string_view");

 public:
  using ParseFn = std::function<Status(std::string_view value, Event* event)>;

  NativeResolver(std::string name, std::string source, Fn fn, InitialState initial)
      : fn_(std::move(fn)), initial_(std::move(initial)) {
    spec_.name = std::move(name);
    spec_.source = std::move(source);
    spec_.stateful = kStateful;
    if constexpr (kStateful) codec::AppendSchema<StateType>(&spec_.state_schema);
    if constexpr (!std::is_void_v<Result>) {
      using Features = typename ResultTraits<Result>::Features;
      static_assert(FeatureStruct<Features>,
                    "a resolver returns void, a feature struct (a STATEFOLD_STRUCT of "
                    "statefold::Feature fields) or std::optional of one");
      static_assert(PrimaryKeyIndex<Features>() != SIZE_MAX,
                    "the feature struct has no primary key: name a field `id` or declare it "
                    "statefold::Primary<T>");
      namespace_ = NamespaceOf<Features>();
    }
  }

  // The message field (dotted path, e.g. "user.id") whose value keys the state.
  NativeResolver& Keys(std::string_view path) {
    spec_.key_path.clear();
    size_t begin = 0;
    for (;;) {
      size_t dot = path.find('.', begin);
      spec_.key_path.emplace_back(path.substr(begin, dot - begin));
      if (dot == std::string_view::npos) break;
      begin = dot + 1;
    }
    return *this;
  }
  // Parses message values with `parse` instead of the event type's JSON mapping.
  NativeResolver& Parse(ParseFn parse) {
    parse_ = std::move(parse);
    return *this;
  }

  const ResolverSpec& spec() const override { return spec_; }

  size_t RunBatch(std::span<const Message> messages, std::span<const StateHandle> states,
                  ResolverOutput* output) override {
    // The engine has the state objects in cache by now; their fields' buffers (a set's or a
    // vector's elements) are one more miss each: fetched kPrefetchAhead messages ahead.
    for (size_t i = 0; i < std::min(states.size(), kPrefetchAhead); ++i) {
      PrefetchBuffers(states[i]);
    }
    auto ahead = [&states](size_t i) {
      if (i + kPrefetchAhead < states.size()) PrefetchBuffers(states[i + kPrefetchAhead]);
    };
    if constexpr (kRawEvent) {
      for (size_t i = 0; i < messages.size(); ++i) {
        ahead(i);
        if (!Run(static_cast<uint32_t>(i), messages[i].value, states[i], output)) return i + 1;
      }
      return messages.size();
    } else if (parse_) {
      for (size_t i = 0; i < messages.size(); ++i) {
        ahead(i);
        Status status = parse_(messages[i].value, &event_);
        if (!status.ok()) {
          output->Reject(static_cast<uint32_t>(i),
                         "message does not decode into the event type: " + status.message());
        } else if (!Run(static_cast<uint32_t>(i), event_, states[i], output)) {
          return i + 1;
        }
      }
      return messages.size();
    } else {
      return parser_.ForEach(messages, &event_, &error_, [&](size_t i, bool parsed) {
        ahead(i);
        if (!parsed) {
          output->Reject(static_cast<uint32_t>(i),
                         "message does not decode into " +
                             std::string(reflect::DescriptionOf<Event>().name) + ": " + error_);
          return true;
        }
        return Run(static_cast<uint32_t>(i), event_, states[i], output);
      });
    }
  }

  static constexpr size_t kPrefetchAhead = 16;

  // Prefetches the first 512 bytes of each buffer-holding field of a state.
  static void PrefetchBuffers(StateHandle state) {
    if constexpr (kStateful && reflect::Described<StateType>) {
      reflect::ForEachField<StateType>([state](const auto& f) {
        const auto& field = static_cast<const StateType*>(state)->*f.member;
        using Field = std::remove_cvref_t<decltype(field)>;
        if constexpr (requires(const Field& v) { v.data() + v.size(); }) {
          const char* data = reinterpret_cast<const char*>(field.data());
          size_t bytes = std::min<size_t>(field.size() * sizeof(*field.data()), 512);
          for (size_t at = 0; at < bytes; at += 64) PrefetchLine(data + at);
        }
      });
    } else {
      (void)state;
    }
  }

  Status NewState(StateHandle* state) override {
    if constexpr (kStateful) {
      *state = new StateType(initial_);
    } else {
      *state = nullptr;
    }
    return Status::Ok();
  }
  Status DecodeState(std::string_view bytes, StateHandle* state) override {
    if constexpr (kStateful) {
      auto value = std::make_unique<StateType>(initial_);
      ByteReader in(bytes);
      if (!codec::Decode(&in, value.get()) || !in.AtEnd()) {
        return Status::Corruption("stored state does not decode as " +
                                  std::string(reflect::DescriptionOf<StateType>().name));
      }
      *state = value.release();
      return Status::Ok();
    } else {
      (void)bytes;
      (void)state;
      return Status::InvalidArgument("resolver " + spec_.name + " has no state");
    }
  }
  Status EncodeState(StateHandle state, std::string* out) override {
    if constexpr (kStateful) {
      ByteWriter writer(out);
      codec::Encode(*static_cast<const StateType*>(state), &writer);
      return Status::Ok();
    } else {
      (void)state;
      (void)out;
      return Status::InvalidArgument("resolver " + spec_.name + " has no state");
    }
  }
  void ReleaseState(StateHandle state) override {
    if constexpr (kStateful) delete static_cast<StateType*>(state);
  }

 private:
  // Runs the function for message `index` and adds its outputs; false when it failed (the
  // failure is recorded in `output`).
  bool Run(uint32_t index, const Event& event, StateHandle state, ResolverOutput* output) {
    try {
      if constexpr (std::is_void_v<Result>) {
        Call(event, state);
        return true;
      } else if constexpr (IsOptional<Result>::value) {
        std::optional result = Call(event, state);
        return !result || AddOutputs(index, *result, output);
      } else {
        return AddOutputs(index, Call(event, state), output);
      }
    } catch (const std::exception& e) {
      output->Fail(index, "resolver " + spec_.name + " threw " + DemangledTypeName(typeid(e)) +
                              ": " + e.what());
    } catch (...) {
      output->Fail(index, "resolver " + spec_.name + " threw a non-standard exception");
    }
    return false;
  }

  decltype(auto) Call(const Event& event, StateHandle state) {
    if constexpr (kStateful) {
      State<StateType> handle(static_cast<StateType*>(state));
      return fn_(event, handle);
    } else {
      (void)state;
      return fn_(event);
    }
  }

  // Adds the set features of `features`; fails the message when the primary key is unset.
  template <class Features>
  bool AddOutputs(uint32_t index, const Features& features, ResolverOutput* output) {
    constexpr size_t kPrimary = PrimaryKeyIndex<Features>();
    const auto& key =
        (features.*std::get<kPrimary>(reflect::DescriptionOf<Features>().fields).member);
    if (!key.has_value()) {
      output->Fail(index, "resolver " + spec_.name + " returned an invalid value: the returned " +
                              namespace_ + " features have no primary key");
      return false;
    }
    using Key = std::remove_cvref_t<decltype(*key)>;
    if constexpr (std::is_convertible_v<const Key&, std::string_view>) {
      output->StartEntity(index, namespace_, std::string_view(*key));
    } else if constexpr (std::is_integral_v<Key> && !std::is_same_v<Key, bool>) {
      char digits[24];
      output->StartEntity(index, namespace_,
                          std::string_view(digits, std::to_chars(digits, digits + 24, *key).ptr));
    } else {
      static_assert(sizeof(Key) == 0, "the primary key must be a string or an integer");
    }
    reflect::ForEachField<Features>([&](const auto& f) {
      const auto& feature = features.*f.member;
      if (feature.has_value()) {
        output->AddValue(f.name, [&feature](std::string* out) { AppendJson(*feature, out); });
      }
    });
    return true;
  }

  Fn fn_;
  InitialState initial_;
  ResolverSpec spec_;
  std::string namespace_;
  ParseFn parse_;
  [[no_unique_address]] std::conditional_t<kRawEvent, std::monostate, Event> event_{};
  [[no_unique_address]] std::conditional_t<kRawEvent, std::monostate, EventParser<Event>> parser_;
  std::string error_;
};

}  // namespace native

// The resolvers of a native module (or of a program that runs the engine itself).
class NativeRegistry {
 public:
  NativeRegistry() = default;
  NativeRegistry(const NativeRegistry&) = delete;
  NativeRegistry& operator=(const NativeRegistry&) = delete;

  // A stateful resolver `Result fn(const Event&, statefold::State<T>&)` starts each new key
  // from a copy of `initial`; without `initial`, from a value-initialized T. A stateless
  // resolver is `Result fn(const Event&)`. `source` names the stream it reads.
  template <class Fn>
  auto& AddStream(std::string name, std::string source, Fn fn) {
    using StateType = typename native::Signature<Fn>::StateType;
    if constexpr (!std::is_void_v<StateType>) {
      static_assert(std::is_default_constructible_v<StateType>,
                    "this state type has no default constructor: pass the initial state to "
                    "AddStream(name, source, fn, initial)");
      return Add(std::make_unique<native::NativeResolver<Fn>>(std::move(name), std::move(source),
                                                              std::move(fn), StateType{}));
    } else {
      return Add(std::make_unique<native::NativeResolver<Fn>>(std::move(name), std::move(source),
                                                              std::move(fn), 0));
    }
  }
  template <class Fn, class T>
  auto& AddStream(std::string name, std::string source, Fn fn, T initial) {
    using StateType = typename native::Signature<Fn>::StateType;
    static_assert(!std::is_void_v<StateType>, "a stateless resolver takes no initial state");
    return Add(std::make_unique<native::NativeResolver<Fn>>(
        std::move(name), std::move(source), std::move(fn), StateType(std::move(initial))));
  }

  // The registered resolvers, in registration order. Owned by the registry.
  std::vector<Resolver*> resolvers() const {
    std::vector<Resolver*> result;
    for (const auto& r : resolvers_) result.push_back(r.get());
    return result;
  }

 private:
  template <class R>
  R& Add(std::unique_ptr<R> resolver) {
    R& ref = *resolver;
    resolvers_.push_back(std::move(resolver));
    return ref;
  }

  std::vector<std::unique_ptr<Resolver>> resolvers_;
};

}  // namespace statefold

// Defines a native module's entry point: a shared library with it is loaded by
// `statefold run libfeatures.so` (see docs/native.md).
#define STATEFOLD_NATIVE_MODULE(registry)                                                \
  static void statefold_native_module_body(::statefold::NativeRegistry& registry);       \
  extern "C" __attribute__((visibility("default"))) int statefold_native_api_version() { \
    return STATEFOLD_NATIVE_API_VERSION;                                                 \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) void statefold_native_module(        \
      ::statefold::NativeRegistry* registry) {                                           \
    statefold_native_module_body(*registry);                                             \
  }                                                                                      \
  static void statefold_native_module_body(::statefold::NativeRegistry& registry)
