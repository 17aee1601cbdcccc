// ValueSlots: what the record decoder already read of a message's value object, handed to the
// event decoder so that it takes the event's fields from there instead of scanning the value
// again.
#pragma once

#include <cstdint>
#include <string_view>

#include "decode/json_shape.h"

namespace statefold {

// The scalar values of a message's value object as the record decoder found them with a
// learned record shape (small_json::JsonShape). The shape may be replaced while the batch
// runs: it is the one the values belong to only while shape->id() == shape_id.
struct ValueSlots {
  uint64_t shape_id;
  const small_json::JsonShape* shape;
  const small_json::JsonShape::Member* value;  // the record's "value" member, an object
  const std::string_view* values;              // of every slot of the shape
};

}  // namespace statefold
