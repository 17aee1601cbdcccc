// The dead-letter record: how a DeadLetter is stored in the state directory's `dead_letters`
// column family (keyed by sequence, state/state_layout.h) and listed by `statefold
// dead-letters`. One JSON object per letter, with the same members whatever the letter:
//
//   {"source", "partition", "offset",
//    "resolver": the resolver that could not take the message, or null for a record that did
//                not decode (then no resolver saw it),
//    "key": the resolver's key, else the record's, else null,
//    "timestamp": the event time in ms, or null when the record did not decode to one,
//    "error",
//    "payload": the message (the value a resolver got, or, for a record that did not decode,
//               the record as read, its first 4 KiB) as a string, or null when its bytes
//               are not UTF-8; then
//    "payload_base64": those bytes in base64 (null when "payload" holds them)}
#pragma once

#include <cstddef>
#include <string>

#include "statefold/source.h"

namespace statefold {

// How much of an undecodable record a stored dead letter keeps.
inline constexpr size_t kDeadLetterMessageBytes = 4096;

// Appends the record of `letter` to `*json`.
void AppendDeadLetterRecord(const DeadLetter& letter, std::string* json);

}  // namespace statefold
