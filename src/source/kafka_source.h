// KafkaSource: a Kafka topic read with librdkafka in a consumer group. Records are native
// (key, value, timestamp, headers). Where each assigned partition starts:
// the position of this process's last record or checkpoint when there is one (the state
// directory is the source of truth: exactly-once state), else the group's committed offset,
// else the earliest offset.
// After each checkpoint the positions are also committed to Kafka, so lag tools see them.
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
typedef struct rd_kafka_message_s rd_kafka_message_t;
typedef struct rd_kafka_topic_partition_list_s rd_kafka_topic_partition_list_t;

namespace statefold {

// Opened through OpenKafkaSource (statefold/source.h), the one entry point.
class KafkaSource : public Source {
 public:
  ~KafkaSource() override;

  const std::string& name() const override { return options_.name; }
  Status Seek(const std::vector<SourcePosition>& positions) override;
  Status Poll(size_t max_records, std::vector<RawRecord>* batch) override;
  bool AtEnd() const override;
  std::vector<SourcePosition> Positions() const override;
  void Committed(const std::vector<SourcePosition>& positions) override;
  int64_t Lag(int32_t partition, int64_t next_offset) const override;
  uint64_t SkippedLate() const override { return skipped_late_; }
  bool PublishesDeadLetters() const override { return !options_.dead_letter_topic.empty(); }
  Status PublishDeadLetters(const std::vector<DeadLetter>& letters) override;

  // librdkafka's rebalance callback: starts assigned partitions at the stored positions.
  void OnRebalance(bool assign, rd_kafka_topic_partition_list_t* partitions);

 private:
  friend Status OpenKafkaSource(KafkaSourceOptions options, std::unique_ptr<Source>* source);
  explicit KafkaSource(KafkaSourceOptions options) : options_(std::move(options)) {}
  void ReleaseMessages();

  KafkaSourceOptions options_;
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
  std::set<int32_t> at_end_;  // assigned partitions caught up
  std::string last_error_;
};

}  // namespace statefold
