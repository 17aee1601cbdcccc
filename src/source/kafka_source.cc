// KafkaSource on librdkafka's high-level consumer, with an eager rebalance callback that
// starts each assigned partition at the checkpointed position, or refuses it.

#include "source/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <random>

#include "statefold/coding.h"

namespace statefold {
namespace {

int64_t WallClockMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ErrorCallback(rd_kafka_t*, int error, const char* reason, void* opaque) {
  auto* last_error = static_cast<std::string*>(opaque);
  std::string text =
      std::string(rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error))) + ": " + reason;
  if (text != *last_error) {  // one line per change of condition, not per retry
    std::fprintf(stderr, "statefold: kafka: %s (retrying)\n", text.c_str());
    *last_error = text;
  }
}

}  // namespace

Status OpenKafkaSource(KafkaSourceOptions options, std::unique_ptr<Source>* source) {
  std::unique_ptr<KafkaSource> result(new KafkaSource(std::move(options)));
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  std::vector<std::pair<std::string, std::string>> properties = {
      {"group.id", result->options_.group_id},
      {"enable.auto.commit", "false"},  // offsets live in checkpoints
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "true"},
      {"partition.assignment.strategy", "range,roundrobin"},
      // librdkafka 2.0 pauses fetching for a second whenever a partition's queue holds this
      // many messages; at the default (100k) the engine waited on it about half the time.
      // The queue stays bounded by queued.max.messages.kbytes, per partition.
      {"queued.min.messages", "1000000"},
      {"queued.max.messages.kbytes", "16384"},
      {"log_level", "2"},  // errors come through ErrorCallback, once per condition
  };
  properties.insert(properties.end(), result->options_.properties.begin(),
                    result->options_.properties.end());
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("Kafka source " + result->options_.name + ": " + error);
    }
    if (key == "session.timeout.ms") result->session_timeout_ms_ = std::stoll(value);
    if (key == "group.instance.id") result->own_instance_id_ = true;
  }
  rd_kafka_conf_set_opaque(conf, result.get());
  rd_kafka_conf_set_rebalance_cb(
      conf, [](rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
               void* opaque) {
        static_cast<KafkaSource*>(opaque)->OnRebalance(
            error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, partitions);
      });
  rd_kafka_conf_set_error_cb(
      conf, [](rd_kafka_t* kafka, int err, const char* reason, void* opaque) {
        ErrorCallback(kafka, err, reason, &static_cast<KafkaSource*>(opaque)->last_error_);
      });
  result->conf_ = conf;
  *source = std::move(result);
  return Status::Ok();
}

KafkaSource::~KafkaSource() {
  ReleaseMessages();
  if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 10000);
    rd_kafka_destroy(producer_);
  }
  if (kafka_ != nullptr) {
    // The last checkpoint's positions, synchronously this time: the next owner of each
    // partition compares its own position with them (OwnershipProblem).
    rd_kafka_topic_partition_list_t* offsets = CommittableOffsets(committed_);
    if (offsets->cnt > 0) rd_kafka_commit(kafka_, offsets, /*async=*/0);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_consumer_close(kafka_);
    rd_kafka_destroy(kafka_);
  }
}

void KafkaSource::ReleaseMessages() {
  for (rd_kafka_message_t* message : held_) rd_kafka_message_destroy(message);
  held_.clear();
}

std::string KafkaSource::OwnershipProblem(const std::string& topic, const std::string& group,
                                          int32_t partition, int64_t local, int64_t committed) {
  if (committed < 0 || committed <= (local < 0 ? 0 : local)) return "";
  return "partition " + std::to_string(partition) + " of topic " + topic +
         " is not read here: " + "group " + group + " has committed offset " +
         std::to_string(committed) + " for it, and this state directory holds its state " +
         (local < 0 ? std::string("for none of its records")
                    : "only up to offset " + std::to_string(local)) +
         ", so the state of its records before " + std::to_string(committed) +
         " is in another worker's state directory; reading on would give its keys partial "
         "state (docs/operations.md, \"Running several workers\")";
}

