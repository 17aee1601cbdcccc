// EventLayoutOf<T>(): the EventLayout (statefold/event_layout.h) of a STATEFOLD_STRUCT event
// type, as static tables made at compile time; EventFromFields: the event from the fields the
// engine decoded with that layout. Part of statefold/native.h: include that instead.
//
//   C++ field type                              layout
//   bool                                        kBool
//   integers                                    kInt, [min, max] the type's range (a 64-bit
//                                               type takes every int64, as a cast would)
//   float, double                               kDouble
//   std::string, std::string_view               kString (a view stays valid for the call)
//   std::optional<T>                            T's, optional
//   std::vector<T> (containers with push_back)  kArray of T's
//   STATEFOLD_STRUCT types                      kObject of their fields
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "statefold/event_layout.h"
#include "statefold/native/type_traits.h"
#include "statefold/reflect.h"

namespace statefold::native {

template <class M>
constexpr EventField FieldOf(std::string_view name);

// The tables of a described type's layout, and of an array's item. Declared here and defined
// below with constexpr, so that a type may contain itself (a vector of its own type).
template <reflect::Described T>
struct EventLayoutTables {
  static const std::array<EventField, reflect::FieldCount<T>()> fields;
  static const EventLayout layout;
};
template <class M>
struct EventItemTable {
  static const EventField field;
};

template <reflect::Described T>
constexpr std::array<EventField, reflect::FieldCount<T>()> EventLayoutTables<T>::fields = [
]<size_t... I>(std::index_sequence<I...>) {
  constexpr auto description = reflect::DescriptionOf<T>();
  return std::array<EventField, sizeof...(I)>{
      FieldOf<typename std::tuple_element_t<I, decltype(description.fields)>::Type>(
          std::get<I>(description.fields).name)...};
}
(std::make_index_sequence<reflect::FieldCount<T>()>{});
template <reflect::Described T>
constexpr EventLayout EventLayoutTables<T>::layout = {reflect::DescriptionOf<T>().name,
                                                      EventLayoutTables<T>::fields};
template <class M>
constexpr EventField EventItemTable<M>::field = FieldOf<M>("");

// The layout of event type T (a static table: it lives as long as the program or module).
template <reflect::Described T>
constexpr const EventLayout* EventLayoutOf() {
  static_assert(reflect::FieldCount<T>() <= EventLayout::kMaxFields,
                "at most 64 fields per event struct");
  return &EventLayoutTables<T>::layout;
}

// The EventField of a field of type M named `name`.
template <class M>
constexpr EventField FieldOf(std::string_view name) {
  EventField field;
  field.name = name;
  if constexpr (IsOptional<M>::value) {
    static_assert(!IsOptional<typename M::value_type>::value,
                  "an event field may not be an optional of an optional");
    field = FieldOf<typename M::value_type>(name);
    field.optional = true;
  } else if constexpr (std::is_same_v<M, bool>) {
    field.type = FieldType::kBool;
  } else if constexpr (std::is_integral_v<M>) {
    field.type = FieldType::kInt;
    // The values that survive static_cast<M> and back, as the event field takes them.
    if constexpr (sizeof(M) >= sizeof(int64_t)) {
      field.min = std::numeric_limits<int64_t>::min();
      field.max = std::numeric_limits<int64_t>::max();
    } else {
      field.min = std::numeric_limits<M>::min();
      field.max = std::numeric_limits<M>::max();
    }
  } else if constexpr (std::is_floating_point_v<M>) {
    field.type = FieldType::kDouble;
  } else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view>) {
    field.type = FieldType::kString;
  } else if constexpr (reflect::Described<M>) {
    static_assert(reflect::FieldCount<M>() <= EventLayout::kMaxFields,
                  "at most 64 fields per event struct");
    field.type = FieldType::kObject;
    field.object = &EventLayoutTables<M>::layout;
  } else if constexpr (requires(M m) { m.push_back(std::declval<typename M::value_type>()); }) {
    field.type = FieldType::kArray;
    field.item = &EventItemTable<typename M::value_type>::field;
  } else {
    static_assert(sizeof(M) == 0,
                  "event fields must be bool, numbers, std::string, "
                  "std::string_view, std::optional, std::vector or described "
                  "structs");
  }
  return field;
}

template <reflect::Described T>
void EventFromFields(std::span<const FieldValue> fields, T* event);

// Sets *out from a value decoded with FieldOf<M>'s field.
template <class M>
void ReadField(const FieldValue& value, M* out) {
  if constexpr (IsOptional<M>::value) {
    if (!value.present) {
      out->reset();
      return;
    }
    if (!out->has_value()) out->emplace();
    ReadField(value, &**out);
  } else if constexpr (std::is_same_v<M, bool>) {
    *out = value.boolean;
  } else if constexpr (std::is_integral_v<M>) {
    *out = static_cast<M>(value.integer);
  } else if constexpr (std::is_floating_point_v<M>) {
    *out = static_cast<M>(value.number);
  } else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view>) {
    *out = value.string;
  } else if constexpr (reflect::Described<M>) {
    EventFromFields(value.children, out);
  } else {
    out->clear();
    for (const FieldValue& item : value.children) ReadField(item, &out->emplace_back());
  }
}

// Sets every described field of *event from `fields`, decoded with EventLayoutOf<T>().
template <reflect::Described T>
void EventFromFields(std::span<const FieldValue> fields, T* event) {
  reflect::ForEachFieldIndexed<T>([&](auto index, const auto& f) {
    ReadField(fields[index], &(event->*f.member));
    return true;
  });
}

}  // namespace statefold::native
