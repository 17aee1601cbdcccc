// DeadLetters and the dead-letter record: letters are committed in (source, partition, offset,
// resolver) order with sequence numbers that continue across runs, a source with its own
// destination gets its letters published instead, and stored records have a fixed JSON form.

#include "engine/dead_letters.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "state/dead_letter_record.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

// A source that only names itself and, optionally, publishes dead letters.
class NamedSource : public Source {
 public:
  NamedSource(std::string name, bool publishes) : name_(std::move(name)), publishes_(publishes) {}
  const std::string& name() const override { return name_; }
  Status Seek(const std::vector<SourcePosition>&) override { return Status::Ok(); }
  Status Poll(size_t, std::vector<RawRecord>* batch) override {
    batch->clear();
    return Status::Ok();
  }
  bool AtEnd() const override { return true; }
  std::vector<SourcePosition> Positions() const override { return {}; }
  bool PublishesDeadLetters() const override { return publishes_; }
  Status PublishDeadLetters(const std::vector<DeadLetter>& letters) override {
    if (fail) return Status::IOError("the dead-letter topic is unreachable");
    for (const DeadLetter& letter : letters) published.push_back(letter);
    return Status::Ok();
  }
  std::vector<DeadLetter> published;
  bool fail = false;

 private:
  std::string name_;
  bool publishes_;
};

RawRecord Line(int64_t offset, std::string_view bytes) {
  RawRecord record;
  record.offset = offset;
  record.bytes = bytes;
  return record;
}

class DeadLettersTest : public ::testing::Test {
 protected:
  std::vector<std::pair<uint64_t, std::string>> Stored() {
    std::vector<std::pair<uint64_t, std::string>> records;
    EXPECT_TRUE(dir_.store()
                    ->ScanDeadLetters([&](uint64_t sequence, std::string_view record) {
                      records.emplace_back(sequence, std::string(record));
                      return true;
                    })
                    .ok());
    return records;
  }
  void Commit(DeadLetters* letters) {
    CheckpointBatch batch(dir_.store());
    Status status = letters->Stage(&batch);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_TRUE(dir_.store()->Commit(&batch).ok());
    letters->Clear();
  }

  testing::TempStateDir dir_;
  NamedSource file_{"logins", false};
  NamedSource kafka_{"clicks", true};
};

