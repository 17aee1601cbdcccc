// RecordDecoder: a strict scalar scan (decode/small_json.h) for the common simple
// records, and simdjson's On-Demand API for the rest: fields are read in place, and only the
// parts of the record that statefold needs are parsed.

#include "decode/record_decoder.h"

#include <simdjson.h>

#include <charconv>

#include "decode/json_nesting.h"
#include "decode/json_shape.h"
#include "decode/small_json.h"
#include "statefold/json_text.h"
#include "util/civil_time.h"

namespace statefold {
namespace {

using simdjson::ondemand::json_type;

bool ParseDigits(std::string_view text, size_t pos, size_t count, int* out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = value;
  return true;
}

// Whether a raw JSON string (the bytes after its opening quote) holds an escape sequence.
bool HasEscape(simdjson::ondemand::raw_json_string raw) {
  for (const char* c = raw.raw(); *c != '"'; ++c) {
    if (*c == '\\') return true;
  }
  return false;
}

Status InvalidJson(simdjson::error_code error) {
  if (error == simdjson::UTF8_ERROR) return Status::Corruption("record is not valid UTF-8");
  return Status::Corruption(std::string("record is not valid JSON (") +
                            simdjson::error_message(error) + ")");
}

// The dead-letter reason for a timestamp string that Iso8601Error refused.
[[gnu::cold]] std::string InvalidTimestamp(std::string_view text, const char* why) {
  std::string reason = "record timestamp ";
  if (text.size() > 64) {  // shown cut, at a character boundary
    size_t end = 64;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
  }
  AppendJsonString(text, &reason);
  return reason + " is not a valid ISO-8601 date-time: " + why;
}

}  // namespace

const char* Iso8601Error(std::string_view t, int64_t* millis) {
  static constexpr const char* kSyntax =
      "not of the form YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM]";
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!ParseDigits(t, 0, 4, &year) || t.size() < 10 || t[4] != '-' ||
      !ParseDigits(t, 5, 2, &month) || t[7] != '-' || !ParseDigits(t, 8, 2, &day)) {
    return kSyntax;
  }
  if (month < 1 || month > 12) return "month out of range (01-12)";
  if (day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month))) {
    return "day out of range for its month (no such date)";
  }
  size_t pos = 10;
  int64_t fraction_ms = 0;
  int64_t offset_minutes = 0;
  if (pos < t.size()) {
    if (t[pos] != 'T' && t[pos] != 't' && t[pos] != ' ') return kSyntax;
    if (!ParseDigits(t, pos + 1, 2, &hour) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
        !ParseDigits(t, pos + 4, 2, &minute)) {
      return kSyntax;
    }
    pos += 6;
    if (pos < t.size() && t[pos] == ':') {
      if (!ParseDigits(t, pos + 1, 2, &second)) return kSyntax;
      pos += 3;
    }
    if (pos < t.size() && (t[pos] == '.' || t[pos] == ',')) {
      ++pos;
      int digits = 0;
      while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
        if (digits < 3) fraction_ms = fraction_ms * 10 + (t[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return kSyntax;
      for (int i = digits; i < 3; ++i) fraction_ms *= 10;
    }
    if (pos < t.size()) {
      if (t[pos] == 'Z' || t[pos] == 'z') {
        ++pos;
      } else if (t[pos] == '+' || t[pos] == '-') {
        int sign = t[pos] == '-' ? -1 : 1;
        int oh, om = 0;
        if (!ParseDigits(t, pos + 1, 2, &oh)) return kSyntax;
        pos += 3;
        if (pos < t.size() && t[pos] == ':') ++pos;
        if (pos < t.size()) {
          if (!ParseDigits(t, pos, 2, &om)) return kSyntax;
          pos += 2;
        }
        if (oh > 23 || om > 59) return "UTC offset out of range (hours 00-23, minutes 00-59)";
        offset_minutes = sign * (oh * 60 + om);
      } else {
        return kSyntax;
      }
    }
    if (pos != t.size()) return kSyntax;
    if (hour > 23) return "hour out of range (00-23)";
    if (minute > 59) return "minute out of range (00-59)";
    // Leap seconds (:60) too: Python's datetime, which reads event times back, has none.
    if (second > 59) return "second out of range (00-59)";
  }
  int64_t seconds =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_minutes * 60;
  *millis = seconds * 1000 + fraction_ms;
  return nullptr;
}

// Where a record of one shape has its fields (see small_json::JsonShape): slot indexes, -1
// for an absent key or timestamp; the value is slot `value_slot` (a string payload) or, when
// that is -1, the object over [value_begin, value_end).
struct EnvelopePlan {
  int32_t key_slot = -1;
  int32_t value_slot = -1;
  int32_t value_member = -1;  // its index in the shape's members
  small_json::JsonShape::Position value_begin, value_end;
  int32_t timestamp_slot = -1;
};

namespace {

// Makes the plan of a record shape that DecodeSimple decoded; false when it cannot.
bool PlanEnvelope(const small_json::JsonShape& shape, EnvelopePlan* plan) {
  using Kind = small_json::JsonShape::Kind;
  if (!shape.is_object()) return false;
  const auto* key = shape.FindMember("key");
  const auto* value = shape.FindMember("value");
  const auto* timestamp = shape.FindMember("timestamp");
  if (value == nullptr || (key != nullptr && key->slot < 0) ||
      (timestamp != nullptr && timestamp->slot < 0)) {
    return false;
  }
  plan->key_slot = key != nullptr ? key->slot : -1;
  plan->timestamp_slot = timestamp != nullptr ? timestamp->slot : -1;
  plan->value_slot = value->slot;
  plan->value_member = static_cast<int32_t>(value - shape.members().data());
  if (value->slot >= 0 && shape.kind(static_cast<size_t>(value->slot)) != Kind::kString) {
    return false;
  }
  plan->value_begin = value->begin;
  plan->value_end = value->end;
  return true;
}

// Decodes a record that matched `shape` as DecodeSimple would, or returns false ("not
// handled") where a value is not what DecodeSimple reads there (a key `true`, say).
bool DecodeByPlan(std::string_view bytes, const small_json::JsonShape& shape,
                  const EnvelopePlan& plan, const std::string_view* values, DecodedRecord* record) {
  using Kind = small_json::JsonShape::Kind;
  *record = DecodedRecord();
  int64_t number;
  if (plan.key_slot >= 0) {
    const std::string_view key = values[plan.key_slot];
    const Kind kind = shape.kind(static_cast<size_t>(plan.key_slot));
    if (kind == Kind::kString ||
        (kind == Kind::kNumber && small_json::ParseInteger(key, &number))) {
      record->key = key;
      record->has_key = true;
    } else if (key != "null") {
      return false;
    }
  }
  if (plan.value_slot >= 0) {
    record->value = values[plan.value_slot];
  } else {
    const char* begin = small_json::JsonShape::Resolve(bytes, values, plan.value_begin);
    const char* end = small_json::JsonShape::Resolve(bytes, values, plan.value_end);
    record->value = std::string_view(begin, static_cast<size_t>(end - begin));
    record->value_is_object = true;
    record->shape = &shape;
    record->value_member = &shape.members()[static_cast<size_t>(plan.value_member)];
    record->slot_values = values;
  }
  if (plan.timestamp_slot >= 0) {
    const std::string_view timestamp = values[plan.timestamp_slot];
    switch (shape.kind(static_cast<size_t>(plan.timestamp_slot))) {
      case Kind::kNumber:
        if (!small_json::ParseInteger(timestamp, &number)) return false;
        break;
      case Kind::kString:
        if (!ParseIso8601Millis(timestamp, &number)) return false;
        break;
      default:
        if (timestamp != "null") return false;
        return true;
    }
    record->timestamp_ms = number;
    record->has_timestamp = true;
  }
  return true;
}

}  // namespace

struct RecordDecoder::Impl {
  small_json::ShapeCache<EnvelopePlan> shapes;  // of the records DecodeSimple decoded
  simdjson::ondemand::parser parser;
  simdjson::ondemand::parser value_parser;
  std::string key_text;              // the current record's unescaped key
  std::string value_text;            // the current record's unescaped string payload
  std::span<const RawRecord> batch;  // of StartBatch, from `next`
  size_t next = 0;
  std::string padded_value;         // reused: the key field is read from a padded copy of the value
  simdjson::dom::parser validator;  // of the records On-Demand accepted (DecodeWithSimdjson)
};

RecordDecoder::RecordDecoder(size_t max_message_bytes)
    : impl_(std::make_unique<Impl>()), max_message_bytes_(max_message_bytes) {}

RecordDecoder::~RecordDecoder() = default;

// Reads the fields of a record document into *record,
// unescaping its key into *key_text and a string payload into *value_text.
template <class Document>
Status RecordDecoder::DecodeObject(Document& doc, DecodedRecord* record, std::string* key_text,
                                   std::string* value_text) {
  simdjson::ondemand::object object;
  if (auto error = doc.get_object().get(object); error) {
    if (error == simdjson::INCORRECT_TYPE) return Status::Corruption("record is not a JSON object");
    return InvalidJson(error);
  }
  bool has_value = false;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (auto error = std::move(field_result).get(field); error) return InvalidJson(error);
    // Field names are compared raw (no unescaping), unless the name has escapes.
    std::string_view name;
    simdjson::ondemand::raw_json_string raw = field.key();
    if (raw == "key") {
      name = "key";
    } else if (raw == "value") {
      name = "value";
    } else if (raw == "timestamp") {
      name = "timestamp";
    } else if (HasEscape(raw)) {
      if (auto error = field.unescaped_key().get(name); error) return InvalidJson(error);
    }
    simdjson::ondemand::value value = field.value();
    json_type type;
    if (auto error = value.type().get(type); error) return InvalidJson(error);
    if (name == "key") {
      if (type == json_type::null) {
        bool is_null = false;
        if (value.is_null().get(is_null) || !is_null)
          return Status::Corruption("record is not valid JSON");
        continue;
      }
      if (type == json_type::string) {
        std::string_view key;
        if (value.get_string().get(key))
          return Status::Corruption("record key is not a valid string");
        key_text->assign(key);
      } else if (type == json_type::number) {
        std::string_view token = value.raw_json_token();
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                                  token.back() == '\n' || token.back() == '\r')) {
          token.remove_suffix(1);
        }
        key_text->assign(token);
      } else {
        return Status::Corruption("record key must be a string, a number or null");
      }
      record->has_key = true;
    } else if (name == "value") {
      has_value = true;
      if (type == json_type::object) {
        simdjson::ondemand::object value_object;
        std::string_view raw;
        if (value.get_object().get(value_object) || value_object.raw_json().get(raw)) {
          return Status::Corruption("record value is not valid JSON");
        }
        record->value = raw;
        record->value_is_object = true;
      } else if (type == json_type::string) {
        std::string_view text;
        if (value.get_string().get(text))
          return Status::Corruption("record value is not a valid string");
        value_text->assign(text);
        record->value = *value_text;
      } else {
        return Status::Corruption("record value must be a JSON object or a string");
      }
    } else if (name == "timestamp") {
      if (type == json_type::number) {
        int64_t millis;
        if (value.get_int64().get(millis)) {
          return Status::Corruption("record timestamp must be integer epoch milliseconds");
        }
        record->timestamp_ms = millis;
        record->has_timestamp = true;
      } else if (type == json_type::string) {
        std::string_view text;
        if (value.get_string().get(text)) {
          return Status::Corruption("record timestamp is not a valid string");
        }
        if (const char* why = Iso8601Error(text, &record->timestamp_ms)) {
          return Status::Corruption(InvalidTimestamp(text, why));
        }
        record->has_timestamp = true;
      } else if (type != json_type::null) {
        return Status::Corruption(
            "record timestamp must be an ISO-8601 string or epoch milliseconds");
      } else {
        bool is_null = false;
        if (value.is_null().get(is_null) || !is_null)
          return Status::Corruption("record is not valid JSON");
      }
    } else {
      // Unknown fields (partition, headers, ...) are skipped so producers may add metadata;
      // On-Demand skips a value that is not read.
    }
  }
  if (!has_value) return Status::Corruption("record has no \"value\" field");
  if (record->has_key) record->key = *key_text;
  return Status::Ok();
}

