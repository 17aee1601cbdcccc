// KafkaSource: a Kafka topic read with librdkafka in a consumer group. Records are native
// (key, value, timestamp, headers). The consumer is made at Seek, as a static member of the
// group (group.instance.id: the state directory's id), so that a restart within the session
// timeout moves no partition. Where each assigned partition starts: this state directory's
// position (none: the earliest offset), unless the group's committed offset is past it; then
// the partition is refused (not read here: see Source::Refused), because its state is in
// another worker's directory.
// After each checkpoint the positions of the partitions read here are also committed to the
// group (asynchronously; once more, synchronously, when the source closes): the committed
// offset is how the next owner of a partition tells whether it holds the partition's state.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "statefold/source.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;
typedef struct rd_kafka_topic_partition_list_s rd_kafka_topic_partition_list_t;

namespace statefold {

// Opened through OpenKafkaSource (statefold/source.h), the one entry point.
class KafkaSource : public Source {
 public:
  ~KafkaSource() override;

  const std::string& name() const override { return options_.name; }
  void SetInstanceId(const std::string& id) override { instance_id_ = id; }
  Status Seek(const std::vector<SourcePosition>& positions) override;
  Status Poll(size_t max_records, std::vector<RawRecord>* batch) override;
  bool AtEnd() const override;
  std::vector<SourcePosition> Positions() const override;
  void Committed(const std::vector<SourcePosition>& positions) override;
  int64_t Lag(int32_t partition, int64_t next_offset) const override;
  std::vector<RefusedPartition> Refused() const override;
  uint64_t SkippedLate() const override { return skipped_late_; }
  bool PublishesDeadLetters() const override { return !options_.dead_letter_topic.empty(); }
  Status PublishDeadLetters(const std::vector<DeadLetter>& letters) override;

  // librdkafka's rebalance callback: starts assigned partitions at the stored positions, or
  // refuses them.
  void OnRebalance(bool assign, rd_kafka_topic_partition_list_t* partitions);

  // Whether a partition whose position in this state directory is `local` (-1: none) may be
  // read here when the group's committed offset for it is `committed` (-1: none): empty when
  // it may, else the reason it may not (RefusedPartition::reason).
  static std::string OwnershipProblem(const std::string& topic, const std::string& group,
                                      int32_t partition, int64_t local, int64_t committed);

 private:
  friend Status OpenKafkaSource(KafkaSourceOptions options, std::unique_ptr<Source>* source);
  explicit KafkaSource(KafkaSourceOptions options) : options_(std::move(options)) {}
  void ReleaseMessages();
  // `positions` of the partitions read here, as a list to commit to the group.
  rd_kafka_topic_partition_list_t* CommittableOffsets(
      const std::vector<SourcePosition>& positions) const;

  KafkaSourceOptions options_;
  rd_kafka_conf_t* conf_ = nullptr;  // validated at open; the consumer takes it at Seek
  bool own_instance_id_ = false;     // the properties set group.instance.id
  std::string instance_id_;          // SetInstanceId
  rd_kafka_t* kafka_ = nullptr;
  rd_kafka_t* producer_ = nullptr;  // for dead letters, made on first use
  int failed_deliveries_ = 0;
  uint64_t skipped_late_ = 0;
  std::vector<rd_kafka_message_t*> held_;  // messages whose views the last batch hands out
  std::string headers_;                    // the last batch's encoded headers
  // Per partition, the offset after the last record handed out (initially: the checkpoint's);
  // an assigned partition resumes there.
  std::map<int32_t, int64_t> next_offsets_;
  std::set<int32_t> assigned_;
  std::chrono::steady_clock::time_point assigned_at_;  // of the latest assignment
  int topic_partitions_ = -1;                          // from metadata, once known
  int64_t session_timeout_ms_ = 45000;
  std::set<int32_t> at_end_;                // assigned partitions caught up
  std::map<int32_t, std::string> refused_;  // assigned partitions not read here, and why
  std::vector<SourcePosition> committed_;   // last given to Committed()
  std::string last_error_;
};

}  // namespace statefold