void KafkaSource::OnRebalance(bool assign, rd_kafka_topic_partition_list_t* partitions) {
  if (!assign) {
    for (int i = 0; i < partitions->cnt; ++i) {
      assigned_.erase(partitions->elems[i].partition);
      at_end_.erase(partitions->elems[i].partition);
      refused_.erase(partitions->elems[i].partition);
    }
    rd_kafka_assign(kafka_, nullptr);
    return;
  }
  // The group's committed offsets: the last checkpoint of whichever worker read each
  // partition last. When they cannot be read, no partition is taken on trust.
  rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(partitions);
  const rd_kafka_resp_err_t error = rd_kafka_committed(kafka_, committed, 30000);
  rd_kafka_topic_partition_list_t* accepted = rd_kafka_topic_partition_list_new(partitions->cnt);
  for (int i = 0; i < partitions->cnt; ++i) {
    const int32_t partition = partitions->elems[i].partition;
    assigned_.insert(partition);
    const auto next = next_offsets_.find(partition);
    const int64_t local = next == next_offsets_.end() ? -1 : next->second;
    std::string problem;
    const rd_kafka_resp_err_t partition_error =
        error != RD_KAFKA_RESP_ERR_NO_ERROR ? error : committed->elems[i].err;
    if (partition_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      problem = "partition " + std::to_string(partition) + " of topic " + options_.topic +
                " is not read here: the group's committed offset for it could not be read (" +
                rd_kafka_err2str(partition_error) + "), so whether this state directory holds " +
                "its state is unknown";
    } else {
      problem = OwnershipProblem(options_.topic, options_.group_id, partition, local,
                                 committed->elems[i].offset);
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "statefold: kafka: %s\n", problem.c_str());
      refused_[partition] = std::move(problem);
      continue;
    }
    refused_.erase(partition);
    rd_kafka_topic_partition_list_add(accepted, options_.topic.c_str(), partition)->offset =
        local < 0 ? RD_KAFKA_OFFSET_BEGINNING : local;
  }
  rd_kafka_topic_partition_list_destroy(committed);
  assigned_at_ = std::chrono::steady_clock::now();
  rd_kafka_assign(kafka_, accepted);
  rd_kafka_topic_partition_list_destroy(accepted);
}

std::vector<RefusedPartition> KafkaSource::Refused() const {
  std::vector<RefusedPartition> refused;
  for (const auto& [partition, reason] : refused_) refused.push_back({partition, reason});
  return refused;
}

