// StateStore on a real RocksDB database in a scratch directory: the three open modes and the
// writer's lock, a CheckpointBatch committed at once across the column families, and the
// readers of each family (states in key order, metadata, source positions, online entries,
// dead letters), ResetResolver, and what a reopened store shows.

#include "state/state_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "scratch_dir.h"
#include "state/dead_letter_record.h"
#include "state/state_layout.h"
#include "temp_state_dir.h"

namespace statefold {
namespace {

// A dead letter at `offset`, and the record the store keeps of it.
DeadLetter Letter(int64_t offset) {
  DeadLetter letter;
  letter.source = "logins";
  letter.offset = offset;
  letter.error = "bad";
  return letter;
}
std::string Record(const DeadLetter& letter) {
  std::string json;
  AppendDeadLetterRecord(letter, &json);
  return json;
}

using namespace std::string_view_literals;  // "a\0b"sv keeps its zero bytes
using Entries = std::vector<std::pair<std::string, std::string>>;

class StateStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<StateStore> Open(StateStore::Mode mode = StateStore::Mode::kReadWrite) {
    StateStore::Options options;
    options.mode = mode;
    options.create_if_missing = mode == StateStore::Mode::kReadWrite;
    std::unique_ptr<StateStore> store;
    Status status = StateStore::Open(dir_ / "state", options, &store);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return store;
  }

  static Entries States(StateStore* store, std::string_view resolver) {
    Entries states;
    Status status = store->ScanStates(resolver, [&](std::string_view key, std::string_view value) {
      states.emplace_back(key, value);
      return true;
    });
    EXPECT_TRUE(status.ok()) << status.ToString();
    return states;
  }
  // The stored state of `key`, or "<none>".
  static std::string StateOf(StateStore* store, std::string_view resolver, std::string_view key) {
    std::string value;
    bool found = false;
    Status status = store->GetState(resolver, key, &value, &found);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return found ? value : "<none>";
  }
  static std::string Meta(StateStore* store, std::string_view name) {
    std::string value;
    bool found = false;
    Status status = store->GetMeta(name, &value, &found);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return found ? value : "<none>";
  }
  static Entries Online(StateStore* store, std::string_view prefix) {
    Entries entries;
    EXPECT_TRUE(store
                    ->ScanOnline(prefix,
                                 [&](std::string_view key, std::string_view value) {
                                   entries.emplace_back(key, value);
                                   return true;
                                 })
                    .ok());
    return entries;
  }
  static std::vector<std::pair<uint64_t, std::string>> DeadLetters(StateStore* store) {
    std::vector<std::pair<uint64_t, std::string>> letters;
    EXPECT_TRUE(store
                    ->ScanDeadLetters([&](uint64_t sequence, std::string_view json) {
                      letters.emplace_back(sequence, json);
                      return true;
                    })
                    .ok());
    return letters;
  }
  // The positions of `source` as "partition:next_offset:byte_position", sorted.
  static std::vector<std::string> Positions(StateStore* store, std::string_view source) {
    std::vector<SourcePosition> positions;
    Status status = store->GetPositions(source, &positions);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::vector<std::string> text;
    for (const SourcePosition& p : positions) {
      text.push_back(std::to_string(p.partition) + ":" + std::to_string(p.next_offset) + ":" +
                     std::to_string(p.byte_position));
    }
    std::sort(text.begin(), text.end());
    return text;
  }

  ScratchDir dir_{"statefold-state-store-test"};
};

TEST_F(StateStoreTest, AWriterCreatesTheDirectory) {
  ASSERT_FALSE(std::filesystem::exists(dir_ / "state"));
  std::unique_ptr<StateStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir_ / "state") / "CURRENT"));
  EXPECT_EQ(StateOf(store.get(), "r", "k"), "<none>");
  EXPECT_EQ(Meta(store.get(), "anything"), "<none>");
  EXPECT_TRUE(Positions(store.get(), "logins").empty());
  EXPECT_TRUE(DeadLetters(store.get()).empty());
}

TEST_F(StateStoreTest, ReadersOfAMissingDirectoryGetNotFoundAndCreateNothing) {
  for (StateStore::Mode mode : {StateStore::Mode::kReadOnly, StateStore::Mode::kFollower}) {
    StateStore::Options options;
    options.mode = mode;
    std::unique_ptr<StateStore> store;
    Status status = StateStore::Open(dir_ / "state", options, &store);
    EXPECT_TRUE(status.IsNotFound()) << status.ToString();
    EXPECT_NE(status.message().find("no statefold state in"), std::string::npos)
        << status.message();
    EXPECT_EQ(store, nullptr);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "state"));
  }
}

