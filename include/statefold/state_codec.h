// The state codec: statefold's own versioned binary format for state objects. Encoding is
// driven by the state's schema (state_schema.h), so the bytes carry no type tags:
//
//   stored value := format_version:u8  schema_version:varint  payload
//   bool := u8 (0|1)          int := zigzag varint (64-bit)     float := f64 little-endian
//   str, bytes := varint length, bytes (str is UTF-8)
//   datetime := u8 (0 naive | 1 aware), [aware: zigzag varint UTC offset in seconds],
//               zigzag varint microseconds since 1970-01-01 of the wall-clock time
//   optional := u8 (0 none | 1 some), [value]
//   list, set, frozenset, tuple[T, ...] := varint count, items
//   tuple[A, B, ...] := items in order          dict := varint count, (key, value) pairs
//   enum := the member's value (str or int)     record := varint field count, fields in order
//
// The primitives are ByteWriter and ByteReader (coding.h); language bindings and native
// resolvers write and read payloads with them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "statefold/coding.h"
#include "statefold/status.h"

namespace statefold {

constexpr uint8_t kStateFormatVersion = 1;

// Writes the header of a stored state value.
inline void WriteStateHeader(uint32_t schema_version, std::string* out) {
  out->push_back(static_cast<char>(kStateFormatVersion));
  ByteWriter(out).WriteVarint(schema_version);
}

// Splits a stored state value into its schema version and payload.
Status ParseStateHeader(std::string_view stored, uint32_t* schema_version,
                        std::string_view* payload);

}  // namespace statefold