Status KafkaSource::Seek(const std::vector<SourcePosition>& positions) {
  for (const SourcePosition& p : positions) next_offsets_[p.partition] = p.next_offset;
  char text[512];
  if (!own_instance_id_ && !instance_id_.empty() &&
      rd_kafka_conf_set(conf_, "group.instance.id", instance_id_.c_str(), text, sizeof text) !=
          RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("Kafka source " + options_.name + ": " + text);
  }
  kafka_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf_, text, sizeof text);
  if (kafka_ == nullptr) {
    return Status::InvalidArgument("Kafka source " + options_.name + ": " + text);
  }
  conf_ = nullptr;  // the consumer's now
  rd_kafka_poll_set_consumer(kafka_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t error = rd_kafka_subscribe(kafka_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::IOError("cannot subscribe to Kafka topic " + options_.topic + ": " +
                           rd_kafka_err2str(error));
  }
  // The partition count tells a whole assignment from a share (see AtEnd). Unknown when the
  // broker is not up yet: AtEnd then waits a session timeout instead.
  rd_kafka_topic_t* topic = rd_kafka_topic_new(kafka_, options_.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(kafka_, 0, topic, &metadata, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      topic_partitions_ = metadata->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_topic_destroy(topic);
  return Status::Ok();
}

Status KafkaSource::Poll(size_t max_records, std::vector<RawRecord>* batch) {
  if (kafka_ == nullptr)
    return Status::InvalidArgument("Kafka source " + name() + ": Poll before Seek");
  ReleaseMessages();
  batch->clear();
  if (options_.single_worker && !assigned_.empty() &&
      static_cast<int>(assigned_.size()) < topic_partitions_ &&
      std::chrono::steady_clock::now() - assigned_at_ >=
          std::chrono::milliseconds(session_timeout_ms_)) {
    // Held for a session timeout: not a member that has just gone and not yet timed out.
    std::string partitions;
    for (int32_t partition : assigned_) {
      partitions += (partitions.empty() ? "" : ",") + std::to_string(partition);
    }
    return Status::InvalidArgument(
        "Kafka source " + name() + " is set to single_worker, but group " + options_.group_id +
        " gives this worker only partitions " + partitions + " of the " +
        std::to_string(topic_partitions_) + " of topic " + options_.topic +
        ": another worker is in the group, and state keyed by a message field would be split");
  }
  headers_.clear();
  std::vector<std::pair<size_t, size_t>> header_ranges;  // views are taken once headers_ is final
  // Wait up to 100 ms for a first message, then up to 5 ms more to fill the batch: full
  // batches keep the per-batch costs (resolver calls, clock reads) off the per-message path.
  int timeout_ms = 100;
  int64_t late_cutoff_ms = 0;  // read the clock once per batch
  auto fill_deadline = std::chrono::steady_clock::time_point::max();
  while (batch->size() < max_records) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(kafka_, timeout_ms);
    if (message == nullptr) break;
    if (fill_deadline == std::chrono::steady_clock::time_point::max()) {
      fill_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    }
    timeout_ms = std::chrono::steady_clock::now() < fill_deadline ? 1 : 0;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end_.insert(message->partition);
      rd_kafka_message_destroy(message);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Reported once per condition; librdkafka keeps retrying (the topic may yet appear, the
      // broker come back).
      ErrorCallback(kafka_, message->err, rd_kafka_message_errstr(message), &last_error_);
      rd_kafka_message_destroy(message);
      continue;
    }
    last_error_.clear();
    at_end_.erase(message->partition);
    next_offsets_[message->partition] = message->offset + 1;
    rd_kafka_timestamp_type_t type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    bool has_timestamp = type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0;
    if (options_.late_arrival_deadline_ms > 0 && has_timestamp) {
      if (late_cutoff_ms == 0)
        late_cutoff_ms = WallClockMillis() - options_.late_arrival_deadline_ms;
      if (timestamp < late_cutoff_ms) {
        ++skipped_late_;
        rd_kafka_message_destroy(message);
        continue;
      }
    }
    held_.push_back(message);
    RawRecord& record = batch->emplace_back();
    record.enveloped = false;
    record.partition = message->partition;
    record.offset = message->offset;
    record.has_key = message->key != nullptr;
    record.key = std::string_view(static_cast<const char*>(message->key), message->key_len);
    record.value = std::string_view(static_cast<const char*>(message->payload), message->len);
    record.has_timestamp = has_timestamp;
    record.timestamp_ms = timestamp;
    size_t headers_begin = headers_.size();
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      ByteWriter writer(&headers_);
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        writer.WriteString(name);
        writer.WriteBool(value != nullptr);
        if (value != nullptr)
          writer.WriteString(std::string_view(static_cast<const char*>(value), size));
      }
    }
    header_ranges.emplace_back(headers_begin, headers_.size() - headers_begin);
  }
  for (size_t i = 0; i < batch->size(); ++i) {
    (*batch)[i].headers =
        std::string_view(headers_).substr(header_ranges[i].first, header_ranges[i].second);
  }
  return Status::Ok();
}

bool KafkaSource::AtEnd() const {
  if (!options_.stop_at_end || assigned_.empty()) return false;
  for (int32_t partition : assigned_) {
    if (!at_end_.count(partition) && !refused_.count(partition)) return false;
  }
  if (static_cast<int>(assigned_.size()) == topic_partitions_) return true;
  return std::chrono::steady_clock::now() - assigned_at_ >=
         std::chrono::milliseconds(session_timeout_ms_);
}

std::vector<SourcePosition> KafkaSource::Positions() const {
  std::vector<SourcePosition> positions;
  for (const auto& [partition, next] : next_offsets_) {
    positions.push_back(SourcePosition{partition, next, 0});
  }
  return positions;
}