TEST_F(DeadLettersTest, LettersAreStoredInSourcePartitionOffsetResolverOrder) {
  DeadLetters letters;
  ASSERT_TRUE(letters.Open(dir_.store(), {&file_}).ok());
  EpochLog log;
  RawRecord raw;
  raw.offset = 5;
  DecodedRecord decoded;
  decoded.has_key = true;
  decoded.key = "u1";
  decoded.value = R"({"ip":1})";
  const uint32_t index = log.Append(0, raw, decoded, 1234);
  letters.AddMessage(log, log[index], 1, "second", "", "failed too");
  letters.AddMessage(log, log[index], 0, "first", "user-1", "failed");
  letters.AddRecord(0, Line(7, "not json"), "record is not valid JSON");
  letters.AddRecord(0, Line(2, "{"), "record is not valid JSON");
  EXPECT_EQ(letters.pending(), 4u);
  Commit(&letters);
  std::vector<std::pair<uint64_t, std::string>> stored = Stored();
  ASSERT_EQ(stored.size(), 4u);
  EXPECT_EQ(stored[0].first, 0u);
  EXPECT_EQ(stored[0].second, R"({"source":"logins","partition":0,"offset":2,"resolver":null,)"
                              R"("key":null,"timestamp":null,"error":"record is not valid JSON",)"
                              R"("payload":"{","payload_base64":null})");
  EXPECT_EQ(stored[1].second,
            R"({"source":"logins","partition":0,"offset":5,"resolver":"first","key":"user-1",)"
            R"("timestamp":1234,"error":"failed","payload":"{\"ip\":1}","payload_base64":null})");
  // Without a key of its resolver's, the letter shows the record's key.
  EXPECT_EQ(stored[2].second,
            R"({"source":"logins","partition":0,"offset":5,"resolver":"second","key":"u1",)"
            R"("timestamp":1234,"error":"failed too","payload":"{\"ip\":1}",)"
            R"("payload_base64":null})");
  EXPECT_NE(stored[3].second.find(R"("offset":7)"), std::string::npos);

  // The next run numbers its letters after these.
  DeadLetters next_run;
  ASSERT_TRUE(next_run.Open(dir_.store(), {&file_}).ok());
  next_run.AddRecord(0, Line(9, "x"), "bad");
  Commit(&next_run);
  EXPECT_EQ(Stored().back().first, 4u);
}

TEST_F(DeadLettersTest, ASourceWithItsOwnDestinationGetsItsLettersPublished) {
  DeadLetters letters;
  ASSERT_TRUE(letters.Open(dir_.store(), {&file_, &kafka_}).ok());
  RawRecord record;
  record.enveloped = false;
  record.offset = 3;
  record.has_key = true;
  record.key = "k";
  const std::string value(10000, 'v');
  record.value = value;  // published whole, not truncated
  letters.AddRecord(1, record, "message of 10000 bytes exceeds the limit");
  letters.AddRecord(0, Line(1, "bad line"), "record is not valid JSON");

  kafka_.fail = true;
  CheckpointBatch failing(dir_.store());
  EXPECT_EQ(letters.Stage(&failing).code(), Status::Code::kIOError);

  kafka_.fail = false;
  Commit(&letters);
  ASSERT_EQ(kafka_.published.size(), 1u);
  EXPECT_EQ(kafka_.published[0].source, "clicks");
  EXPECT_EQ(kafka_.published[0].key, "k");
  EXPECT_EQ(kafka_.published[0].value.size(), 10000u);
  EXPECT_TRUE(kafka_.published[0].resolver.empty());
  std::vector<std::pair<uint64_t, std::string>> stored = Stored();
  ASSERT_EQ(stored.size(), 1u);  // the file source's only, numbered from 0
  EXPECT_EQ(stored[0].first, 0u);
  EXPECT_NE(stored[0].second.find(R"("source":"logins")"), std::string::npos);
}

TEST(DeadLetterRecordTest, AnUndecodableRecordKeepsItsFirstBytesCutAtACharacter) {
  DeadLetter letter;
  letter.source = "s";
  letter.error = "bad";
  letter.value = std::string(kDeadLetterMessageBytes - 1, 'a') + "\xc3\xa9" + "tail";
  std::string json;
  AppendDeadLetterRecord(letter, &json);
  // The two-byte character straddles the limit: the payload ends before it.
  EXPECT_NE(json.find("\"payload\":\"" + std::string(kDeadLetterMessageBytes - 1, 'a') +
                      "\",\"payload_base64\":null}"),
            std::string::npos);
}

TEST(DeadLetterRecordTest, BytesThatAreNotUtf8AreKeptInBase64) {
  DeadLetter letter;
  letter.source = "s";
  letter.error = "bad";
  letter.value = "caf\xc3";  // not UTF-8
  std::string json;
  AppendDeadLetterRecord(letter, &json);
  EXPECT_EQ(json, R"({"source":"s","partition":0,"offset":0,"resolver":null,"key":null,)"
                  R"("timestamp":null,"error":"bad","payload":null,"payload_base64":"Y2Fmww=="})");
  // A resolver's letter too (a native record's value may be any bytes).
  letter.resolver = "r";
  letter.value = "\xff";
  json.clear();
  AppendDeadLetterRecord(letter, &json);
  EXPECT_NE(json.find(R"("payload":null,"payload_base64":"/w=="})"), std::string::npos) << json;
}

// Whether a record did not decode or its resolver could not take it, a letter has the same
// members, so that one reader handles both.
TEST(DeadLetterRecordTest, EveryLetterHasTheSameMembers) {
  auto members = [](const DeadLetter& letter) {
    std::string json;
    AppendDeadLetterRecord(letter, &json);
    std::vector<std::string> names;
    for (size_t at = json.find("{\""); at != std::string::npos; at = json.find(",\"", at + 1)) {
      const size_t end = json.find('"', at + 2);
      names.push_back(json.substr(at + 2, end - at - 2));
    }
    return names;
  };
  DeadLetter record;
  record.source = "s";
  record.error = "e";
  record.value = "{";
  DeadLetter message = record;
  message.resolver = "r";
  message.has_key = true;
  message.key = "k";
  message.has_timestamp = true;
  message.value = "{}";
  const std::vector<std::string> expected = {"source",   "partition", "offset",
                                             "resolver", "key",       "timestamp",
                                             "error",    "payload",   "payload_base64"};
  EXPECT_EQ(members(record), expected);
  EXPECT_EQ(members(message), expected);
}

TEST(DeadLetterRecordTest, AMessageWithoutAnyKeyShowsNull) {
  DeadLetter letter;
  letter.source = "s";
  letter.resolver = "r";
  letter.error = "e";
  letter.value = "v";
  letter.has_timestamp = true;
  std::string json;
  AppendDeadLetterRecord(letter, &json);
  EXPECT_EQ(json, R"({"source":"s","partition":0,"offset":0,"resolver":"r","key":null,)"
                  R"("timestamp":0,"error":"e","payload":"v","payload_base64":null})");
}

}  // namespace
}  // namespace statefold
