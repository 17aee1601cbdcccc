// FileSource over real files in a scratch directory: lines handed out in batches with their
// line numbers as offsets, positions that resume a later run by byte position, an
// unterminated last line deferred to the next run (or completed by a later newline), lines
// longer than the read chunk, lines longer than the record limit, and a byte order mark.

#include "source/file_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
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
  std::unique_ptr<Source> Open(const std::string& path, size_t limit = SIZE_MAX) {
    std::unique_ptr<Source> source;
    Status status = OpenFileSource("logins", path, &source);
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (source != nullptr) source->LimitRecordBytes(limit);
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
                        (r.unterminated ? "~" : "") +
                        (r.error.empty() ? "" : " !" + std::string(r.error)));
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

// A run over a file that grew must number its lines as one run over the final file does.
TEST_F(FileSourceTest, ALastLineCompletedLaterKeepsTheLineNumbersOfOneRunOverTheFinalFile) {
  const std::string path = Write("a\nb");
  std::unique_ptr<Source> first = Open(path);
  EXPECT_EQ(PollToTheEnd(first.get()), (Records{"0:a", "1:b~"}));  // b decoded: not deferred
  EXPECT_EQ(Position(*first), "0:2:3");
  std::ofstream(path, std::ios::app) << "\r\nc\n\nd\n";  // b's newline comes later
  std::unique_ptr<Source> second = Open(path);
  ASSERT_TRUE(second->Seek(first->Positions()).ok());
  EXPECT_EQ(PollToTheEnd(second.get()), (Records{"2:c", "4:d"}));
  EXPECT_EQ(Position(*second), "0:5:10");
  // One run over the final file.
  std::unique_ptr<Source> whole = Open(path);
  EXPECT_EQ(PollToTheEnd(whole.get()), (Records{"0:a", "1:b", "2:c", "4:d"}));
  EXPECT_EQ(Position(*whole), Position(*second));
}

TEST_F(FileSourceTest, BytesThatContinueALineAlreadyReadAreADeadLetterOfThatLine) {
  const std::string path = Write("a\nb");
  std::unique_ptr<Source> first = Open(path);
  EXPECT_EQ(PollToTheEnd(first.get()), (Records{"0:a", "1:b~"}));
  std::ofstream(path, std::ios::app) << "cd";  // more of the line, still no newline: wait
  std::unique_ptr<Source> second = Open(path);
  ASSERT_TRUE(second->Seek(first->Positions()).ok());
  EXPECT_EQ(PollToTheEnd(second.get()), Records{});
  EXPECT_EQ(Position(*second), Position(*first));
  std::ofstream(path, std::ios::app) << "\ne\n";
  std::unique_ptr<Source> third = Open(path);
  ASSERT_TRUE(third->Seek(second->Positions()).ok());
  EXPECT_EQ(PollToTheEnd(third.get()),
            (Records{"1:cd !line 1 went on after it was read as a complete record (it was then "
                     "the file's last line, without a newline); the bytes that followed are not "
                     "a record",
                     "2:e"}));
}

TEST_F(FileSourceTest, AByteOrderMarkAtTheStartOfTheFileIsSkipped) {
  EXPECT_EQ(PollToTheEnd(Open(Write("\xEF\xBB\xBF"
                                    "a\nb\n"))
                             .get()),
            (Records{"0:a", "1:b"}));
  // Anywhere else it is part of the line (and makes the record invalid JSON).
  EXPECT_EQ(PollToTheEnd(Open(Write("a\n\xEF\xBB\xBF"
                                    "b\n",
                                    "other.jsonl"))
                             .get()),
            (Records{"0:a",
                     "1:\xEF\xBB\xBF"
                     "b"}));
  // A deferred first line is read again from the file's start, its mark skipped again.
  const std::string path = Write(
      "\xEF\xBB\xBF"
      "hal",
      "third.jsonl");
  std::unique_ptr<Source> first = Open(path);
  std::vector<RawRecord> batch;
  do {
    ASSERT_TRUE(first->Poll(10, &batch).ok());
  } while (batch.empty() && !first->AtEnd());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].bytes, "hal");
  first->DeferIncomplete(batch[0]);
  EXPECT_EQ(Position(*first), "0:0:0");
  std::ofstream(path, std::ios::app) << "f\n";
  std::unique_ptr<Source> second = Open(path);
  ASSERT_TRUE(second->Seek(first->Positions()).ok());
  EXPECT_EQ(PollToTheEnd(second.get()), (Records{"0:half"}));
}

// A line over the limit is skipped to its newline, never held: the buffer stays within
// about the limit and one read chunk, whatever the line's length.
TEST_F(FileSourceTest, ALineOverTheLimitIsNotReadWholeAndIsHandedOutWithItsSize) {
  const size_t limit = 1 << 20;
  const std::string huge(64 << 20, 'x');
  std::unique_ptr<Source> source = Open(Write("a\n" + huge + "\r\nb\n" + huge), limit);
  auto* file = static_cast<FileSource*>(source.get());
  std::vector<RawRecord> batch;
  std::vector<std::string> records;
  size_t most_buffered = 0;
  while (!source->AtEnd()) {
    ASSERT_TRUE(source->Poll(10, &batch).ok());
    most_buffered = std::max(most_buffered, file->buffer_bytes());
    for (const RawRecord& r : batch) {
      EXPECT_LE(r.bytes.size(), limit);
      if (r.bytes.front() == 'x') {
        EXPECT_EQ(huge.compare(0, r.bytes.size(), r.bytes), 0);
      }
      records.push_back(std::to_string(r.offset) + ":" +
                        (r.bytes.front() == 'x' ? "x..." : std::string(r.bytes)) +
                        (r.unterminated ? "~" : "") +
                        (r.error.empty() ? "" : " !" + std::string(r.error)));
    }
  }
  EXPECT_EQ(
      records,
      (Records{"0:a", "1:x... !message of 67108864 bytes exceeds the limit of 1048576 bytes", "2:b",
               "3:x...~ !message of at least 67108864 bytes exceeds the limit of "
               "1048576 bytes"}));
  EXPECT_LE(most_buffered, limit + (4 << 20) + 64);
  EXPECT_EQ(Position(*source), "0:4:" + std::to_string(2 + huge.size() + 4 + huge.size()));
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
