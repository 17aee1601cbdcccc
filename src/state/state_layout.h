// The key layout of a state directory: every key that the engine, the readers and the tools
// use, in one place (the column families are StateStore's). Changing anything here changes
// the on-disk format.
//
//   meta          "schema/<resolver>"          the resolver's state schema JSON
//                 "keys/<resolver>"            how many keys have state (decimal)
//                 "position/<source>/<p>"      "<next offset> <byte position>"
//                 "dead_letters/next"          the next dead letter's sequence (decimal)
//                 "status"                     the run status record (run_status.h)
//                 "instance_id"                the directory's identity (StateStore::InstanceId)
//   state         "<resolver>\0<key>"          state header and payload (state_codec.h)
//   online        "<ns>\0<entity>\0<feature>"  zigzag varint time_ms, varint offset, JSON
//   dead_letters  8-byte big-endian sequence   the dead letter as a JSON object
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "statefold/coding.h"

namespace statefold::state_layout {

// ---- meta ----

inline std::string SchemaKey(std::string_view resolver) {
  return "schema/" + std::string(resolver);
}
inline std::string KeyCountKey(std::string_view resolver) {
  return "keys/" + std::string(resolver);
}
inline std::string PositionPrefix(std::string_view source) {
  return "position/" + std::string(source) + "/";
}
inline std::string PositionKey(std::string_view source, int32_t partition) {
  return PositionPrefix(source) + std::to_string(partition);
}
inline constexpr std::string_view kNextDeadLetterKey = "dead_letters/next";
inline constexpr std::string_view kRunStatusKey = "status";
inline constexpr std::string_view kInstanceIdKey = "instance_id";

// ---- state ----

// Appends the state key of `key` to `*out`. The keys of one resolver share the prefix
// StateKey(resolver, "") and end before `resolver` followed by '\1'.
inline void AppendStateKey(std::string_view resolver, std::string_view key, std::string* out) {
  out->append(resolver).push_back('\0');
  out->append(key);
}

// ---- online ----

// The prefix of every online key of one entity: "<ns>\0<entity>\0". The engine groups
// pending feature values by "<ns>\0<entity>" (this without its last byte), so that sorting
// entities sorts their online keys.
inline void AppendOnlineEntityPrefix(std::string_view ns, std::string_view entity,
                                     std::string* out) {
  out->append(ns).push_back('\0');
  out->append(entity).push_back('\0');
}

// An online value: its feature time, the offset of the message that produced it, the JSON.
inline void AppendOnlineValue(int64_t time_ms, int64_t offset, std::string_view value_json,
                              std::string* out) {
  ByteWriter writer(out);
  writer.WriteInt(time_ms);
  writer.WriteVarint(static_cast<uint64_t>(offset));
  out->append(value_json);
}
// False when `stored` is not an online value.
inline bool ParseOnlineValue(std::string_view stored, int64_t* time_ms, int64_t* offset,
                             std::string_view* value_json) {
  ByteReader reader(stored);
  uint64_t raw_offset;
  if (!reader.ReadInt(time_ms) || !reader.ReadVarint(&raw_offset)) return false;
  *offset = static_cast<int64_t>(raw_offset);
  *value_json = stored.substr(reader.position());
  return true;
}

// ---- dead letters ----

inline std::string DeadLetterKey(uint64_t sequence) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, sequence >>= 8) key[i] = static_cast<char>(sequence & 0xff);
  return key;
}
inline uint64_t DeadLetterSequence(std::string_view key) {
  uint64_t sequence = 0;
  for (char c : key) sequence = (sequence << 8) | static_cast<uint8_t>(c);
  return sequence;
}

}  // namespace statefold::state_layout
