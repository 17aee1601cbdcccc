// NativeResolver<Fn>: the engine's Resolver interface over a C++ function
// `Result fn(const Event&, State<S>&)` or `Result fn(const Event&)`, and the traits that read
// its signature. Part of statefold/native.h (which documents the semantics): include that
// instead.
//
// The event is built from the fields the engine decoded with the event type's layout
// (EventLayoutOf, Message::fields), or from the raw value for std::string_view events and an
// own parser (.Parse). The function runs with the key's state; exceptions become failures of
// the message; the set features of the result become outputs (their JSON: feature_json.h).
#pragma once

#include <cxxabi.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdlib>
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

#include "statefold/coding.h"
#include "statefold/internal/prefetch.h"
#include "statefold/native/event_layout_of.h"
#include "statefold/native/feature_json.h"
#include "statefold/native/type_traits.h"
#include "statefold/native_codec.h"
#include "statefold/reflect.h"
#include "statefold/resolver.h"
#include "statefold/status.h"

namespace statefold::native {

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
    if constexpr (!kRawEvent) spec_.event_layout = EventLayoutOf<Event>();
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
  // Parses message values with `parse` instead of the event type's JSON mapping (the engine
  // then hands over the values undecoded).
  NativeResolver& Parse(ParseFn parse) {
    parse_ = std::move(parse);
    if constexpr (!kRawEvent) spec_.event_layout = parse_ ? nullptr : EventLayoutOf<Event>();
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
      // The engine decoded each message with the event layout (spec().event_layout).
      for (size_t i = 0; i < messages.size(); ++i) {
        ahead(i);
        if (messages[i].fields.size() != reflect::FieldCount<Event>()) {  // REQUIRES, checked
          output->Reject(static_cast<uint32_t>(i),
                         "message was not decoded with the event layout of " +
                             std::string(reflect::DescriptionOf<Event>().name));
          continue;
        }
        EventFromFields(messages[i].fields, &event_);
        if (!Run(static_cast<uint32_t>(i), event_, states[i], output)) return i + 1;
      }
      return messages.size();
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
    // Every value is checked before any is added: a refused one fails the whole call, as in
    // a Python resolver (NaN and infinities have no JSON form).
    bool refused = false;
    reflect::ForEachField<Features>([&](const auto& f) {
      double non_finite;
      const auto& feature = features.*f.member;
      if (!refused && feature.has_value() && FindNonFinite(*feature, &non_finite)) {
        refused = true;
        output->Fail(index, "resolver " + spec_.name + " returned an invalid value: feature " +
                                namespace_ + "." + std::string(f.name) + ": " +
                                NonFiniteFeatureReason(non_finite));
      }
    });
    if (refused) return false;
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
};

}  // namespace statefold::native
