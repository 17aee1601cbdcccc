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
  if (letter.resolver.empty()) {
    *json += "null,\"error\":";
    AppendJsonString(letter.error, json);
    std::string_view message = Utf8Prefix(letter.value, kDeadLetterMessageBytes);
    if (simdjson::validate_utf8(message.data(), message.size())) {
      *json += ",\"message\":";
      AppendJsonString(message, json);
    } else {
      *json += ",\"message\":null";
    }
    *json += "}";
    return;
  }
  AppendJsonString(letter.resolver, json);
  *json += ",\"key\":";
  if (!letter.state_key.empty()) {
    AppendJsonString(letter.state_key, json);
  } else if (letter.has_key) {
    AppendJsonString(letter.key, json);
  } else {
    *json += "null";
  }
  *json += ",\"timestamp\":" + std::to_string(letter.timestamp_ms) + ",\"error\":";
  AppendJsonString(letter.error, json);
  *json += ",\"value\":";
  AppendJsonString(letter.value, json);
  *json += "}";
}

}  // namespace statefold