TEST_F(StateStoreTest, TheLockRefusesASecondWriterUntilTheFirstCloses) {
  std::unique_ptr<StateStore> first = Open();
  std::unique_ptr<StateStore> second;
  Status status = StateStore::Open(dir_ / "state", testing::WriterOptions(), &second);
  EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
  EXPECT_NE(status.message().find("is in use by another statefold process"), std::string::npos)
      << status.message();
  EXPECT_EQ(second, nullptr);
  // Readers may open beside the writer.
  EXPECT_NE(Open(StateStore::Mode::kReadOnly), nullptr);
  EXPECT_NE(Open(StateStore::Mode::kFollower), nullptr);
  first.reset();
  EXPECT_NE(Open(), nullptr);
}

// The directory's identity (Kafka's group.instance.id): made once, kept across opens, its
// own per directory.
TEST_F(StateStoreTest, TheInstanceIdIsMadeOnceAndKeptForTheDirectorysLife) {
  std::string first, again, reread;
  {
    std::unique_ptr<StateStore> store = Open();
    ASSERT_TRUE(store->InstanceId(&first).ok());
    ASSERT_TRUE(store->InstanceId(&again).ok());
  }
  EXPECT_EQ(first.size(), 10u + 32u);
  EXPECT_EQ(first.rfind("statefold-", 0), 0u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef", 10), std::string::npos);
  EXPECT_EQ(again, first);
  std::unique_ptr<StateStore> store = Open();
  ASSERT_TRUE(store->InstanceId(&reread).ok());
  EXPECT_EQ(reread, first);
  std::unique_ptr<StateStore> other;
  ASSERT_TRUE(StateStore::Open(dir_ / "other", testing::WriterOptions(), &other).ok());
  std::string other_id;
  ASSERT_TRUE(other->InstanceId(&other_id).ok());
  EXPECT_NE(other_id, first);
}

TEST_F(StateStoreTest, ACheckpointCommitsAcrossEveryColumnFamilyAtOnce) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  batch.PutState("r", "u1", "state-1");
  batch.PutOnline("user\0u1\0count"sv, "value-1");
  batch.PutDeadLetter(7, Letter(3));
  batch.PutMeta("keys/r", "1");
  batch.PutPositions("logins", {{0, 4, 120}});
  // Staged, not written.
  EXPECT_EQ(StateOf(store.get(), "r", "u1"), "<none>");
  EXPECT_TRUE(Online(store.get(), "").empty());
  EXPECT_TRUE(DeadLetters(store.get()).empty());
  EXPECT_EQ(Meta(store.get(), "keys/r"), "<none>");
  EXPECT_TRUE(Positions(store.get(), "logins").empty());

  ASSERT_TRUE(store->Commit(&batch).ok());
  EXPECT_EQ(StateOf(store.get(), "r", "u1"), "state-1");
  EXPECT_EQ(Online(store.get(), ""), (Entries{{std::string("user\0u1\0count"sv), "value-1"}}));
  EXPECT_EQ(DeadLetters(store.get()),
            (std::vector<std::pair<uint64_t, std::string>>{{7, Record(Letter(3))}}));
  EXPECT_EQ(Meta(store.get(), "keys/r"), "1");
  EXPECT_EQ(Positions(store.get(), "logins"), std::vector<std::string>{"0:4:120"});
}

TEST_F(StateStoreTest, CommitClearsTheBatchForTheNextCheckpoint) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  batch.PutState("r", "u1", "first");
  batch.PutMeta(state_layout::SchemaKey("r"), "{schema}");
  ASSERT_TRUE(store->Commit(&batch).ok());
  ASSERT_TRUE(store->ResetResolver("r").ok());
  batch.PutState("r", "u2", "second");
  ASSERT_TRUE(store->Commit(&batch).ok());
  // The second commit wrote only what was staged after the first.
  EXPECT_EQ(States(store.get(), "r"), (Entries{{"u2", "second"}}));
}

