// The state codec for native C++ state types: the same schema JSON and the same bytes as the
// Python SDK's codec (statefold/state_codec.h), derived at compile time from the type.
//
//   C++ type                                         schema kind
//   bool                                             bool
//   integers (up to 64 bits)                         int
//   float, double                                    float
//   std::string                                      str
//   statefold::Bytes                                 bytes
//   std::chrono::sys_time<Duration>                  datetime (aware, UTC)
//   std::optional<T>                                 optional
//   std::vector, std::deque, std::list               list
//   std::set, std::unordered_set (and multi-)        set
//   std::map, std::unordered_map                     dict
//   std::pair, std::tuple                            tuple
//   structs declared with STATEFOLD_STRUCT           record
//
// So a state written by one build is read by the next as long as the schema is unchanged,
// and `statefold state get` prints it as JSON like a Python state.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "statefold/flat_set.h"
#include "statefold/json_text.h"
#include "statefold/reflect.h"
#include "statefold/state_codec.h"

namespace statefold {

// A byte string (schema kind "bytes"), distinct from std::string (kind "str", UTF-8).
struct Bytes : std::string {
  using std::string::string;
  Bytes(std::string s) : std::string(std::move(s)) {}
};

namespace codec {

template <class T>
struct Traits;  // specialized per kind below; an unsupported type fails to compile here

// The schema JSON of T, as the Python SDK writes it (src/state/state_schema.h).
template <class T>
void AppendSchema(std::string* out) {
  Traits<T>::AppendSchema(out);
}
template <class T>
void Encode(const T& value, ByteWriter* out) {
  Traits<T>::Encode(value, out);
}
template <class T>
bool Decode(ByteReader* in, T* value) {
  return Traits<T>::Decode(in, value);
}

template <class T>
struct Traits<std::optional<T>> {
  static void AppendSchema(std::string* out) {
    out->append(R"({"kind":"optional","type":)");
    codec::AppendSchema<T>(out);
    out->push_back('}');
  }
  static void Encode(const std::optional<T>& v, ByteWriter* out) {
    out->WriteBool(v.has_value());
    if (v) codec::Encode(*v, out);
  }
  static bool Decode(ByteReader* in, std::optional<T>* v) {
    bool present;
    if (!in->ReadBool(&present)) return false;
    if (!present) {
      v->reset();
      return true;
    }
    if (!v->has_value()) v->emplace();
    return codec::Decode(in, &**v);
  }
};

template <>
struct Traits<bool> {
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"bool"})"); }
  static void Encode(bool v, ByteWriter* out) { out->WriteBool(v); }
  static bool Decode(ByteReader* in, bool* v) { return in->ReadBool(v); }
};

template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) struct Traits<T> {
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"int"})"); }
  static void Encode(T v, ByteWriter* out) { out->WriteInt(static_cast<int64_t>(v)); }
  static bool Decode(ByteReader* in, T* v) {
    int64_t raw;
    if (!in->ReadInt(&raw)) return false;
    *v = static_cast<T>(raw);
    return static_cast<int64_t>(*v) == raw;  // a value the type cannot hold is corruption
  }
};

template <class T>
requires std::is_floating_point_v<T>
struct Traits<T> {
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"float"})"); }
  static void Encode(T v, ByteWriter* out) { out->WriteFloat(static_cast<double>(v)); }
  static bool Decode(ByteReader* in, T* v) {
    double raw;
    if (!in->ReadFloat(&raw)) return false;
    *v = static_cast<T>(raw);
    return true;
  }
};

template <>
struct Traits<std::string> {
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"str"})"); }
  static void Encode(const std::string& v, ByteWriter* out) { out->WriteString(v); }
  static bool Decode(ByteReader* in, std::string* v) {
    std::string_view view;
    if (!in->ReadString(&view)) return false;
    v->assign(view);
    return true;
  }
};

template <>
struct Traits<Bytes> {
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"bytes"})"); }
  static void Encode(const Bytes& v, ByteWriter* out) { out->WriteString(v); }
  static bool Decode(ByteReader* in, Bytes* v) {
    std::string_view view;
    if (!in->ReadString(&view)) return false;
    v->assign(view);
    return true;
  }
};

// Aware datetimes in UTC: offset 0, microseconds since the epoch.
template <class Duration>
struct Traits<std::chrono::sys_time<Duration>> {
  using TimePoint = std::chrono::sys_time<Duration>;
  static void AppendSchema(std::string* out) { out->append(R"({"kind":"datetime"})"); }
  static void Encode(const TimePoint& v, ByteWriter* out) {
    out->WriteBool(true);
    out->WriteInt(0);
    out->WriteInt(
        std::chrono::duration_cast<std::chrono::microseconds>(v.time_since_epoch()).count());
  }
  static bool Decode(ByteReader* in, TimePoint* v) {
    bool aware;
    int64_t offset_seconds = 0, micros;
    if (!in->ReadBool(&aware) || (aware && !in->ReadInt(&offset_seconds)) ||
        !in->ReadInt(&micros)) {
      return false;
    }
    // The stored value is the wall-clock time at `offset_seconds` east of UTC; one that
    // does not fit in 64-bit microseconds is corruption, not an overflow.
    int64_t offset_micros, utc_micros;
    if (__builtin_mul_overflow(offset_seconds, int64_t{1000000}, &offset_micros) ||
        __builtin_sub_overflow(micros, offset_micros, &utc_micros)) {
      return false;
    }
    std::chrono::microseconds utc(utc_micros);
    *v = TimePoint(std::chrono::duration_cast<Duration>(utc));
    return true;
  }
};

