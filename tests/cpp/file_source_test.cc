// FileSource over real files in a scratch directory: lines handed out in batches with their
// line numbers as offsets, positions that resume a later run by byte position, an
// unterminated last line deferred to the next run, and lines longer than the read chunk.

#include "source/file_source.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace statefold {
namespace {

using Records = std::vector<std::string>;

class FileSourceTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, const std::string& name = "input.jsonl") {
    std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  std::unique_ptr<Source> Open(const std::string& path) {
    std::unique_ptr<Source> source;
    Status status = OpenFileSource("logins", path, &source);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return source;
  }
  // One Poll, as "offset:bytes" (with a trailing "~" for an unterminated record).
  static std::vector<std::string> Poll(Source* source, size_t max_records) {
    std::vector<RawRecord> batch;
    Status status = source->Poll(max_records, &batch);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::vector<std::string> records;
    for (const RawRecord& r : batch) {
      EXPECT_EQ(r.partition, 0);
      EXPECT_TRUE(r.enveloped);
      records.push_back(std::to_string(r.offset) + ":" + std::string(r.bytes) +
                        (r.unterminated ? "~" : ""));
    }
    return records;
  }
  // Polls until the source is at its end: every record, as Poll gives them.
  static std::vector<std::string> PollToTheEnd(Source* source) {
    std::vector<std::string> records;
    while (!source->AtEnd()) {
      std::vector<std::string> batch = Poll(source, 10);
      records.insert(records.end(), batch.begin(), batch.end());
    }
    return records;
  }
  static std::string Position(const Source& source) {
    std::vector<SourcePosition> positions = source.Positions();
    EXPECT_EQ(positions.size(), 1u);
    return std::to_string(positions.at(0).partition) + ":" +
           std::to_string(positions.at(0).next_offset) + ":" +
           std::to_string(positions.at(0).byte_position);
  }

  ScratchDir dir_{"statefold-file-source-test"};
};

TEST_F(FileSourceTest, AMissingFileIsNotFound) {
  std::unique_ptr<Source> source;
  Status status = OpenFileSource("logins", dir_ / "nothing.jsonl", &source);
  EXPECT_TRUE(status.IsNotFound()) << status.ToString();
  EXPECT_NE(status.message().find("nothing.jsonl"), std::string::npos) << status.message();
  EXPECT_TRUE(OpenFileSource("logins", dir_ / "nothing.jsonl", &source).IsNotFound());
}

TEST_F(FileSourceTest, PollHandsOutLinesInBatchesWithTheirLineNumbers) {
  std::unique_ptr<Source> source = Open(Write("a\nbb\nccc\ndd\ne\n"));
  EXPECT_EQ(source->name(), "logins");
  EXPECT_EQ(Poll(source.get(), 2), (Records{"0:a", "1:bb"}));
  EXPECT_EQ(Position(*source), "0:2:5");
  EXPECT_FALSE(source->AtEnd());
  EXPECT_EQ(Poll(source.get(), 2), (Records{"2:ccc", "3:dd"}));
  EXPECT_EQ(Poll(source.get(), 2), (Records{"4:e"}));
  EXPECT_EQ(Poll(source.get(), 2), Records{});
  EXPECT_TRUE(source->AtEnd());
  EXPECT_EQ(Position(*source), "0:5:14");
}

TEST_F(FileSourceTest, BlankLinesAreSkippedButKeepTheirNumber) {
  std::unique_ptr<Source> source = Open(Write("a\n\n \t \nb\r\n\r\nc\n"));
  EXPECT_EQ(Poll(source.get(), 10), (Records{"0:a", "3:b", "5:c"}));
  EXPECT_EQ(Position(*source), "0:6:14");
}

TEST_F(FileSourceTest, AnEmptyFileIsAtItsEnd) {
  std::unique_ptr<Source> source = Open(Write(""));
  EXPECT_EQ(Poll(source.get(), 10), Records{});
  EXPECT_TRUE(source->AtEnd());
  EXPECT_EQ(Position(*source), "0:0:0");
}

TEST_F(FileSourceTest, SeekResumesFromAStoredBytePosition) {
  std::string path = Write("a\nbb\nccc\n");
  std::unique_ptr<Source> first = Open(path);
  EXPECT_EQ(Poll(first.get(), 2), (Records{"0:a", "1:bb"}));
  std::vector<SourcePosition> positions = first->Positions();

  std::ofstream(path, std::ios::app) << "dd\n";  // the file grew between the runs
  std::unique_ptr<Source> second = Open(path);
  // Positions of other partitions are not the file's.
  positions.push_back(SourcePosition{1, 100, 1000});
  ASSERT_TRUE(second->Seek(positions).ok());
  EXPECT_EQ(Poll(second.get(), 10), (Records{"2:ccc", "3:dd"}));
  EXPECT_EQ(Position(*second), "0:4:12");
}