int64_t KafkaSource::Lag(int32_t partition, int64_t next_offset) const {
  int64_t low = -1, high = -1;  // cached from fetch responses: no request
  if (kafka_ == nullptr ||
      rd_kafka_get_watermark_offsets(kafka_, options_.topic.c_str(), partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return -1;
  }
  return high > next_offset ? high - next_offset : 0;
}

rd_kafka_topic_partition_list_t* KafkaSource::CommittableOffsets(
    const std::vector<SourcePosition>& positions) const {
  rd_kafka_topic_partition_list_t* offsets =
      rd_kafka_topic_partition_list_new(static_cast<int>(positions.size()));
  for (const SourcePosition& p : positions) {
    // Only partitions read here: a refused one's position in this directory is behind the
    // group's, which must never go back.
    if (!assigned_.count(p.partition) || refused_.count(p.partition)) continue;
    rd_kafka_topic_partition_list_add(offsets, options_.topic.c_str(), p.partition)->offset =
        p.next_offset;
  }
  return offsets;
}

void KafkaSource::Committed(const std::vector<SourcePosition>& positions) {
  if (kafka_ == nullptr) return;
  committed_ = positions;
  rd_kafka_topic_partition_list_t* offsets = CommittableOffsets(positions);
  if (offsets->cnt > 0) rd_kafka_commit(kafka_, offsets, /*async=*/1);
  rd_kafka_topic_partition_list_destroy(offsets);
}

Status KafkaSource::PublishDeadLetters(const std::vector<DeadLetter>& letters) {
  char error[512];
  if (producer_ == nullptr) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::vector<std::pair<std::string, std::string>> properties = {{"acks", "all"},
                                                                   {"log_level", "3"}};
    properties.insert(properties.end(), options_.properties.begin(), options_.properties.end());
    for (const auto& [key, value] : properties) {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) !=
          RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return Status::InvalidArgument("dead-letter producer of " + options_.name + ": " + error);
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf,
                                [](rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
                                  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                                    ++static_cast<KafkaSource*>(opaque)->failed_deliveries_;
                                  }
                                });
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (producer_ == nullptr) {
      return Status::InvalidArgument("dead-letter producer of " + options_.name + ": " + error);
    }
  }
  failed_deliveries_ = 0;
  for (const DeadLetter& letter : letters) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(5);
    std::string partition = std::to_string(letter.partition);
    std::string offset = std::to_string(letter.offset);
    rd_kafka_header_add(headers, "statefold.source.topic", -1, options_.topic.data(),
                        static_cast<ssize_t>(options_.topic.size()));
    rd_kafka_header_add(headers, "statefold.source.partition", -1, partition.data(),
                        static_cast<ssize_t>(partition.size()));
    rd_kafka_header_add(headers, "statefold.source.offset", -1, offset.data(),
                        static_cast<ssize_t>(offset.size()));
    rd_kafka_header_add(headers, "statefold.resolver", -1, letter.resolver.data(),
                        static_cast<ssize_t>(letter.resolver.size()));
    rd_kafka_header_add(headers, "statefold.error", -1, letter.error.data(),
                        static_cast<ssize_t>(letter.error.size()));
    rd_kafka_resp_err_t status = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(options_.dead_letter_topic.c_str()),
        RD_KAFKA_V_KEY(letter.has_key ? letter.key.data() : nullptr,
                       letter.has_key ? letter.key.size() : 0),
        RD_KAFKA_V_VALUE(const_cast<char*>(letter.value.data()), letter.value.size()),
        RD_KAFKA_V_TIMESTAMP(letter.timestamp_ms), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (status != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(headers);  // not taken over on failure
      return Status::IOError("cannot produce to dead-letter topic " + options_.dead_letter_topic +
                             ": " + rd_kafka_err2str(status));
    }
  }
  rd_kafka_resp_err_t flushed = rd_kafka_flush(producer_, 60000);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || failed_deliveries_ > 0) {
    return Status::IOError("dead letters were not all delivered to topic " +
                           options_.dead_letter_topic + " (" + std::to_string(failed_deliveries_) +
                           " failed)");
  }
  return Status::Ok();
}

}  // namespace statefold
