// Native C++ stream resolvers: the C++ side of Chalk's `@stream` with `State[...]`.
//
//   #include "statefold/flat_set.h"
//   #include "statefold/native.h"
//
//   struct LoginEvent { std::string_view user_id; std::string_view ip_address; };
//   STATEFOLD_STRUCT(LoginEvent, user_id, ip_address)
//
//   struct User {
//     statefold::Feature<std::string> id;
//     statefold::Feature<int64_t> unique_ip_count;
//   };
//   STATEFOLD_STRUCT(User, id, unique_ip_count)
//
//   // A sorted-vector set (statefold/flat_set.h), stored as Python's set[str] is.
//   struct LoginState { statefold::FlatSet<std::string> unique_ips; };
//   STATEFOLD_STRUCT(LoginState, unique_ips)
//
//   User track_unique_ips(const LoginEvent& event, statefold::State<LoginState>& state) {
//     state->unique_ips.insert(event.ip_address);
//     return {.id = event.user_id, .unique_ip_count = state->unique_ips.size()};
//   }
//
//   STATEFOLD_NATIVE_MODULE(registry) {
//     registry.AddStream("track_unique_ips", "logins", track_unique_ips);
//   }
//
// Semantics are those of Python resolvers (docs/semantics.md), on the same engine:
// - The event type is a STATEFOLD_STRUCT whose fields are bool, integers (range-checked),
//   floating point, std::string, std::string_view (a view valid for the call),
//   std::optional, std::vector (or another container with push_back) and STATEFOLD_STRUCTs
//   of these. The engine decodes each message's JSON value into it once, in its decode step,
//   with the layout the type describes (statefold/event_layout.h: unknown members ignored,
//   optional fields may be absent or null, a member given twice counts as the last one).
//   Or the event is std::string_view, the raw value; .Parse(fn) installs an own parser. A
//   message that does not decode is a dead letter, and the function never sees it.
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

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "statefold/native/resolver_adapter.h"
#include "statefold/resolver.h"

// Bumped whenever the layout of anything a module shares with the host changes.
#define STATEFOLD_NATIVE_API_VERSION 4  // 4: Message::fields, ResolverSpec::event_layout

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
// `statefold run libfeatures.so` (docs/operations.md, "Native modules"), which checks that it
// was built for this STATEFOLD_NATIVE_API_VERSION.
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