TEST_F(FileSourceTest, SeekBeyondTheEndOfTheFileIsAnError) {
  std::unique_ptr<Source> source = Open(Write("a\nbb\n"));
  Status status = source->Seek({SourcePosition{0, 3, 9}});
  EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
  EXPECT_NE(status.message().find("has 5 bytes, but source logins already read 9 bytes"),
            std::string::npos)
      << status.message();
  // The end itself is a position to continue from.
  ASSERT_TRUE(source->Seek({SourcePosition{0, 2, 5}}).ok());
  EXPECT_EQ(Poll(source.get(), 10), Records{});
  EXPECT_TRUE(source->AtEnd());
}

TEST_F(FileSourceTest, AnUnterminatedLastLineIsHandedOutMarked) {
  std::unique_ptr<Source> source = Open(Write("a\nlast"));
  EXPECT_EQ(PollToTheEnd(source.get()), (Records{"0:a", "1:last~"}));
  EXPECT_EQ(Position(*source), "0:2:6");
}

TEST_F(FileSourceTest, AnUnterminatedLastLineThatIsDeferredIsDeliveredAgain) {
  std::string path = Write("a\nhal");
  std::unique_ptr<Source> first = Open(path);
  std::vector<RawRecord> batch;
  std::vector<std::string> seen;
  do {
    ASSERT_TRUE(first->Poll(10, &batch).ok());
    for (const RawRecord& r : batch) {
      seen.push_back(std::string(r.bytes));
      if (!r.unterminated) {
        std::string before = Position(*first);
        first->DeferIncomplete(r);  // a terminated record: nothing to defer
        EXPECT_EQ(Position(*first), before);
      }
    }
  } while (!batch.empty() && !batch.back().unterminated);
  ASSERT_EQ(seen, (Records{"a", "hal"}));
  EXPECT_EQ(Position(*first), "0:2:5");
  first->DeferIncomplete(batch.back());
  // The run ends before the half line, which this source does not hand out again.
  EXPECT_EQ(Position(*first), "0:1:2");
  EXPECT_TRUE(first->AtEnd());
  EXPECT_EQ(Poll(first.get(), 10), Records{});
  EXPECT_EQ(Position(*first), "0:1:2");

  std::ofstream(path, std::ios::app) << "f line\nnext\n";
  std::unique_ptr<Source> second = Open(path);
  ASSERT_TRUE(second->Seek(first->Positions()).ok());
  EXPECT_EQ(PollToTheEnd(second.get()), (Records{"1:half line", "2:next"}));
}

TEST_F(FileSourceTest, LinesLongerThanTheReadChunkAreHandedOutWhole) {
  const std::string long_line(9 << 20, 'x');  // the source reads 4 MiB at a time
  std::unique_ptr<Source> source = Open(Write("a\n" + long_line + "\nb\n" + long_line));
  std::vector<RawRecord> batch;
  std::vector<std::string> records;
  while (!source->AtEnd()) {
    ASSERT_TRUE(source->Poll(10, &batch).ok());
    for (const RawRecord& r : batch) {
      records.push_back(std::to_string(r.offset) + ":" +
                        (r.bytes == long_line ? "long" : std::string(r.bytes)) +
                        (r.unterminated ? "~" : ""));
    }
  }
  EXPECT_EQ(records, (Records{"0:a", "1:long", "2:b", "3:long~"}));
  EXPECT_EQ(Position(*source),
            "0:4:" + std::to_string(2 + long_line.size() + 3 + long_line.size()));
}

TEST_F(FileSourceTest, EveryRecordIsFollowedByReadablePadding) {
  // SIMD JSON parsers read up to 64 bytes past a record's end, at any place in the 4 MiB read
  // buffer (the file spans two); the ASan build checks each of these reads.
  std::string text;
  for (int i = 0; i < 4000; ++i) text += std::string(1 + i % 3000, 'y') + "\n";
  text += "end";  // the file's last bytes
  std::unique_ptr<Source> source = Open(Write(text));
  std::vector<RawRecord> batch;
  size_t records = 0;
  unsigned checksum = 0;
  while (!source->AtEnd()) {
    ASSERT_TRUE(source->Poll(64, &batch).ok());
    for (const RawRecord& r : batch) {
      for (size_t i = 0; i < 64; ++i)
        checksum += static_cast<unsigned char>(r.bytes.data()[r.bytes.size() + i]);
      ++records;
    }
  }
  EXPECT_EQ(records, 4001u);
  EXPECT_GT(checksum, 0u);
}

}  // namespace
}  // namespace statefold