TEST_F(StateStoreTest, ABatchThatIsNotCommittedWritesNothing) {
  {
    std::unique_ptr<StateStore> store = Open();
    CheckpointBatch batch(store.get());
    batch.PutState("r", "u1", "never");
    batch.PutMeta("keys/r", "1");
  }
  std::unique_ptr<StateStore> store = Open();
  EXPECT_TRUE(States(store.get(), "r").empty());
  EXPECT_EQ(Meta(store.get(), "keys/r"), "<none>");
}

TEST_F(StateStoreTest, AReopenedStoreShowsTheCommittedCheckpoints) {
  {
    std::unique_ptr<StateStore> store = Open();
    CheckpointBatch batch(store.get());
    batch.PutState("r", "u1", "old");
    ASSERT_TRUE(store->Commit(&batch).ok());
    ASSERT_TRUE(store->Flush().ok());  // this one from a table file, the next from the log
    batch.PutState("r", "u1", "new");
    batch.PutState("r", "u2", "two");
    ASSERT_TRUE(store->Commit(&batch).ok());
  }
  for (StateStore::Mode mode :
       {StateStore::Mode::kReadWrite, StateStore::Mode::kReadOnly, StateStore::Mode::kFollower}) {
    std::unique_ptr<StateStore> store = Open(mode);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(States(store.get(), "r"), (Entries{{"u1", "new"}, {"u2", "two"}}));
  }
}

TEST_F(StateStoreTest, AReadOnlyStoreIsASnapshotAndAFollowerCatchesUp) {
  std::unique_ptr<StateStore> writer = Open();
  CheckpointBatch batch(writer.get());
  batch.PutState("r", "u1", "1");
  ASSERT_TRUE(writer->Commit(&batch).ok());
  std::unique_ptr<StateStore> snapshot = Open(StateStore::Mode::kReadOnly);
  std::unique_ptr<StateStore> follower = Open(StateStore::Mode::kFollower);
  batch.PutState("r", "u1", "2");
  ASSERT_TRUE(writer->Commit(&batch).ok());

  EXPECT_EQ(StateOf(snapshot.get(), "r", "u1"), "1");
  EXPECT_TRUE(snapshot->CatchUp().ok());  // does nothing outside follower mode
  EXPECT_EQ(StateOf(snapshot.get(), "r", "u1"), "1");
  EXPECT_EQ(StateOf(follower.get(), "r", "u1"), "1");
  bool must_reopen = true;
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_FALSE(must_reopen);  // nothing was flushed
  EXPECT_EQ(StateOf(follower.get(), "r", "u1"), "2");

  ASSERT_TRUE(writer->Flush().ok());
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_TRUE(must_reopen);
  ASSERT_TRUE(follower->CatchUp(&must_reopen).ok());
  EXPECT_FALSE(must_reopen);  // reported once per flush
}

TEST_F(StateStoreTest, ScanStatesVisitsOneResolversKeysInByteOrder) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  for (const char* key : {"b", "a", "ab", "B", "\xff", ""}) batch.PutState("r", key, key);
  batch.PutState("r2", "a", "other resolver");
  batch.PutState("q", "z", "other resolver");
  batch.PutState("r", "a\0b"sv, "embedded zero");
  ASSERT_TRUE(store->Commit(&batch).ok());

  Entries states = States(store.get(), "r");
  std::vector<std::string> keys;
  for (const auto& [key, value] : states) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"", "B", "a", std::string("a\0b"sv), "ab", "b", "\xff"}));
  EXPECT_EQ(States(store.get(), "r2"), (Entries{{"a", "other resolver"}}));

  // The visitor stops the scan by returning false.
  int visited = 0;
  ASSERT_TRUE(
      store->ScanStates("r", [&](std::string_view, std::string_view) { return ++visited < 2; })
          .ok());
  EXPECT_EQ(visited, 2);
}

