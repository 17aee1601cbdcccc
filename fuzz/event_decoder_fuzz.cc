// libFuzzer target: EventDecoder (src/decode/event_decoder.h), its fast tiers against its
// simdjson tier. The input is up to 16 message values, one per line, decoded in turn into two
// fixed layouts from STATEFOLD_STRUCT (a simple one, Login, for which every tier applies, and
// a nested one, Order), by decoders that keep what they learned from earlier values. For each
// value, every tier agrees with a fresh decoder's DecodeWithSimdjson: the same outcome (the
// same dead-letter reason) and, where it accepts, the same event:
//   - Decode from the value's text (scalar scan, learned shapes, simdjson);
//   - DecodeSimple, where it handles the value;
//   - Decode from the record's value slots, the value enveloped in a JSON Lines record that a
//     RecordDecoder read with a learned shape;
//   - DecodeBatch over all the values at once (simdjson's document stream for Order).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decode/event_decoder.h"
#include "decode/record_decoder.h"
#include "event_layouts.h"
#include "statefold/native.h"

namespace statefold {
namespace {

using native::EventFromFields;
using native::EventLayoutOf;

// The layouts of tests/cpp/event_decoder_test.cc.
using namespace testing_events;

[[noreturn]] void Fail(const char* tier, const std::string& got, const std::string& want,
                       std::string_view value) {
  std::fprintf(stderr,
               "event_decoder_fuzz: %s disagrees with DecodeWithSimdjson\n"
               "  %s: %s\n  DecodeWithSimdjson: %s\nvalue: %.*s\n",
               tier, tier, got.c_str(), want.c_str(), static_cast<int>(value.size()), value.data());
  std::abort();
}

// "ok" or the reason; no decoder may throw (an exception would escape the engine's batch).
template <class DecodeFn>
std::string Outcome(DecodeFn decode) {
  try {
    const Status status = decode();
    if (!status.ok() && status.message().empty()) return "a failure without a reason";
    return status.ok() ? "ok" : status.message();
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

template <class T>
T EventOf(std::span<const FieldValue> fields) {
  T event;
  EventFromFields(fields, &event);
  return event;
}

template <class T>
class Differential {
 public:
  Differential() : decoder_(*EventLayoutOf<T>()), records_(1 << 20) {}

  void CheckValue(std::string_view value) {
    EventDecoder reference(*EventLayoutOf<T>());
    std::span<const FieldValue> want_fields, got_fields;
    const std::string want =
        Outcome([&] { return reference.DecodeWithSimdjson(value, &want_fields); });
    if (want.rfind("threw", 0) == 0) Fail("DecodeWithSimdjson", want, "no exception", value);
    const T want_event = want == "ok" ? EventOf<T>(want_fields) : T{};

    const std::string got = Outcome([&] { return decoder_.Decode(value, nullptr, &got_fields); });
    if (got != want) Fail("Decode", got, want, value);
    if (got == "ok" && !(EventOf<T>(got_fields) == want_event)) {
      Fail("Decode", "another event", "this event", value);
    }
    std::span<const FieldValue> simple;
    if (decoder_.DecodeSimple(value, &simple)) {
      if (want != "ok") Fail("DecodeSimple", "ok", want, value);
      if (!(EventOf<T>(simple) == want_event)) {
        Fail("DecodeSimple", "another event", "this event", value);
      }
    }
    CheckSlots(value);
  }

  // The value enveloped in a record: the record decoder's slots, when it used a shape.
  void CheckSlots(std::string_view value) {
    std::string record_text = R"({"key": "k", "value": )";
    record_text.append(value);
    record_text.append(R"(, "timestamp": 1})");
    const size_t size = record_text.size();
    record_text.append(64, '\0');
    DecodedRecord record;
    if (!records_.Decode(std::string_view(record_text.data(), size), &record).ok()) return;
    if (record.shape == nullptr) return;
    const ValueSlots slots{record.shape->id(), record.shape, record.value_member,
                           record.slot_values};
    EventDecoder reference(*EventLayoutOf<T>());
    std::span<const FieldValue> want_fields, got_fields;
    const std::string want =
        Outcome([&] { return reference.DecodeWithSimdjson(record.value, &want_fields); });
    const std::string got =
        Outcome([&] { return decoder_.Decode(record.value, &slots, &got_fields); });
    if (got != want) Fail("Decode from the record's slots", got, want, record.value);
    if (got == "ok" && !(EventOf<T>(got_fields) == EventOf<T>(want_fields))) {
      Fail("Decode from the record's slots", "another event", "this event", record.value);
    }
  }

  void CheckBatch(const std::vector<std::string_view>& values) {
    std::vector<EventInput> inputs;
    for (std::string_view value : values) inputs.push_back(EventInput{value, nullptr});
    std::vector<std::span<const FieldValue>> fields;
    std::vector<DecodeFailure> failures;
    decoder_.DecodeBatch(inputs, &fields, &failures);
    if (fields.size() != values.size()) Fail("DecodeBatch", "a wrong count", "one per value", "");
    size_t next_failure = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      EventDecoder reference(*EventLayoutOf<T>());
      std::span<const FieldValue> want_fields;
      const std::string want =
          Outcome([&] { return reference.DecodeWithSimdjson(values[i], &want_fields); });
      std::string got = "ok";
      if (next_failure < failures.size() && failures[next_failure].index == i) {
        got = Outcome([&] { return failures[next_failure++].status; });
      }
      if (got != want) Fail("DecodeBatch", got, want, values[i]);
      if (got == "ok" && !(EventOf<T>(fields[i]) == EventOf<T>(want_fields))) {
        Fail("DecodeBatch", "another event", "this event", values[i]);
      }
    }
    if (next_failure != failures.size()) Fail("DecodeBatch", "failures out of order", "", "");
  }

 private:
  EventDecoder decoder_;
  RecordDecoder records_;
};

}  // namespace
}  // namespace statefold

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> values;
  size_t begin = 0;
  while (values.size() < 16 && begin <= input.size()) {
    size_t end = input.find('\n', begin);
    if (end == std::string_view::npos) end = input.size();
    values.push_back(input.substr(begin, end - begin));
    begin = end + 1;
  }
  statefold::Differential<statefold::Login> login;
  statefold::Differential<statefold::Order> order;
  for (std::string_view value : values) {
    login.CheckValue(value);
    order.CheckValue(value);
  }
  login.CheckBatch(values);
  order.CheckBatch(values);
  return 0;
}
