// The dead-letter record: how a DeadLetter is stored in the state directory's `dead_letters`
// column family (keyed by sequence, state/state_layout.h) and listed by `statefold
// dead-letters`. One JSON object per letter:
//
//   a record that did not decode:
//     {"source", "partition", "offset", "resolver": null, "error",
//      "message": the record's first 4 KiB as a string, or null when they are not UTF-8}
//   a message its resolver could not take:
//     {"source", "partition", "offset", "resolver", "key": the resolver's key, else the
//      record's, else null, "timestamp": event time in ms, "error", "value": the value}
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