Status RecordDecoder::Oversized(size_t size) const {
  return Status::Corruption("message of " + std::to_string(size) + " bytes exceeds the limit of " +
                            std::to_string(max_message_bytes_) + " bytes");
}

Status RecordDecoder::Decode(std::string_view bytes, DecodedRecord* record) {
  *record = DecodedRecord();
  STATEFOLD_RETURN_IF_ERROR(CheckSize(bytes.size()));
  if (const auto* entry = impl_->shapes.Match</*kPadded=*/true>(bytes)) {
    if (DecodeByPlan(bytes, entry->shape, entry->plan, impl_->shapes.values(), record) ||
        DecodeSimple(bytes, record)) {
      return Status::Ok();
    }
  } else if (DecodeSimple(bytes, record)) {
    if (impl_->shapes.ShouldLearn()) impl_->shapes.Learn(bytes, PlanEnvelope);
    return Status::Ok();
  }
  return DecodeWithSimdjson(bytes, record);
}

// Mirrors DecodeObject field by field, including its handling of repeated fields: a later
// null key or timestamp keeps the earlier one, and value_is_object stays set.
bool RecordDecoder::DecodeSimple(std::string_view bytes, DecodedRecord* record) {
  *record = DecodedRecord();
  small_json::Scanner in(bytes);
  if (!in.Consume('{')) return false;
  bool has_value = false;
  do {
    std::string_view name;
    if (!in.ReadString(&name) || !in.Consume(':')) return false;
    const char next = in.Peek();
    int64_t number;
    if (name == "key") {
      if (next == 'n') {
        if (!in.ReadNull()) return false;
      } else if (next == '"' ? !in.ReadString(&record->key)
                             : !in.ReadInteger(&number, &record->key)) {
        return false;
      } else {
        record->has_key = true;
      }
    } else if (name == "value") {
      if (next == '{') {
        // Like simdjson's raw_json(), the text runs up to the next token.
        const char* begin = in.position();
        if (!in.SkipValue()) return false;
        in.Peek();
        record->value = std::string_view(begin, static_cast<size_t>(in.position() - begin));
        record->value_is_object = true;
      } else if (!in.ReadString(&record->value)) {
        return false;
      }
      has_value = true;
    } else if (name == "timestamp") {
      std::string_view text;
      if (next == 'n') {
        if (!in.ReadNull()) return false;
      } else if (next == '"' ? !in.ReadString(&text) || !ParseIso8601Millis(text, &number)
                             : !in.ReadInteger(&number, &text)) {
        return false;
      } else {
        record->timestamp_ms = number;
        record->has_timestamp = true;
      }
    } else if (!in.SkipValue()) {
      return false;
    }
  } while (in.Consume(','));
  return in.Consume('}') && in.AtEnd() && has_value;
}

