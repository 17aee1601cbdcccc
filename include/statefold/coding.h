// ByteWriter and ByteReader: the byte primitives of statefold's stored formats (as LevelDB's
// util/coding.h): booleans, varints, zigzag varints, little-endian doubles and
// length-prefixed strings. The state codec (state_codec.h) is built on them, and so are the
// encoded Kafka headers of a message (Message::headers) and the embedded online store's values.
//
// A ByteWriter appends to a string it does not own. A ByteReader reads a view it does not
// own; every Read returns false (and leaves the value unspecified) when the bytes left are
// not a well-formed value of that kind.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace statefold {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

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

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : data_(in) {}

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

}  // namespace statefold
