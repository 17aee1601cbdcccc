// EventDecoder: a message's JSON value -> the FieldValues of an EventLayout (see
// statefold/event_layout.h for the mapping), or the reason why the value does not fit. The
// engine keeps one per resolver that has a layout and decodes each batch once, before the
// state lookups.
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
#include <vector>

#include "decode/value_slots.h"
#include "statefold/event_layout.h"
#include "statefold/status.h"

namespace statefold {

// A message value to decode, and its slots as the record decoder read them (or nullptr).
struct EventInput {
  std::string_view value;
  const ValueSlots* slots = nullptr;
};

// A value of a batch that does not fit the layout: its index in the batch, and the
// dead-letter reason, "message does not decode into <type_name>: <what is wrong>".
struct DecodeFailure {
  size_t index;
  Status status;
};

class EventDecoder {
 public:
  // REQUIRES: `layout` and the tables it points to outlive the decoder; at most
  // EventLayout::kMaxFields fields per object, with distinct names.
  explicit EventDecoder(const EventLayout& layout);
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes the values of one batch: (*fields)[i] are inputs[i]'s fields, or (for a value
  // that does not fit, empty) it is listed in *failures, in order. Exactly what Decode gives
  // for each value. First releases the values of the previous batch. The views of the fields
  // point into the inputs' values, into their slots' values or into the decoder: they stay
  // valid until the next DecodeBatch as long as those do. Values of a layout that is not
  // simple are parsed as one simdjson document stream, which spares simdjson its
  // per-document start-up; wherever a document does not line up exactly with one value, that
  // value and the rest are decoded one by one, so a malformed value never affects another.
  void DecodeBatch(std::span<const EventInput> inputs,
                   std::vector<std::span<const FieldValue>>* fields,
                   std::vector<DecodeFailure>* failures);

  // Decodes one value with the four decoders in turn; `slots` may be nullptr. Returns
  // Corruption with the dead-letter reason when the value does not fit. The fields stay valid
  // until the next DecodeBatch (as above).
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
