// A native resolver for engine tests: counts unique "ip" values per key, like the reference's
// example, with the state schema record{unique_ips: set[str]}. A message whose ip is "fail"
// mutates the state and then fails, and one whose ip is "reject" is rejected, so tests can
// check rollback and dead letters.
#pragma once

#include <set>
#include <string>

#include "decode/record_decoder.h"
#include "state/state_codec.h"
#include "statefold/resolver.h"

namespace statefold::testing {

class UniqueIpResolver : public Resolver {
 public:
  explicit UniqueIpResolver(std::string name = "unique_ips",
                            std::vector<std::string> key_path = {}) {
    spec_.name = std::move(name);
    spec_.source = "logins";
    spec_.key_path = std::move(key_path);
    spec_.stateful = true;
    spec_.state_schema =
        R"({"kind":"record","name":"LoginState","fields":[{"name":"unique_ips","type":{"kind":"set","items":{"kind":"str"}}}]})";
  }

  const ResolverSpec& spec() const override { return spec_; }

  size_t RunBatch(std::span<const Message> messages, std::span<const StateHandle> states,
                  ResolverOutput* output) override {
    for (size_t i = 0; i < messages.size(); ++i) {
      ++calls;
      std::string ip;
      if (!decoder_.ExtractKey(messages[i].value, {"ip"}, &ip).ok()) {
        output->Reject(static_cast<uint32_t>(i), "no ip");
        continue;
      }
      if (ip == "reject") {
        output->Reject(static_cast<uint32_t>(i), "rejected on purpose");
        continue;
      }
      auto* state = static_cast<std::set<std::string>*>(states[i]);
      state->insert(ip);
      if (ip == "fail") {
        output->Fail(static_cast<uint32_t>(i), "failed on purpose");
        return i + 1;
      }
      std::string count = std::to_string(state->size());
      output->AddFeature(static_cast<uint32_t>(i), "user", messages[i].key, "id",
                         "\"" + std::string(messages[i].key) + "\"");
      output->AddFeature(static_cast<uint32_t>(i), "user", messages[i].key, "unique_ip_count",
                         count);
    }
    return messages.size();
  }

  StateHandle NewState() override { return new std::set<std::string>(); }

  Status DecodeState(std::string_view bytes, StateHandle* state) override {
    StateReader reader(bytes);
    uint64_t fields, count;
    if (!reader.ReadCount(&fields) || fields != 1 || !reader.ReadCount(&count)) {
      return Status::Corruption("bad state");
    }
    auto set = std::make_unique<std::set<std::string>>();
    for (uint64_t i = 0; i < count; ++i) {
      std::string_view ip;
      if (!reader.ReadString(&ip)) return Status::Corruption("bad state");
      set->emplace(ip);
    }
    *state = set.release();
    return Status::Ok();
  }

  Status EncodeState(StateHandle state, std::string* out) override {
    auto* set = static_cast<std::set<std::string>*>(state);
    StateWriter writer(out);
    writer.WriteVarint(1);
    writer.WriteVarint(set->size());
    for (const std::string& ip : *set) writer.WriteString(ip);
    return Status::Ok();
  }

  void ReleaseState(StateHandle state) override {
    delete static_cast<std::set<std::string>*>(state);
  }

  size_t calls = 0;

 private:
  ResolverSpec spec_;
  RecordDecoder decoder_{1 << 20};
};

}  // namespace statefold::testing