Status RecordDecoder::DecodeWithSimdjson(std::string_view bytes, DecodedRecord* record) {
  *record = DecodedRecord();
  simdjson::ondemand::document doc;
  if (auto error =
          impl_->parser
              .iterate(bytes.data(), bytes.size(), bytes.size() + simdjson::SIMDJSON_PADDING)
              .get(doc)) {
    return InvalidJson(error);
  }
  STATEFOLD_RETURN_IF_ERROR(DecodeObject(doc, record, &impl_->key_text, &impl_->value_text));
  // The fast paths (DecodeSimple, learned shapes) take no value deeper than their scanner's
  // limit, which is below kMaxValueNesting: the limit needs checking on this path only.
  static_assert(small_json::Scanner::kMaxDepth <= kMaxValueNesting);
  if (record->value_is_object) {
    if (size_t at = FindNestingBeyond(record->value, kMaxValueNesting);
        at != std::string_view::npos) {
      return Status::Corruption(NestingReason(at));
    }
  }
  // On-Demand stops after the root object: anything still there is a second document.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    return Status::Corruption("record is not valid JSON (content after the record's object)");
  }
  // On-Demand validates only what it reads: the members it skips (those of the value, and
  // unknown fields) may still hold `NaN`, `tru`, a stray bracket or 100k-deep nesting, so the
  // whole record is checked once more (fuzz/record_decoder_fuzz.cc). The DOM parser also
  // refuses numbers beyond a double's range (1e400) and unpaired surrogate escapes
  // (`"\ud800"`), which the grammar of JSON allows and which the fast paths accept in skipped
  // members; it stops at that first error, so the grammar alone judges such a record (it
  // refuses `-Infinity`, which the DOM parser also reports as a number's error).
  const auto error = impl_->validator.parse(bytes.data(), bytes.size(), false).error();
  if (!error) return Status::Ok();
  if ((error == simdjson::NUMBER_ERROR || error == simdjson::STRING_ERROR) &&
      small_json::IsJsonGrammar(bytes, simdjson::DEFAULT_MAX_DEPTH)) {
    return Status::Ok();
  }
  *record = DecodedRecord();
  return InvalidJson(error == simdjson::NUMBER_ERROR || error == simdjson::STRING_ERROR
                         ? simdjson::TAPE_ERROR
                         : error);
}

