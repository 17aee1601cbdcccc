// ResolverOutputReader: the engine's side of ResolverOutput (statefold/resolver.h), which
// resolvers only write: clearing it before a call, and reading what the call produced. Kept
// out of the public header as LevelDB keeps WriteBatchInternal out of write_batch.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "statefold/resolver.h"

namespace statefold {

class ResolverOutputReader {
 public:
  using Value = ResolverOutput::OutputValue;
  using Rejection = ResolverOutput::Rejection;

  explicit ResolverOutputReader(ResolverOutput* output) : output_(output) {}

  // Empties the output for the next call, keeping its buffers.
  void Clear() {
    output_->bytes_.clear();
    output_->values_.clear();
    output_->rejections_.clear();
    output_->failed_ = false;
    output_->interrupted_ = false;
    output_->failure_.clear();
  }

  std::span<const Value> values() const { return output_->values_; }
  std::string_view entity(const Value& v) const { return View(v.entity_begin, v.entity_size); }
  std::string_view value_json(const Value& v) const { return View(v.value_begin, v.value_size); }
  // Whether `v` is a value of the same entity as `previous`, the value before it, by
  // construction (one StartEntity), so that the entity need not be compared again.
  static bool SameEntity(const Value* previous, const Value& v) {
    return previous != nullptr && previous->entity_begin == v.entity_begin &&
           previous->entity_size == v.entity_size && previous->ns.data() == v.ns.data();
  }

  std::span<const Rejection> rejections() const { return output_->rejections_; }
  bool failed() const { return output_->failed_; }
  bool interrupted() const { return output_->interrupted_; }
  uint32_t failed_index() const {
    return output_->failed_index_;
  }  // REQUIRES: failed or interrupted
  const std::string& failure() const { return output_->failure_; }

 private:
  std::string_view View(uint32_t begin, uint32_t size) const {
    return std::string_view(output_->bytes_.data() + begin, size);
  }

  ResolverOutput* output_;
};

}  // namespace statefold
