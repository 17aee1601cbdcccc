// Compile-time tests of the types the native API takes (part of statefold/native.h; include
// that instead).
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "statefold/reflect.h"

namespace statefold {

template <class T>
class Feature;
template <class T>
class Primary;
template <class T>
class State;

namespace native {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
struct IsFeature : std::false_type {};
template <class T>
struct IsFeature<Feature<T>> : std::true_type {};
template <class T>
struct IsFeature<Primary<T>> : std::true_type {};
template <class T>
struct IsPrimary : std::false_type {};
template <class T>
struct IsPrimary<Primary<T>> : std::true_type {};

// A feature struct: described, with only Feature<T> fields.
template <class T>
concept FeatureStruct = reflect::Described<T> &&[]<size_t... I>(std::index_sequence<I...>) {
  return (IsFeature<typename std::tuple_element_t<
              I, decltype(reflect::DescriptionOf<T>().fields)>::Type>::value &&
          ...);
}
(std::make_index_sequence<reflect::FieldCount<T>()>{});

}  // namespace native
}  // namespace statefold
