// Compile-time field lists for plain structs, the schema behind native resolvers' events,
// states and feature outputs:
//
//   struct LoginEvent {
//     std::string user_id;
//     std::string ip_address;
//   };
//   STATEFOLD_STRUCT(LoginEvent, user_id, ip_address)
//
// declares, beside the type (found by argument-dependent lookup), a constexpr description:
// the type's name and its fields' names and member pointers, in encoding order. Codecs,
// parsers and schemas walk it at compile time, so it costs nothing per event. Use the macro
// in the namespace of the type, after its definition; list every field that must be stored
// or parsed (at most 32).
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace statefold::reflect {

template <class T, class M>
struct Field {
  using Type = M;
  std::string_view name;
  M T::*member;
};

template <class T, class... Fields>
struct Description {
  std::string_view name;
  std::tuple<Fields...> fields;
};

template <class T, class... Fields>
constexpr Description<T, Fields...> Describe(std::string_view name, Fields... fields) {
  return {name, {fields...}};
}

// True for types declared with STATEFOLD_STRUCT.
template <class T>
concept Described = requires {
  statefold_describe(static_cast<const T*>(nullptr));
};

template <Described T>
constexpr auto DescriptionOf() {
  return statefold_describe(static_cast<const T*>(nullptr));
}

template <Described T>
constexpr size_t FieldCount() {
  return std::tuple_size_v<decltype(DescriptionOf<T>().fields)>;
}

// Calls `visit(field)` for each field of T, in order; field.name and field.member.
template <Described T, class Visit>
constexpr void ForEachField(Visit&& visit) {
  std::apply([&](const auto&... field) { (visit(field), ...); }, DescriptionOf<T>().fields);
}

// Calls `visit(index, field)` for each field; stops early when `visit` returns false.
template <Described T, class Visit>
constexpr bool ForEachFieldIndexed(Visit&& visit) {
  return [&]<size_t... I>(std::index_sequence<I...>) {
    constexpr auto description = DescriptionOf<T>();
    return (visit(std::integral_constant<size_t, I>{}, std::get<I>(description.fields)) && ...);
  }
  (std::make_index_sequence<FieldCount<T>()>{});
}

}  // namespace statefold::reflect

#define STATEFOLD_STRUCT(Type, ...)                                           \
  [[maybe_unused]] inline constexpr auto statefold_describe(const Type*) {    \
    return ::statefold::reflect::Describe<Type>(                              \
        #Type, STATEFOLD_PP_FOR_EACH(STATEFOLD_PP_FIELD, Type, __VA_ARGS__)); \
  }

// Preprocessor plumbing.
#define STATEFOLD_PP_FIELD(Type, name) \
  ::statefold::reflect::Field<Type, decltype(Type::name)> { #name, &Type::name }
#define STATEFOLD_PP_CAT(a, b) STATEFOLD_PP_CAT_(a, b)
#define STATEFOLD_PP_CAT_(a, b) a##b
#define STATEFOLD_PP_COUNT(...)                                                                    \
  STATEFOLD_PP_COUNT_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, \
                      16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define STATEFOLD_PP_COUNT_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                            _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30,  \
                            _31, _32, N, ...)                                                      \
  N
#define STATEFOLD_PP_FOR_EACH(m, t, ...) \
  STATEFOLD_PP_CAT(STATEFOLD_PP_EACH_, STATEFOLD_PP_COUNT(__VA_ARGS__))(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_1(m, t, a) m(t, a)
#define STATEFOLD_PP_EACH_2(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_1(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_3(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_2(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_4(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_3(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_5(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_4(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_6(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_5(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_7(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_6(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_8(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_7(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_9(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_8(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_10(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_9(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_11(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_10(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_12(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_11(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_13(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_12(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_14(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_13(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_15(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_14(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_16(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_15(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_17(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_16(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_18(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_17(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_19(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_18(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_20(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_19(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_21(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_20(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_22(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_21(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_23(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_22(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_24(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_23(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_25(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_24(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_26(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_25(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_27(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_26(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_28(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_27(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_29(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_28(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_30(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_29(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_31(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_30(m, t, __VA_ARGS__)
#define STATEFOLD_PP_EACH_32(m, t, a, ...) m(t, a), STATEFOLD_PP_EACH_31(m, t, __VA_ARGS__)
