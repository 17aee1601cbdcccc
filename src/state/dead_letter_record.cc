// The dead-letter record (see dead_letter_record.h).

#include "state/dead_letter_record.h"

#include <simdjson.h>

#include "statefold/json_text.h"

namespace statefold {
namespace {

// The longest prefix of `text` of at most `limit` bytes that does not end inside a UTF-8
// sequence (a cut sequence would make the record's JSON invalid).
std::string_view Utf8Prefix(std::string_view text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  // Back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

void AppendDeadLetterRecord(const DeadLetter& letter, std::string* json) {
  *json += "{\"source\":";
  AppendJsonString(letter.source, json);
  *json += ",\"partition\":" + std::to_string(letter.partition) +
           ",\"offset\":" + std::to_string(letter.offset) + ",\"resolver\":";
  const bool undecoded = letter.resolver.empty();
  if (undecoded) {
    *json += "null";
  } else {
    AppendJsonString(letter.resolver, json);
  }
  *json += ",\"key\":";
  if (!letter.state_key.empty()) {
    AppendJsonString(letter.state_key, json);
  } else if (letter.has_key) {
    AppendJsonString(letter.key, json);
  } else {
    *json += "null";
  }
  *json += ",\"timestamp\":";
  *json += letter.has_timestamp ? std::to_string(letter.timestamp_ms) : "null";
  *json += ",\"error\":";
  AppendJsonString(letter.error, json);
  // A record that did not decode may be far longer than a message may be: its first bytes,
  // as text cut at a character, or as base64 when they are not UTF-8.
  const std::string_view value = letter.value;
  const std::string_view payload = undecoded ? value.substr(0, kDeadLetterMessageBytes) : value;
  const std::string_view text = undecoded ? Utf8Prefix(value, kDeadLetterMessageBytes) : value;
  if (simdjson::validate_utf8(text.data(), text.size())) {
    *json += ",\"payload\":";
    AppendJsonString(text, json);
    *json += ",\"payload_base64\":null}";
  } else {
    *json += ",\"payload\":null,\"payload_base64\":";
    AppendJsonBase64(payload, json);
    *json += "}";
  }
}

}  // namespace statefold
