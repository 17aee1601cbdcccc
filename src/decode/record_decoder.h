// RecordDecoder: one JSON Lines record -> key, value and timestamp, with a precise reason
// when the bytes are not a valid record. The record format is
//   {"key": "u1" | 42 | null, "value": {...} | "payload", "timestamp": "ISO-8601" | epoch_ms}
// where key and timestamp are optional. One decoder is reused for every record: its parser
// buffers are allocated once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decode/json_shape.h"
#include "statefold/source.h"
#include "statefold/status.h"

namespace statefold {

struct DecodedRecord {
  bool has_key = false;
  std::string_view key;    // valid until the next Decode call
  std::string_view value;  // JSON text of the value object, or the string payload
  bool value_is_object = false;
  bool has_timestamp = false;
  int64_t timestamp_ms = 0;
  std::string_view headers;  // native records only (see Message::headers)
  // When a learned shape decoded the record and its value is an object: the shape, the
  // value member and the values of all its slots (see ValueSlots), valid until the next
  // Decode call; otherwise nullptr.
  const small_json::JsonShape* shape = nullptr;
  const small_json::JsonShape::Member* value_member = nullptr;
  const std::string_view* slot_values = nullptr;
};

class RecordDecoder {
 public:
  explicit RecordDecoder(size_t max_message_bytes);
  ~RecordDecoder();

  // REQUIRES: at least 64 readable bytes follow `bytes` (simdjson padding).
  // Returns Corruption with the reason (bad JSON, wrong field type, oversized) on failure.
  // Tries, in turn, the shapes of earlier records (small_json::JsonShape), DecodeSimple, and
  // DecodeWithSimdjson for the records neither handles; all three agree where they accept.
  Status Decode(std::string_view bytes, DecodedRecord* record);

  // The fast path of Decode: decodes a record of strict JSON whose strings need no
  // unescaping (views into `bytes`) and returns true, or returns false ("not handled") for
  // anything else, valid or not. Where it returns true, DecodeWithSimdjson gives the same
  // record. Does not check the size and needs no padding.
  static bool DecodeSimple(std::string_view bytes, DecodedRecord* record);

  // Decode without the fast path: the authority for every record, bad ones included.
  // REQUIRES: as Decode.
  Status DecodeWithSimdjson(std::string_view bytes, DecodedRecord* record);

  // Takes a native record's key, value and timestamp (see RawRecord), checking its size.
  Status DecodeNative(const RawRecord& raw, DecodedRecord* record) const;

  // Decodes a batch one record at a time, as Decode and DecodeNative would: after
  // StartBatch(records), each Next sets the next record's index, fields and outcome (views
  // valid until the following call; a record with a RawRecord::error fails with it) and
  // returns false after the last. REQUIRES: the
  // records outlive the batch, with SIMDJSON_PADDING readable bytes after each enveloped one.
  void StartBatch(std::span<const RawRecord> records);
  bool Next(size_t* index, DecodedRecord* record, Status* status);

  // Reads the field at `path` (e.g. {"user", "id"}) of a JSON object value and writes its
  // text (strings unescaped, integers in decimal) to `*key`. Fails with a reason naming the
  // path when the field is missing or not a string or integer.
  Status ExtractKey(std::string_view value_json, const std::vector<std::string>& path,
                    std::string* key);

 private:
  struct Impl;
  template <class Document>
  static Status DecodeObject(Document& doc, DecodedRecord* record, std::string* key_text,
                             std::string* value_text);
  Status CheckSize(size_t size) const {  // inline: once per record
    return size <= max_message_bytes_ ? Status::Ok() : Oversized(size);
  }
  Status Oversized(size_t size) const;

  std::unique_ptr<Impl> impl_;
  size_t max_message_bytes_;
};

// Parses an ISO-8601 date-time ("2026-01-01T00:00:00Z", fractional seconds and ±HH:MM
// offsets allowed; no offset means UTC) into milliseconds since the epoch. Returns nullptr,
// or (leaving *millis alone) why the text is not a valid date-time: a syntax error, a date
// that does not exist (2026-02-30), a time or UTC offset out of range (24:00, +99:99, :60).
const char* Iso8601Error(std::string_view text, int64_t* millis);
inline bool ParseIso8601Millis(std::string_view text, int64_t* millis) {
  return Iso8601Error(text, millis) == nullptr;
}

}  // namespace statefold