void RecordDecoder::StartBatch(std::span<const RawRecord> records) {
  impl_->batch = records;
  impl_->next = 0;
}

bool RecordDecoder::Next(size_t* index, DecodedRecord* record, Status* status) {
  Impl& b = *impl_;
  if (b.next >= b.batch.size()) return false;
  const size_t i = b.next++;
  *index = i;
  const RawRecord& raw = b.batch[i];
  if (!raw.error.empty()) {  // the source could not read it whole
    *record = DecodedRecord();
    *status = Status::Corruption(std::string(raw.error));
    return true;
  }
  *status = raw.enveloped ? Decode(raw.bytes, record) : DecodeNative(raw, record);
  return true;
}

Status RecordDecoder::DecodeNative(const RawRecord& raw, DecodedRecord* record) const {
  *record = DecodedRecord();
  STATEFOLD_RETURN_IF_ERROR(CheckSize(raw.value.size() + raw.key.size()));
  record->has_key = raw.has_key;
  record->key = raw.key;
  record->value = raw.value;
  // A JSON value (it opens with '{' or '['; other payloads are not JSON) takes the nesting
  // limit of enveloped records.
  const size_t first = raw.value.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (raw.value[first] == '{' || raw.value[first] == '[')) {
    if (size_t at = FindNestingBeyond(raw.value, kMaxValueNesting); at != std::string_view::npos) {
      return Status::Corruption(NestingReason(at));
    }
  }
  record->has_timestamp = raw.has_timestamp;
  record->timestamp_ms = raw.timestamp_ms;
  record->headers = raw.headers;
  return Status::Ok();
}

