// DeadLetters (see dead_letters.h).

#include "engine/dead_letters.h"

#include <algorithm>
#include <tuple>

#include "state/dead_letter_record.h"
#include "state/state_layout.h"

namespace statefold {

Status DeadLetters::Open(StateStore* store, std::vector<Source*> sources) {
  sources_ = std::move(sources);
  std::string value;
  bool found;
  STATEFOLD_RETURN_IF_ERROR(store->GetMeta(state_layout::kNextDeadLetterKey, &value, &found));
  next_sequence_ = found ? std::stoull(value) : 0;
  return Status::Ok();
}

DeadLetter& DeadLetters::Add(uint32_t source_index, int64_t resolver_order,
                             std::string_view reason) {
  Pending& pending = pending_.emplace_back();
  pending.source_index = source_index;
  pending.resolver_order = resolver_order;
  pending.letter.source = sources_[source_index]->name();
  pending.letter.error = reason;
  return pending.letter;
}

void DeadLetters::AddRecord(uint32_t source_index, const RawRecord& record,
                            std::string_view reason) {
  DeadLetter& letter = Add(source_index, -1, reason);
  letter.partition = record.partition;
  letter.offset = record.offset;
  letter.has_key = record.has_key;
  letter.has_timestamp = record.has_timestamp;
  letter.timestamp_ms = record.timestamp_ms;
  if (!record.enveloped) letter.key.assign(record.key);
  std::string_view bytes = record.enveloped ? record.bytes : record.value;
  // A record bound for the state directory is stored truncated: keep no more (the record
  // may be far larger than any message may be).
  if (!sources_[source_index]->PublishesDeadLetters()) {
    bytes = bytes.substr(0, kDeadLetterMessageBytes);
  }
  letter.value.assign(bytes);
}

void DeadLetters::AddMessage(const EpochLog& log, const EpochMessage& message,
                             uint32_t resolver_index, std::string_view resolver,
                             std::string_view state_key, std::string_view reason) {
  DeadLetter& letter = Add(message.source_index, resolver_index, reason);
  letter.partition = message.partition;
  letter.offset = message.offset;
  letter.resolver.assign(resolver);
  letter.has_key = message.has_key;
  letter.key.assign(log.RecordKey(message));
  letter.value.assign(log.Value(message));
  letter.has_timestamp = true;
  letter.timestamp_ms = message.timestamp_ms;
  letter.state_key.assign(state_key);
}

Status DeadLetters::Stage(CheckpointBatch* batch) {
  std::stable_sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
    return std::tie(a.source_index, a.letter.partition, a.letter.offset, a.resolver_order) <
           std::tie(b.source_index, b.letter.partition, b.letter.offset, b.resolver_order);
  });
  // Published before the commit that moves past them: a crash in between publishes them
  // again (at-least-once for dead-letter topics), never loses one.
  std::vector<DeadLetter> published;
  for (uint32_t s = 0; s < sources_.size(); ++s) {
    if (!sources_[s]->PublishesDeadLetters()) continue;
    published.clear();
    for (const Pending& p : pending_) {
      if (p.source_index == s) published.push_back(p.letter);
    }
    if (!published.empty()) STATEFOLD_RETURN_IF_ERROR(sources_[s]->PublishDeadLetters(published));
  }
  uint64_t next = next_sequence_;
  for (const Pending& p : pending_) {
    if (!sources_[p.source_index]->PublishesDeadLetters()) batch->PutDeadLetter(next++, p.letter);
  }
  if (next != next_sequence_) {
    batch->PutMeta(state_layout::kNextDeadLetterKey, std::to_string(next));
    next_sequence_ = next;
  }
  return Status::Ok();
}

}  // namespace statefold
