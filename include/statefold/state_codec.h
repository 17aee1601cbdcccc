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
// StateWriter and StateReader are the primitives that language bindings and native resolvers
// use to write and read these payloads.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "statefold/status.h"

namespace statefold {

constexpr uint8_t kStateFormatVersion = 1;

class StateWriter {
 public:
  explicit StateWriter(std::string* out) : out_(out) {}

  void WriteBool(bool value) { out_->push_back(value ? 1 : 0); }
  void WriteVarint(uint64_t value) {
    char buffer[10];
    int n = 0;
    while (value >= 0x80) {
      buffer[n++] = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    buffer[n++] = static_cast<char>(value);
    out_->append(buffer, n);
  }
  void WriteInt(int64_t value) {
    WriteVarint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void WriteFloat(double value) {
    char buffer[8];
    std::memcpy(buffer, &value, 8);  // statefold targets little-endian machines
    out_->append(buffer, 8);
  }
  void WriteString(std::string_view value) {
    WriteVarint(value.size());
    out_->append(value);
  }

 private:
  std::string* out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : data_(in) {}

  bool ReadBool(bool* value) {
    if (pos_ >= data_.size() || static_cast<uint8_t>(data_[pos_]) > 1) return false;
    *value = data_[pos_++] == 1;
    return true;
  }
  bool ReadVarint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && pos_ < data_.size(); shift += 7) {
      uint64_t byte = static_cast<uint8_t>(data_[pos_++]);
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }
  bool ReadInt(int64_t* value) {
    uint64_t raw;
    if (!ReadVarint(&raw)) return false;
    *value = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
    return true;
  }
  bool ReadFloat(double* value) {
    if (data_.size() - pos_ < 8) return false;
    std::memcpy(value, data_.data() + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool ReadString(std::string_view* value) {
    uint64_t size;
    if (!ReadVarint(&size) || size > data_.size() - pos_) return false;
    *value = data_.substr(pos_, size);
    pos_ += size;
    return true;
  }
  // A count of items that each take at least one byte: rejects counts that cannot fit.
  bool ReadCount(uint64_t* count) { return ReadVarint(count) && *count <= data_.size() - pos_; }

  bool AtEnd() const { return pos_ == data_.size(); }
  size_t position() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Writes the header of a stored state value.
inline void WriteStateHeader(uint32_t schema_version, std::string* out) {
  out->push_back(static_cast<char>(kStateFormatVersion));
  StateWriter(out).WriteVarint(schema_version);
}

// Splits a stored state value into its schema version and payload.
Status ParseStateHeader(std::string_view stored, uint32_t* schema_version,
                        std::string_view* payload);

}  // namespace statefold