// Sequences and sets: a count, then the items.
template <class C, const char* kKind>
struct SequenceTraits {
  using Item = typename C::value_type;
  static void AppendSchema(std::string* out) {
    out->append(R"({"kind":")").append(kKind).append(R"(","items":)");
    codec::AppendSchema<Item>(out);
    out->push_back('}');
  }
  static void Encode(const C& v, ByteWriter* out) {
    out->WriteVarint(v.size());
    for (const Item& item : v) codec::Encode(item, out);
  }
  static bool Decode(ByteReader* in, C* v) {
    uint64_t count;
    if (!in->ReadCount(&count)) return false;
    v->clear();
    for (uint64_t i = 0; i < count; ++i) {
      Item item{};
      if (!codec::Decode(in, &item)) return false;
      if constexpr (requires { v->push_back(std::move(item)); }) {
        v->push_back(std::move(item));
      } else {
        v->insert(std::move(item));
      }
    }
    return true;
  }
};

inline constexpr char kListKind[] = "list";
inline constexpr char kSetKind[] = "set";

template <class T, class A>
struct Traits<std::vector<T, A>> : SequenceTraits<std::vector<T, A>, kListKind> {};
template <class T, class A>
struct Traits<std::deque<T, A>> : SequenceTraits<std::deque<T, A>, kListKind> {};
template <class T, class A>
struct Traits<std::list<T, A>> : SequenceTraits<std::list<T, A>, kListKind> {};
template <class T, class C, class A>
struct Traits<std::set<T, C, A>> : SequenceTraits<std::set<T, C, A>, kSetKind> {};
template <class T, class C, class A>
struct Traits<std::multiset<T, C, A>> : SequenceTraits<std::multiset<T, C, A>, kSetKind> {};
template <class T, class C>
struct Traits<FlatSet<T, C>> : SequenceTraits<FlatSet<T, C>, kSetKind> {};
template <class T, class H, class E, class A>
struct Traits<std::unordered_set<T, H, E, A>>
    : SequenceTraits<std::unordered_set<T, H, E, A>, kSetKind> {};

template <class M>
struct DictTraits {
  using Key = typename M::key_type;
  using Value = typename M::mapped_type;
  static void AppendSchema(std::string* out) {
    out->append(R"({"kind":"dict","keys":)");
    codec::AppendSchema<Key>(out);
    out->append(R"(,"values":)");
    codec::AppendSchema<Value>(out);
    out->push_back('}');
  }
  static void Encode(const M& v, ByteWriter* out) {
    out->WriteVarint(v.size());
    for (const auto& [key, value] : v) {
      codec::Encode(key, out);
      codec::Encode(value, out);
    }
  }
  static bool Decode(ByteReader* in, M* v) {
    uint64_t count;
    if (!in->ReadCount(&count)) return false;
    v->clear();
    for (uint64_t i = 0; i < count; ++i) {
      Key key{};
      Value value{};
      if (!codec::Decode(in, &key) || !codec::Decode(in, &value)) return false;
      v->insert_or_assign(std::move(key), std::move(value));
    }
    return true;
  }
};

template <class K, class V, class C, class A>
struct Traits<std::map<K, V, C, A>> : DictTraits<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct Traits<std::unordered_map<K, V, H, E, A>> : DictTraits<std::unordered_map<K, V, H, E, A>> {};

// Fixed tuples: the items in order, no count.
template <class... T>
struct Traits<std::tuple<T...>> {
  static void AppendSchema(std::string* out) {
    out->append(R"({"kind":"tuple","items":[)");
    bool first = true;
    ((out->append(first ? "" : ","), first = false, codec::AppendSchema<T>(out)), ...);
    out->append("]}");
  }
  static void Encode(const std::tuple<T...>& v, ByteWriter* out) {
    std::apply([&](const auto&... item) { (codec::Encode(item, out), ...); }, v);
  }
  static bool Decode(ByteReader* in, std::tuple<T...>* v) {
    return std::apply([&](auto&... item) { return (codec::Decode(in, &item) && ...); }, *v);
  }
};
template <class A, class B>
struct Traits<std::pair<A, B>> {
  static void AppendSchema(std::string* out) { Traits<std::tuple<A, B>>::AppendSchema(out); }
  static void Encode(const std::pair<A, B>& v, ByteWriter* out) {
    codec::Encode(v.first, out);
    codec::Encode(v.second, out);
  }
  static bool Decode(ByteReader* in, std::pair<A, B>* v) {
    return codec::Decode(in, &v->first) && codec::Decode(in, &v->second);
  }
};

// Records: a field count, then the fields in declaration order.
template <reflect::Described T>
struct Traits<T> {
  static void AppendSchema(std::string* out) {
    out->append(R"({"kind":"record","name":)");
    AppendJsonString(reflect::DescriptionOf<T>().name, out);
    out->append(R"(,"fields":[)");
    bool first = true;
    reflect::ForEachField<T>([&](const auto& field) {
      if (!first) out->push_back(',');
      first = false;
      out->append(R"({"name":)");
      AppendJsonString(field.name, out);
      out->append(R"(,"type":)");
      codec::AppendSchema<typename std::remove_cvref_t<decltype(field)>::Type>(out);
      out->push_back('}');
    });
    out->append("]}");
  }
  static void Encode(const T& v, ByteWriter* out) {
    out->WriteVarint(reflect::FieldCount<T>());
    reflect::ForEachField<T>([&](const auto& field) { codec::Encode(v.*field.member, out); });
  }
  static bool Decode(ByteReader* in, T* v) {
    uint64_t count;
    if (!in->ReadVarint(&count) || count != reflect::FieldCount<T>()) return false;
    return reflect::ForEachFieldIndexed<T>(
        [&](auto, const auto& field) { return codec::Decode(in, &(v->*field.member)); });
  }
};

}  // namespace codec
}  // namespace statefold
