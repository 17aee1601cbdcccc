// FeatureValue: one feature value of one entity as a checkpoint commits it, with the time and
// the source offset of the message that produced it. The engine hands these to the online
// store before each commit and to EngineOptions::on_committed_feature after it.
#pragma once

#include <cstdint>
#include <string_view>

namespace statefold {

// Views into the engine's buffers: valid only during the call that receives them.
struct FeatureValue {
  std::string_view ns;         // the feature namespace, e.g. "user"
  std::string_view entity_id;  // the primary key's value, as text
  std::string_view feature;    // the short name, e.g. "unique_ip_count"
  std::string_view value_json;
  int64_t time_ms = 0;  // the feature time: the message's timestamp
  int64_t offset = 0;   // the message's offset in its source partition
};

}  // namespace statefold
