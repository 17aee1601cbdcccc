// libFuzzer target: RecordDecoder (src/decode/record_decoder.h), differential against the
// simdjson DOM parser. The input is up to 16 JSON Lines records, one per line, decoded in turn
// by one decoder (so that the shapes it learns from earlier records are tried on later ones).
// For each record:
//   - when the DOM parser rejects the line, RecordDecoder rejects it too (except for a
//     number error: simdjson refuses valid numbers beyond a double's range);
//   - when RecordDecoder accepts it, the key, value and timestamp it extracted are what the DOM
//     parser finds there (records with a repeated envelope member are only decoded: which
//     one counts is issue #12 item 9's decision);
//   - Decode and DecodeWithSimdjson give the same outcome, and DecodeSimple accepts only what
//     DecodeWithSimdjson decodes the same way;
//   - ExtractKey of {"meta", "uid"} on an accepted object value gives what the DOM finds.

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "decode/record_decoder.h"

namespace {

using statefold::DecodedRecord;
using statefold::RecordDecoder;
using statefold::Status;

[[noreturn]] void Fail(const char* what, std::string_view record) {
  std::fprintf(stderr, "record_decoder_fuzz: %s\nrecord: %.*s\n", what,
               static_cast<int>(record.size()), record.data());
  std::abort();
}

void Check(bool condition, const char* what, std::string_view record) {
  if (!condition) Fail(what, record);
}

std::string Minified(simdjson::dom::element element) { return simdjson::minify(element); }

// The number `text` as the DOM parser reads it, minified ("" when it is not one number).
std::string NumberText(simdjson::dom::parser& parser, std::string_view text) {
  simdjson::dom::element element;
  if (parser.parse(text.data(), text.size()).get(element) || !element.is_number()) return "";
  return Minified(element);
}

// The envelope members of `object` by name, and whether one of them is repeated.
struct Envelope {
  bool repeated = false;
  bool has_key = false, has_value = false, has_timestamp = false;
  simdjson::dom::element key, value, timestamp;
};

Envelope EnvelopeOf(simdjson::dom::object object) {
  Envelope e;
  for (auto [name, element] : object) {
    bool* seen = name == "key"         ? &e.has_key
                 : name == "value"     ? &e.has_value
                 : name == "timestamp" ? &e.has_timestamp
                                       : nullptr;
    if (seen == nullptr) continue;
    if (*seen) e.repeated = true;
    *seen = true;
    (name == "key" ? e.key : name == "value" ? e.value : e.timestamp) = element;
  }
  return e;
}

void CheckAgainstDom(const DecodedRecord& record, const Envelope& e, std::string_view line,
                     simdjson::dom::parser& scratch) {
  using simdjson::dom::element_type;
  // key: a string (unescaped), a number (its text) or null (no key).
  const bool dom_has_key = e.has_key && !e.key.is_null();
  Check(record.has_key == dom_has_key, "has_key differs from the DOM", line);
  if (dom_has_key) {
    if (e.key.is_string()) {
      Check(record.key == std::string_view(e.key.get_string().value_unsafe()),
            "key differs from the DOM's string", line);
    } else {
      Check(e.key.is_number(), "a key the DOM reads as neither string nor number", line);
      const std::string key(record.key);
      Check(NumberText(scratch, key) == Minified(e.key), "key differs from the DOM's number", line);
    }
  }
  // value: an object (its JSON text) or a string payload.
  Check(e.has_value, "accepted without a value member", line);
  if (e.value.is_object()) {
    Check(record.value_is_object, "value_is_object differs from the DOM", line);
    const std::string value(record.value);
    simdjson::dom::element parsed;
    Check(scratch.parse(value).get(parsed) == simdjson::SUCCESS, "value text does not parse", line);
    Check(Minified(parsed) == Minified(e.value), "value text differs from the DOM's object", line);
  } else {
    Check(e.value.is_string() && !record.value_is_object, "value is neither object nor string",
          line);
    Check(record.value == std::string_view(e.value.get_string().value_unsafe()),
          "string payload differs from the DOM", line);
  }
  // timestamp: epoch milliseconds (an int64), an ISO-8601 string or null.
  const bool dom_has_timestamp = e.has_timestamp && !e.timestamp.is_null();
  Check(record.has_timestamp == dom_has_timestamp, "has_timestamp differs from the DOM", line);
  if (dom_has_timestamp) {
    if (e.timestamp.type() == element_type::INT64) {
      Check(record.timestamp_ms == e.timestamp.get_int64().value_unsafe(),
            "timestamp differs from the DOM's integer", line);
    } else {
      Check(e.timestamp.is_string(), "a timestamp the DOM reads as neither integer nor string",
            line);
    }
  }
}

// ExtractKey({"meta", "uid"}) against the DOM, where the path has no repeated member.
void CheckExtractKey(RecordDecoder& decoder, std::string_view value, std::string_view line,
                     simdjson::dom::parser& scratch) {
  static const std::vector<std::string> kPath = {"meta", "uid"};
  std::string key;
  const Status status = decoder.ExtractKey(value, kPath, &key);
  const std::string text(value);
  simdjson::dom::element root;
  Check(scratch.parse(text).get(root) == simdjson::SUCCESS, "value text does not parse", line);
  simdjson::dom::element current = root;
  for (const std::string& part : kPath) {
    simdjson::dom::object object;
    if (current.get_object().get(object)) return;
    size_t matches = 0;
    for (auto [name, element] : object) {
      if (name == part) {
        ++matches;
        current = element;
      }
    }
    if (matches == 0) {
      Check(!status.ok(), "ExtractKey found a member the DOM does not have", line);
      return;
    }
    if (matches > 1) return;  // issue #12 item 9 decides which one counts
  }
  if (!status.ok()) return;  // a float or out-of-range key is refused; not checked further
  if (current.is_string()) {
    Check(key == std::string_view(current.get_string().value_unsafe()),
          "ExtractKey differs from the DOM's string", line);
  } else {
    int64_t number;
    Check(current.get_int64().get(number) == simdjson::SUCCESS && key == std::to_string(number),
          "ExtractKey differs from the DOM's integer", line);
  }
}

std::string Outcome(const Status& status) { return status.ok() ? "ok" : status.message(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser dom;
  static simdjson::dom::parser scratch;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  RecordDecoder decoder(1 << 20);
  RecordDecoder reference(1 << 20);
  std::string padded;
  size_t begin = 0;
  for (int records = 0; records < 16 && begin <= input.size(); ++records) {
    size_t end = input.find('\n', begin);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(begin, end - begin);
    begin = end + 1;
    padded.assign(line);
    padded.append(simdjson::SIMDJSON_PADDING, '\0');
    const std::string_view bytes(padded.data(), line.size());

    DecodedRecord record;
    const Status status = decoder.Decode(bytes, &record);
    // A second decoder that saw the same records, by simdjson alone: the same outcome.
    DecodedRecord slow;
    const Status slow_status = reference.DecodeWithSimdjson(bytes, &slow);
    if (Outcome(status) != Outcome(slow_status)) {
      std::fprintf(stderr, "Decode: %s\nDecodeWithSimdjson: %s\n", Outcome(status).c_str(),
                   Outcome(slow_status).c_str());
      Fail("Decode and DecodeWithSimdjson disagree", line);
    }
    DecodedRecord simple;
    if (RecordDecoder::DecodeSimple(line, &simple)) {
      Check(slow_status.ok(), "DecodeSimple accepts what DecodeWithSimdjson rejects", line);
    }

    Check(status.ok() || !status.message().empty(), "a rejection without a reason", line);
    simdjson::dom::element root;
    const simdjson::error_code error = dom.parse(line.data(), line.size()).get(root);
    // simdjson's NUMBER_ERROR is both a malformed number (01) and one beyond a double's
    // range (1e400, valid JSON), and STRING_ERROR includes unpaired surrogate escapes
    // ("\ud800", valid JSON grammar): no authority on those in members the decoder skips.
    if (error == simdjson::NUMBER_ERROR || error == simdjson::STRING_ERROR) continue;
    if (error) {
      if (status.ok()) {
        std::fprintf(stderr, "DOM: %s\n", simdjson::error_message(error));
        Fail("RecordDecoder accepts a record the DOM parser rejects", line);
      }
      continue;
    }
    if (!status.ok()) continue;
    simdjson::dom::object object;
    Check(root.get_object().get(object) == simdjson::SUCCESS, "accepted a non-object", line);
    const Envelope envelope = EnvelopeOf(object);
    if (envelope.repeated) continue;
    CheckAgainstDom(record, envelope, line, scratch);
    if (record.value_is_object) CheckExtractKey(decoder, record.value, line, scratch);
  }
  return 0;
}
