// Produces a statefold JSONL file to a Kafka topic; run by `scripts/kafka-local produce`:
//   java -cp 'LIBS/*' Produce.java BOOTSTRAP TOPIC FILE.jsonl
// Each line {"key": "u1" | 7 | null, "value": {...} | "text", "timestamp": "ISO-8601" | epoch_ms}
// becomes one record: key = the key's text (none if null or absent), value = the value
// object's JSON text exactly as written (or the string payload), timestamp = the timestamp in
// ms (ISO-8601 without an offset is UTC; none: the producer's clock). Blank lines are skipped.
// Creates the topic (4 partitions) if it does not exist. Prints the number of records.

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Produce {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: Produce BOOTSTRAP TOPIC FILE.jsonl");
      System.exit(2);
    }
    String bootstrap = args[0], topic = args[1];
    List<String> lines = Files.readAllLines(Path.of(args[2]), StandardCharsets.UTF_8);
    JsonFactory json = new JsonFactory();
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) continue;
      try {
        records.add(parse(json, topic, lines.get(i)));
      } catch (Exception e) {
        System.err.println(args[2] + ":" + (i + 1) + ": " + e.getMessage());
        System.exit(1);
      }
    }

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      if (!admin.listTopics().names().get().contains(topic)) {
        try {
          admin.createTopics(Set.of(new NewTopic(topic, 4, (short) 1))).all().get();
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }
      }
    }

    Map<String, Object> config = Map.of(
        "bootstrap.servers", bootstrap, "acks", "all", "linger.ms", 5,
        "key.serializer", ByteArraySerializer.class, "value.serializer", ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (ProducerRecord<byte[], byte[]> r : records) sent.add(producer.send(r));
      for (Future<RecordMetadata> f : sent) f.get();  // throws on the first failed send
    }
    System.out.println(records.size());
  }

  static ProducerRecord<byte[], byte[]> parse(JsonFactory json, String topic, String line)
      throws Exception {
    byte[] key = null, value = null;
    Long timestamp = null;
    boolean hasValue = false;
    try (JsonParser p = json.createParser(line)) {
      if (p.nextToken() != JsonToken.START_OBJECT) throw new Exception("not a JSON object");
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken t = p.nextToken();
        switch (field) {
          case "key" -> {
            if (t == JsonToken.VALUE_STRING || t.isNumeric()) key = utf8(p.getText());
            else if (t != JsonToken.VALUE_NULL) throw new Exception("key must be a string, number or null");
          }
          case "value" -> {
            hasValue = true;
            if (t == JsonToken.VALUE_STRING) {
              value = utf8(p.getText());
            } else {
              int start = (int) p.currentTokenLocation().getCharOffset();
              p.skipChildren();
              value = utf8(line.substring(start, (int) p.currentLocation().getCharOffset()));
            }
          }
          case "timestamp" -> {
            if (t == JsonToken.VALUE_NUMBER_INT) timestamp = p.getLongValue();
            else if (t == JsonToken.VALUE_STRING) timestamp = parseIso(p.getText());
            else if (t != JsonToken.VALUE_NULL) throw new Exception("timestamp must be ISO-8601 or epoch ms");
          }
          default -> p.skipChildren();
        }
      }
    }
    if (!hasValue) throw new Exception("record has no \"value\" field");
    return new ProducerRecord<>(topic, null, timestamp, key, value);
  }

  static long parseIso(String s) throws Exception {
    String t = s.length() > 10 && s.charAt(10) == ' ' ? s.substring(0, 10) + "T" + s.substring(11) : s;
    t = t.replace(',', '.');
    try {
      return OffsetDateTime.parse(t).toInstant().toEpochMilli();
    } catch (Exception e) { /* try the forms without an offset */ }
    try {
      return LocalDateTime.parse(t).toInstant(ZoneOffset.UTC).toEpochMilli();
    } catch (Exception e) { /* a date alone */ }
    try {
      return LocalDate.parse(t).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
    } catch (Exception e) {
      throw new Exception("timestamp is not an ISO-8601 date-time: " + s);
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
