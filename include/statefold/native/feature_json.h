// Feature values as JSON text, the same text the Python SDK writes for the same values, so
// that native and Python resolvers store byte-identical features. Part of statefold/native.h:
// include that instead.
#pragma once

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "statefold/json_text.h"
#include "statefold/native/type_traits.h"

namespace statefold::native {

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

// Finds a NaN or infinity anywhere in `value` (of a type AppendJson takes): sets *found to
// the first and returns true. Compiles to `return false` for types without floats.
template <class T>
bool FindNonFinite(const T& value, double* found) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isfinite(value)) return false;
    *found = static_cast<double>(value);
    return true;
  } else if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> ||
                       std::is_convertible_v<const T&, std::string_view>) {
    return false;
  } else if constexpr (IsOptional<T>::value) {
    return value && FindNonFinite(*value, found);
  } else if constexpr (requires { value.begin()->second; }) {
    for (const auto& [key, item] : value) {
      if (FindNonFinite(item, found)) return true;
    }
    return false;
  } else if constexpr (requires { value.begin(); }) {
    for (const auto& item : value) {
      if (FindNonFinite(item, found)) return true;
    }
    return false;
  } else {
    return false;  // AppendJson's static_assert reports the type
  }
}

// Appends `value` as JSON: bool, numbers, strings, optionals (null when empty), sequences as
// arrays and string-keyed maps as objects, nested in any way. REQUIRES: no NaN or infinity
// inside (FindNonFinite): JSON has no such number.
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
    // REQUIRES finite (FindNonFinite, which the resolver adapter checks first).
    (void)AppendJsonDouble(static_cast<double>(value), out);
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

}  // namespace statefold::native
