// JsonShape: the layout of a small JSON text, learned from one example, so that texts laid
// out the same way are read without tokenizing. A shape is the example's bytes with its
// scalar values cut out ("slots": strings without escapes, numbers, literals); the records
// of one producer usually differ in nothing else. Match compares the literal bytes and
// scans each slot's value, so a text that matches is strict JSON with the example's
// structure, member names and whitespace, and a value of the slot's kind in every slot.
// ShapeCache keeps a few shapes, each with what its consumer reads where (a "plan").
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "decode/small_json.h"

namespace statefold::small_json {

class JsonShape {
 public:
  static constexpr size_t kMaxSlots = 32;
  enum class Kind : uint8_t { kString, kNumber, kLiteral };

  // A position in a matched text: `delta` bytes after the end of slot `after`'s value (of
  // the text's start when after < 0). The literal bytes between two slots never change.
  struct Position {
    int32_t after = -1;
    uint32_t delta = 0;
  };

  // A member of the top-level object: its value is slot `slot`, or (slot < 0) an object or
  // array over [begin, end), where `end` includes the whitespace after it (as simdjson's
  // raw_json does: the text runs up to the next token). An object value's own members are
  // in `members` (their begin and end unset), unless it repeats a name.
  struct Member {
    std::string name;
    int32_t slot = -1;
    Position begin, end;
    bool is_object = false;
    bool repeats_names = false;
    std::vector<Member> members;
  };

  // Learns the layout of `text`. False (and the shape is unusable) unless `text` is strict
  // JSON (RFC 8259, nesting at most Scanner::kMaxDepth) with at most kMaxSlots scalar
  // values, strings of printable ASCII without escapes, and no repeated member name in a
  // top-level object.
  bool Learn(std::string_view text);

  // Whether `text` has this shape; then values[i] views the value of slot i: a string's
  // content (without quotes), a number's or literal's text. REQUIRES: Learn succeeded;
  // `values` has slot_count() entries; with kPadded, 16 readable bytes follow `text`.
  template <bool kPadded = false>
  bool Match(std::string_view text, std::string_view* values) const {
    const char* p = text.data();
    const char* const end = p + text.size();
    const char* literal = literal_.data();
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& slot = slots_[i];
      if (static_cast<size_t>(end - p) < slot.literal_size ||
          !Equal<kPadded>(p, literal + slot.literal_begin, slot.literal_size)) {
        return false;
      }
      p += slot.literal_size;
      const char* value_end;
      switch (slot.kind) {
        case Kind::kString:  // the next literal run starts with its closing quote
#if defined(__SSE2__)
          if constexpr (kPadded) {
            value_end = FindSpecialPadded(p, end);
            break;
          }
#endif
          value_end = FindSpecial(p, end);
          break;
        case Kind::kNumber:
          value_end = ScanNumber(p, end);
          if (value_end == nullptr) return false;
          break;
        default:
          value_end = ScanLiteral(p, end);
          if (value_end == nullptr) return false;
      }
      values[i] = std::string_view(p, static_cast<size_t>(value_end - p));
      p = value_end;
    }
    return static_cast<size_t>(end - p) == tail_size_ &&
           Equal<kPadded>(p, literal + tail_begin_, tail_size_);
  }

  // Unique to each learned shape (process-wide): a plan made for one shape is found by it.
  uint64_t id() const { return id_; }
  size_t slot_count() const { return slots_.size(); }
  Kind kind(size_t slot) const { return slots_[slot].kind; }
  // Whether the text is an object (then members() are its members).
  bool is_object() const { return is_object_; }
  const std::vector<Member>& members() const { return members_; }
  // The top-level member named `name`, or nullptr.
  const Member* FindMember(std::string_view name) const { return Find(members_, name); }
  // The member of `members` named `name`, or nullptr.
  static const Member* Find(const std::vector<Member>& members, std::string_view name);

  // The address of `position` in a text matched with `values`.
  static const char* Resolve(std::string_view text, const std::string_view* values,
                             Position position) {
    const char* base = position.after < 0
                           ? text.data()
                           : values[position.after].data() + values[position.after].size();
    return base + position.delta;
  }