namespace {

// How reading a key path went: found, not there (or not a string or an integer), or refused.
enum class KeyLookup { kFound, kMissing, kWrongType, kDuplicate, kInvalid };

// Reads the key field's value (path[i] of `path`, its last member) into *key.
KeyLookup ReadKeyValue(simdjson::ondemand::value value, std::string* key) {
  json_type type;
  if (value.type().get(type)) return KeyLookup::kInvalid;
  if (type == json_type::string) {
    std::string_view text;
    if (value.get_string().get(text)) return KeyLookup::kInvalid;
    key->assign(text);
    return KeyLookup::kFound;
  }
  int64_t number;
  if (type == json_type::number && value.get_int64().get(number) == simdjson::SUCCESS) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
    key->assign(digits, end);
    return KeyLookup::kFound;
  }
  return KeyLookup::kWrongType;
}

// Reads member path[i] of `object`, and below it path[i + 1], ..., into *key. Every member of
// each object on the path is read, names compared unescaped (as every event decoder compares
// them), so that a name given twice is refused (*duplicate = i) whichever occurrence a
// decoder of the event would take.
KeyLookup ReadKeyPath(simdjson::ondemand::object object, const std::vector<std::string>& path,
                      size_t i, std::string* key, size_t* duplicate) {
  bool found = false;
  KeyLookup result = KeyLookup::kMissing;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return KeyLookup::kInvalid;
    simdjson::ondemand::raw_json_string raw = field.key();
    bool match;
    if (HasEscape(raw)) {
      std::string_view name;
      if (field.unescaped_key().get(name)) return KeyLookup::kInvalid;
      match = name == path[i];
    } else {
      match = raw == path[i];
    }
    if (!match) continue;
    if (found) {
      *duplicate = i;
      return KeyLookup::kDuplicate;
    }
    found = true;
    simdjson::ondemand::value value = field.value();
    if (i + 1 == path.size()) {
      result = ReadKeyValue(value, key);
    } else {
      simdjson::ondemand::object child;
      result = value.get_object().get(child) ? KeyLookup::kMissing
                                             : ReadKeyPath(child, path, i + 1, key, duplicate);
    }
    // A duplicate below, or bad JSON, ends the walk; otherwise the rest of this object is
    // read for a second occurrence of the name.
    if (result == KeyLookup::kDuplicate || result == KeyLookup::kInvalid) return result;
  }
  return result;
}

}  // namespace

