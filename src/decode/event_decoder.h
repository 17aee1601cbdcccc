// EventDecoder: a message's JSON value -> the FieldValues of an EventLayout (see
// statefold/event_layout.h for the mapping), or the reason why the value does not fit. The
// engine keeps one per resolver that has a layout and decodes each message once, before its
// state lookup.
//
// Four decoders that agree wherever they accept, tried in turn. For simple layouts (bool,
// integer and string fields, optional or not):
//   1. the record's value slots, when the record decoder read the record with a learned
//      shape (ValueSlots; the field-to-slot plan is made once per shape);
//   2. learned shapes of earlier values (small_json::ShapeCache, a plan per shape);
//   3. the strict scalar scan (small_json::Scanner) for values whose strings need no
//      unescaping;
// and for every layout, and every value these decline:
//   4. simdjson On-Demand, the authority (doubles, nested objects, arrays, escapes, errors).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "decode/value_slots.h"
#include "statefold/event_layout.h"
#include "statefold/status.h"

namespace statefold {

class EventDecoder {
 public:
  // REQUIRES: `layout` and the tables it points to outlive the decoder; at most
  // EventLayout::kMaxFields fields per object, with distinct names.
  explicit EventDecoder(const EventLayout& layout);
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Starts a batch: the values decoded since the previous StartBatch are released.
  void StartBatch();

  // Decodes `value` into *fields, the top-level fields in layout order. Their views point
  // into `value`, into the slots' values or into the decoder: they stay valid until the next
  // StartBatch as long as those do. `slots` (may be nullptr) are the value's slots as the
  // record decoder read them. Returns Corruption with the dead-letter reason,
  // "message does not decode into <type_name>: <what is wrong>", when the value does not fit.
  Status Decode(std::string_view value, const ValueSlots* slots,
                std::span<const FieldValue>* fields);

  // Decode with simdjson alone: the authority for every value, bad ones included.
  Status DecodeWithSimdjson(std::string_view value, std::span<const FieldValue>* fields);

  // The strict scalar scan alone (decoder 3): decodes a value of strict JSON whose strings
  // need no unescaping and returns true, or returns false ("not handled", valid or not).
  // Where it returns true, DecodeWithSimdjson gives the same fields. Always false for a
  // layout that is not simple.
  bool DecodeSimple(std::string_view value, std::span<const FieldValue>* fields);

  // Whether the layout is simple (only bool, integer and string fields), so that decoders
  // 1-3 apply.
  bool simple() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace statefold
