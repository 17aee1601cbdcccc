// CounterResolver: a minimal Resolver for the engine components' unit tests. Its state is one
// int64_t per key (encoded as a zigzag varint), which a test changes directly; a negative
// count does not encode, so tests can reach the paths for states that do not fit their schema.
#pragma once

#include <cstdint>
#include <string>

#include "statefold/coding.h"
#include "statefold/resolver.h"

namespace statefold::testing {

class CounterResolver : public Resolver {
 public:
  explicit CounterResolver(std::string name = "counter") {
    spec_.name = std::move(name);
    spec_.source = "events";
    spec_.stateful = true;
    spec_.state_schema = R"({"type":"int"})";
  }

  static int64_t& Count(StateHandle state) { return *static_cast<int64_t*>(state); }

  const ResolverSpec& spec() const override { return spec_; }
  ResolverSpec& mutable_spec() { return spec_; }

  // Adds one to each message's state.
  size_t RunBatch(std::span<const Message> messages, std::span<const StateHandle> states,
                  ResolverOutput*) override {
    for (StateHandle state : states) ++Count(state);
    return messages.size();
  }
  Status NewState(StateHandle* state) override {
    *state = new int64_t(0);
    ++live;
    return Status::Ok();
  }
  Status DecodeState(std::string_view bytes, StateHandle* state) override {
    ByteReader reader(bytes);
    int64_t value;
    if (!reader.ReadInt(&value) || !reader.AtEnd()) return Status::Corruption("not a count");
    *state = new int64_t(value);
    ++live;
    return Status::Ok();
  }
  Status EncodeState(StateHandle state, std::string* out) override {
    if (Count(state) < 0) return Status::InvalidArgument("a count cannot be negative");
    ByteWriter(out).WriteInt(Count(state));
    return Status::Ok();
  }
  void ReleaseState(StateHandle state) override {
    if (state == nullptr) return;
    delete static_cast<int64_t*>(state);
    --live;
  }

  int live = 0;  // states made and not yet released

 private:
  ResolverSpec spec_;
};

}  // namespace statefold::testing