 private:
  struct Slot {
    Kind kind;
    uint32_t literal_begin;  // the literal bytes before the slot, in literal_
    uint32_t literal_size;
  };

  // Byte equality of short runs without a call: sixteen bytes at a time where 16 bytes
  // after both runs are readable (kPadded; literal_ is padded), else SameBytes.
  template <bool kPadded>
  static bool Equal(const char* a, const char* b, size_t n) {
#if defined(__SSE2__)
    if constexpr (kPadded) {
      for (;; a += 16, b += 16, n -= 16) {
        const int same =
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)),
                                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(b))));
        if (n <= 16) {
          const int wanted = static_cast<int>((1u << n) - 1);
          return (same & wanted) == wanted;
        }
        if (same != 0xFFFF) return false;
      }
    }
#endif
    return SameBytes(a, b, n);
  }

  static const char* ScanLiteral(const char* p, const char* end) {
    const size_t left = static_cast<size_t>(end - p);
    if (left >= 4 && (std::memcmp(p, "true", 4) == 0 || std::memcmp(p, "null", 4) == 0)) {
      return p + 4;
    }
    if (left >= 5 && std::memcmp(p, "false", 5) == 0) return p + 5;
    return nullptr;
  }

  std::string literal_;  // the literal runs, back to back, and 16 bytes of padding
  std::vector<Slot> slots_;
  uint32_t tail_begin_ = 0;  // the literal bytes after the last slot
  uint32_t tail_size_ = 0;
  bool is_object_ = false;
  std::vector<Member> members_;
  uint64_t id_ = 0;
};

// Up to kEntries shapes with their plans, the most recently matched tried first. Learning
// costs about two full parses, so after misses it backs off (learning from every second,
// fourth, ... up to every 64th miss) while the shapes it learns are not reused.
template <class Plan>
class ShapeCache {
 public:
  static constexpr size_t kEntries = 4;
  struct Entry {
    JsonShape shape;
    Plan plan;
  };

  // The entry whose shape `text` matches, or nullptr; values() are then its slots' values
  // (as JsonShape::Match sets them), until the next call.
  template <bool kPadded = false>
  const Entry* Match(std::string_view text) {
    for (size_t k = 0; k < size_; ++k) {
      size_t i = last_ + k < size_ ? last_ + k : last_ + k - size_;
      if (entries_[i].shape.template Match<kPadded>(text, values_)) {
        last_ = i;
        ++hits_since_learn_;
        return &entries_[i];
      }
    }
    return nullptr;
  }

  const std::string_view* values() const { return values_; }

  // After a miss: whether to learn the text (which the full path handled) now.
  bool ShouldLearn() {
    if (++misses_ < learn_every_) return false;
    misses_ = 0;
    const bool reused = hits_since_learn_ >= 16 || size_ < kEntries;
    learn_every_ = reused ? 1 : std::min(learn_every_ * 2, 64u);
    hits_since_learn_ = 0;
    return true;
  }

  // Learns the shape of `text`, keeping it when `plan_for(shape, &plan)` makes its plan
  // (returns true). Fills the entries, then replaces them in turn.
  template <class PlanFor>
  void Learn(std::string_view text, PlanFor&& plan_for) {
    Entry candidate;
    if (!candidate.shape.Learn(text) || !plan_for(candidate.shape, &candidate.plan)) return;
    size_t i = size_ < kEntries ? size_++ : next_replaced_++ % kEntries;
    entries_[i] = std::move(candidate);
    last_ = i;
  }

 private:
  Entry entries_[kEntries];
  std::string_view values_[JsonShape::kMaxSlots];
  size_t size_ = 0;
  size_t last_ = 0;
  size_t next_replaced_ = 0;
  uint32_t misses_ = 0;
  uint32_t learn_every_ = 1;
  uint32_t hits_since_learn_ = 0;
};

}  // namespace statefold::small_json
