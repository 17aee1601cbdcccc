// EventLayout: the fields a resolver reads from each message's JSON value, and FieldValue, one
// decoded value. A resolver whose ResolverSpec names a layout gets its messages decoded by the
// engine, once, in the decode step (Message::fields); a message that does not fit the layout
// never reaches the resolver: it becomes a dead letter with the reason
// "message does not decode into <type_name>: <what is wrong>".
//
// Native resolvers get the layout of their STATEFOLD_STRUCT event type at compile time
// (statefold/native.h); a layout can also be written by hand as static tables.
//
// The JSON mapping, which every decoder of a layout follows exactly:
// - The value is an object; members the layout does not name are ignored (their JSON must
//   still be valid), and a member given twice counts as the last one.
// - A field that is not optional must be present and not null; an optional field may be
//   absent or null (FieldValue::present is then false).
// - kBool: true or false. kInt: an integer (no fraction or exponent) in [min, max]. kDouble:
//   any number. kString: a string, unescaped. kObject: an object of `object`'s fields, by the
//   same rules. kArray: an array whose items each follow `item`.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace statefold {

enum class FieldType : uint8_t { kBool, kInt, kDouble, kString, kObject, kArray };

struct EventLayout;

// One field of an event object, or the item of an array field (then `name` is empty).
struct EventField {
  std::string_view name;  // the JSON member name
  FieldType type = FieldType::kString;
  bool optional = false;  // may be absent or null
  // kInt: the values that fit the field's C++ type; others are "out of range".
  int64_t min = 0, max = 0;
  const EventLayout* object = nullptr;  // kObject: its fields
  const EventField* item = nullptr;     // kArray: its items
};

// The fields of an event object. The tables it points to must outlive every decoder made
// from it (static tables, in practice).
struct EventLayout {
  std::string_view type_name;          // names the type in dead-letter reasons
  std::span<const EventField> fields;  // at most kMaxFields, with distinct names

  static constexpr size_t kMaxFields = 64;
};

// One decoded value (24 bytes). `present` is always set; of the rest, only the member of the
// field's type is (reading another is undefined). Views and children stay valid while the
// resolver call that receives them runs.
struct FieldValue {
  constexpr FieldValue() : integer(0) {}

  bool present = false;  // false: an optional field that was absent or null
  union {
    bool boolean;             // kBool
    int64_t integer;          // kInt
    double number;            // kDouble
    std::string_view string;  // kString
    // kObject: its fields, in layout order; kArray: its items, in order.
    std::span<const FieldValue> children;
  };
};

}  // namespace statefold