TEST_F(StateStoreTest, ResetResolverDeletesItsStatesSchemaAndKeyCountOnly) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  for (const char* resolver : {"r", "r2"}) {
    batch.PutState(resolver, "u1", "state");
    batch.PutState(resolver, "u2", "state");
    batch.PutMeta(state_layout::SchemaKey(resolver), "{schema}");
    batch.PutMeta(state_layout::SchemaKey(resolver) + "/old", "{older schema}");
    batch.PutMeta(state_layout::KeyCountKey(resolver), "2");
  }
  batch.PutPositions("logins", {{0, 2, 50}});
  batch.PutOnline("user\0u1\0count"sv, "value");
  batch.PutDeadLetter(0, Letter(0));
  ASSERT_TRUE(store->Commit(&batch).ok());

  ASSERT_TRUE(store->ResetResolver("r").ok());
  EXPECT_TRUE(States(store.get(), "r").empty());
  EXPECT_EQ(Meta(store.get(), state_layout::SchemaKey("r")), "<none>");
  EXPECT_EQ(Meta(store.get(), state_layout::SchemaKey("r") + "/old"), "<none>");
  EXPECT_EQ(Meta(store.get(), state_layout::KeyCountKey("r")), "<none>");
  // Another resolver, the source positions, features and dead letters stay.
  EXPECT_EQ(States(store.get(), "r2").size(), 2u);
  EXPECT_EQ(Meta(store.get(), state_layout::SchemaKey("r2")), "{schema}");
  EXPECT_EQ(Meta(store.get(), state_layout::SchemaKey("r2") + "/old"), "{older schema}");
  EXPECT_EQ(Meta(store.get(), state_layout::KeyCountKey("r2")), "2");
  EXPECT_EQ(Positions(store.get(), "logins"), std::vector<std::string>{"0:2:50"});
  EXPECT_EQ(Online(store.get(), "").size(), 1u);
  EXPECT_EQ(DeadLetters(store.get()).size(), 1u);
  // Resetting a resolver without state is an error that names those with state.
  Status unknown = store->ResetResolver("never-ran");
  EXPECT_TRUE(unknown.IsNotFound()) << unknown.ToString();
  EXPECT_NE(unknown.message().find("resolver never-ran has no stored state"), std::string::npos)
      << unknown.message();
  EXPECT_NE(unknown.message().find("(resolvers with stored state: r2)"), std::string::npos)
      << unknown.message();
}

TEST_F(StateStoreTest, PositionsAreKeptPerSourceAndPartitionAndTheLatestWins) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  batch.PutPositions("logins", {{0, 10, 0}, {3, 7, 0}, {12, 1, 0}});
  batch.PutPositions("log", {{0, 99, 4096}});  // a name that is a prefix of another
  ASSERT_TRUE(store->Commit(&batch).ok());
  EXPECT_EQ(Positions(store.get(), "logins"),
            (std::vector<std::string>{"0:10:0", "12:1:0", "3:7:0"}));
  EXPECT_EQ(Positions(store.get(), "log"), std::vector<std::string>{"0:99:4096"});

  batch.PutPositions("logins", {{3, 8, 0}});
  ASSERT_TRUE(store->Commit(&batch).ok());
  EXPECT_EQ(Positions(store.get(), "logins"),
            (std::vector<std::string>{"0:10:0", "12:1:0", "3:8:0"}));
  EXPECT_TRUE(Positions(store.get(), "clicks").empty());
}

TEST_F(StateStoreTest, MetaAndOnlineEntriesAreReadBackByNameAndPrefix) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  batch.PutMeta(state_layout::kRunStatusKey, R"({"messages":3})");
  batch.PutOnline("user\0u1\0a"sv, "1");
  batch.PutOnline("user\0u1\0b"sv, "2");
  batch.PutOnline("user\0u10\0a"sv, "3");
  ASSERT_TRUE(store->Commit(&batch).ok());
  EXPECT_EQ(Meta(store.get(), state_layout::kRunStatusKey), R"({"messages":3})");
  EXPECT_EQ(Online(store.get(), "user\0u1\0"sv),
            (Entries{{std::string("user\0u1\0a"sv), "1"}, {std::string("user\0u1\0b"sv), "2"}}));
  EXPECT_EQ(Online(store.get(), "user").size(), 3u);
}

TEST_F(StateStoreTest, DeadLettersAreScannedInSequenceOrder) {
  std::unique_ptr<StateStore> store = Open();
  CheckpointBatch batch(store.get());
  for (uint64_t sequence : {300ull, 2ull, 1ull << 40, 255ull, 256ull}) {
    batch.PutDeadLetter(sequence, Letter(static_cast<int64_t>(sequence)));
  }
  ASSERT_TRUE(store->Commit(&batch).ok());
  std::vector<uint64_t> sequences;
  for (const auto& [sequence, json] : DeadLetters(store.get())) {
    EXPECT_EQ(json, Record(Letter(static_cast<int64_t>(sequence))));
    sequences.push_back(sequence);
  }
  EXPECT_EQ(sequences, (std::vector<uint64_t>{2, 255, 256, 300, 1ull << 40}));
}

}  // namespace
}  // namespace statefold
