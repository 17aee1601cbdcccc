// Source: where messages come from. A source yields raw records in offset order per
// partition, and can resume from a stored position. Records are polled in batches; the
// views in a batch stay valid until the next Poll.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statefold/status.h"

namespace statefold {

// One raw record: the bytes of a message before decoding, and where it came from. A file
// source hands out enveloped records (a JSON Lines line holding key, value and timestamp); a
// Kafka source hands out native ones, whose key, value and timestamp are already separate.
struct RawRecord {
  std::string_view bytes;  // enveloped: the line, followed by readable padding
  int32_t partition = 0;
  int64_t offset = 0;
  bool unterminated = false;  // the last line of a file, without its newline (yet)
  // Non-empty: the source could not hand out this record as it is in the source (a line
  // longer than the record limit, whose `bytes` are then only its first bytes); the record
  // is a dead letter with this reason. Valid as long as the batch.
  std::string_view error;

  bool enveloped = true;
  bool has_key = false;  // native records: the fields below
  std::string_view key;
  std::string_view value;
  bool has_timestamp = false;
  int64_t timestamp_ms = 0;
  std::string_view headers;  // native records: encoded as in Message::headers
};

// A resumable position in one partition: the next offset to read and, for files, its byte
// position. Stored inside each checkpoint.
struct SourcePosition {
  int32_t partition = 0;
  int64_t next_offset = 0;
  int64_t byte_position = 0;
};

// A message that could not be processed: a record that did not decode (`resolver` empty), or
// a message that its resolver could not take (its event did not decode, or the call failed).
// Dead letters go to the state directory (`statefold dead-letters`), or to a source's own
// destination (Source::PublishDeadLetters).
struct DeadLetter {
  std::string source;  // the source's name
  int32_t partition = 0;
  int64_t offset = 0;
  std::string resolver;  // empty when the record itself did not decode
  std::string error;     // why, for a user to act on
  bool has_key = false;  // the record has a key
  std::string key;       // the record's key
  // The message's value; for a record that did not decode, the record as read (a JSON Lines
  // line, or a native record's value). Letters bound for the state directory keep at most
  // its first 4 KiB.
  std::string value;
  bool has_timestamp = false;  // the message has an event time (a record that did not
  int64_t timestamp_ms = 0;    // decode may not): this
  std::string state_key;       // the key its resolver keyed the message by, when known
};

// A partition assigned to this process that it does not read, and why: its state is not in
// this state directory (Kafka: the group has committed a position past this directory's, so
// the records before it were applied to another worker's state).
struct RefusedPartition {
  int32_t partition = 0;
  std::string reason;  // for a user to act on
};

class Source {
 public:
  virtual ~Source() = default;

  // Name used for the stored positions (the source's name in the resolver definitions).
  virtual const std::string& name() const = 0;

  // The state directory's own identity (created with it, kept for its life), given before
  // Seek: sources in a membership use it to be recognised across restarts (Kafka: static
  // group membership, `group.instance.id`, so that a restart moves no partition).
  virtual void SetInstanceId(const std::string& id) { (void)id; }

  // Continues after `positions` (as returned by Positions() of an earlier run).
  virtual Status Seek(const std::vector<SourcePosition>& positions) = 0;

  // Replaces `*batch` with up to `max_records` records. An empty batch with OK status and
  // AtEnd() true means the input is exhausted.
  virtual Status Poll(size_t max_records, std::vector<RawRecord>* batch) = 0;
  virtual bool AtEnd() const = 0;

  // Records longer than `max_bytes` are dead letters: the source need not read them whole,
  // and may hand out only their first bytes, with RawRecord::error naming their size. The
  // engine calls this with EngineOptions::max_message_bytes before the first Poll.
  virtual void LimitRecordBytes(size_t max_bytes) { (void)max_bytes; }

  // Called for an unterminated record that does not decode: it may still be being written,
  // so the source stops before it and delivers it again in a later run.
  virtual void DeferIncomplete(const RawRecord& record) { (void)record; }

  // The position after the last record returned by Poll.
  virtual std::vector<SourcePosition> Positions() const = 0;

  // Messages after `next_offset` in `partition` that are already in the source (Kafka: the
  // high watermark minus the position), or -1 when unknown. Must not block.
  virtual int64_t Lag(int32_t partition, int64_t next_offset) const {
    (void)partition;
    (void)next_offset;
    return -1;
  }

  // The partitions assigned to this process that it does not read (RefusedPartition), as of
  // the last Poll. AtEnd() does not wait for them.
  virtual std::vector<RefusedPartition> Refused() const { return {}; }

  // Records skipped for arriving later than the source's deadline, since the source opened.
  virtual uint64_t SkippedLate() const { return 0; }

  // Sources with a dead-letter destination of their own (a Kafka DLQ topic) return true;
  // their dead letters go to PublishDeadLetters instead of the state directory.
  virtual bool PublishesDeadLetters() const { return false; }
  // REQUIRES: PublishesDeadLetters(). Returns OK once every letter is durably published; the
  // engine calls it before the checkpoint that moves past the letters commits.
  virtual Status PublishDeadLetters(const std::vector<DeadLetter>& letters) {
    (void)letters;
    return Status::InvalidArgument("source " + name() + " has no dead-letter destination");
  }

  // Called after a checkpoint with these positions committed to the state store, e.g. to
  // report them to Kafka for lag tools. The state store stays the source of truth.
  virtual void Committed(const std::vector<SourcePosition>& positions) { (void)positions; }
};

// Opens a JSON Lines file as the single-partition source `name` (docs/semantics.md has the
// record format). Fails with NotFound when the file cannot be read.
Status OpenFileSource(std::string name, const std::string& path, std::unique_ptr<Source>* source);

struct KafkaSourceOptions {
  std::string name;  // the source's name in the resolver definitions
  std::string topic;
  std::string group_id;
  // librdkafka properties, e.g. {"bootstrap.servers", "127.0.0.1:9092"}; these win over
  // statefold's defaults.
  std::vector<std::pair<std::string, std::string>> properties;
  // AtEnd() once every assigned partition is caught up or refused (backfills and tests);
  // otherwise the source never ends and the run stops on a signal. With only some of the
  // topic's partitions assigned, the assignment must also have held for a group session
  // timeout: a consumer that was killed keeps its partitions until then, and they must not be
  // mistaken for another live process's share.
  bool stop_at_end = false;
  // Dead letters of this source are produced to this topic (key, value and timestamp of the
  // message; headers statefold.source.{topic,partition,offset}, statefold.resolver and
  // statefold.error). Empty: they go to the state directory.
  std::string dead_letter_topic;
  // Records whose timestamp is older than this (against the wall clock) are skipped and
  // counted (SkippedLate); 0 keeps every record.
  int64_t late_arrival_deadline_ms = 0;
  // The group has one worker only (so that state keyed by a message field stays whole): a
  // Poll after an assignment of only some of the topic's partitions fails, naming them.
  bool single_worker = false;
};

// Opens a Kafka topic read in a consumer group (docs/operations.md). Fails with
// InvalidArgument naming the property when librdkafka rejects the configuration. The consumer
// joins the group at Seek, as static member SetInstanceId (unless the properties set
// `group.instance.id`). Each assigned partition starts at this state directory's position (none:
// the earliest offset), unless the group has committed an offset past it: then it is refused
// (Refused()), since its records before that offset were applied to another directory's state
// and reading on would give its keys partial state.
Status OpenKafkaSource(KafkaSourceOptions options, std::unique_ptr<Source>* source);

}  // namespace statefold