Status RecordDecoder::ExtractKey(std::string_view value_json, const std::vector<std::string>& path,
                                 std::string* key) {
  auto dotted = [&path](size_t count) {  // only built for error messages
    std::string text;
    for (size_t i = 0; i < count; ++i) text += (i == 0 ? "" : ".") + path[i];
    return text;
  };
  std::string& padded = impl_->padded_value;
  padded.assign(value_json);
  padded.resize(value_json.size() + simdjson::SIMDJSON_PADDING, '\0');
  simdjson::ondemand::document doc;
  if (impl_->value_parser.iterate(padded.data(), value_json.size(), padded.size()).get(doc)) {
    return Status::Corruption("message value is not valid JSON, so key field " +
                              dotted(path.size()) + " cannot be read");
  }
  simdjson::ondemand::object object;
  if (doc.get_object().get(object)) {
    return Status::Corruption("message value is not a JSON object, so key field " +
                              dotted(path.size()) + " cannot be read");
  }
  size_t duplicate = 0;
  switch (ReadKeyPath(object, path, 0, key, &duplicate)) {
    case KeyLookup::kFound:
      return Status::Ok();
    case KeyLookup::kMissing:
      return Status::Corruption("key field " + dotted(path.size()) +
                                " is missing from the message");
    case KeyLookup::kWrongType:
      return Status::Corruption("key field " + dotted(path.size()) +
                                " must be a string or an integer");
    case KeyLookup::kDuplicate:
      return Status::Corruption("key field " + dotted(path.size()) + ": the message has member " +
                                dotted(duplicate + 1) +
                                " more than once, so its key and its event could disagree");
    case KeyLookup::kInvalid:
      break;
  }
  return Status::Corruption("message value is not valid JSON, so key field " + dotted(path.size()) +
                            " cannot be read");
}

}  // namespace statefold
