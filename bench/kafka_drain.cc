// kafka_drain: the ceiling for the Kafka benchmark. Reads a topic from the beginning with
// librdkafka's high-level consumer (a fresh group, the same settings as statefold's source)
// and does nothing with the records; prints "<messages> <seconds>" once every partition is
// at its end, timed from subscribing (so, like statefold's run time, with the group join).
//
//   kafka_drain BOOTSTRAP TOPIC

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kafka_drain BOOTSTRAP TOPIC\n");
    return 2;
  }
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::string group =
      "kafka-drain-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  const char* properties[][2] = {{"bootstrap.servers", argv[1]},
                                 {"group.id", group.c_str()},
                                 {"enable.auto.commit", "false"},
                                 {"auto.offset.reset", "earliest"},
                                 {"enable.partition.eof", "true"}};
  for (auto& p : properties) {
    if (rd_kafka_conf_set(conf, p[0], p[1], error, sizeof error) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "%s\n", error);
      return 1;
    }
  }
  rd_kafka_t* kafka = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (kafka == nullptr) {
    std::fprintf(stderr, "%s\n", error);
    return 1;
  }
  rd_kafka_poll_set_consumer(kafka);
  auto start = std::chrono::steady_clock::now();
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(kafka, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_topic_t* topic = rd_kafka_topic_new(kafka, argv[2], nullptr);
  if (rd_kafka_metadata(kafka, 0, topic, &metadata, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "no metadata for %s\n", argv[2]);
    return 1;
  }
  size_t partitions = static_cast<size_t>(metadata->topics[0].partition_cnt);
  rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(topic);

  std::set<int32_t> at_end;
  uint64_t messages = 0;
  while (at_end.size() < partitions) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(kafka, 1000);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(message->partition);
    } else if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++messages;
      at_end.erase(message->partition);
    }
    rd_kafka_message_destroy(message);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu %.3f\n", static_cast<unsigned long long>(messages), seconds);
  rd_kafka_consumer_close(kafka);
  rd_kafka_destroy(kafka);
  return 0;
}
