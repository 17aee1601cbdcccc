// FileSource: a JSON Lines file as a single-partition stream. A record's offset is its line
// number (0-based); blank lines are skipped but keep their number. Reading resumes from a
// stored byte position, so a longer version of the same file continues where a run stopped.
// A last line without a newline is handed out marked `unterminated`; if it does not decode
// (a writer may be halfway through it), DeferIncomplete leaves it for the next run. If it
// did decode, the stored position ends inside that line, and the next run takes the newline
// that completes it as the end of that line, so every later line keeps the number it has in
// one run over the final file. A line longer than the record limit is not read whole: its
// first bytes are handed out with the reason, and the rest is skipped to its newline.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "statefold/source.h"

namespace statefold {

// Opened through OpenFileSource (statefold/source.h), the one entry point.
class FileSource : public Source {
 public:
  ~FileSource() override;

  const std::string& name() const override { return name_; }
  Status Seek(const std::vector<SourcePosition>& positions) override;
  Status Poll(size_t max_records, std::vector<RawRecord>* batch) override;
  bool AtEnd() const override { return at_end_ && (begin_ >= end_ || deferred_tail_); }
  void LimitRecordBytes(size_t max_bytes) override { max_line_bytes_ = max_bytes; }
  void DeferIncomplete(const RawRecord& record) override;
  std::vector<SourcePosition> Positions() const override;

  // The bytes the read buffer holds: at most about the record limit plus one read chunk
  // (4 MiB), whatever the length of a line (tests pin the bound).
  size_t buffer_bytes() const { return buffer_.capacity(); }

 private:
  friend Status OpenFileSource(std::string name, const std::string& path,
                               std::unique_ptr<Source>* source);
  FileSource(std::string name, std::string path, int fd);
  Status Fill();  // moves the unread tail to the front of the buffer and reads more
  ssize_t Read(char* into, size_t room);
  // Hands out the line at begin_, longer than the limit, without reading it whole.
  Status SkipLongLine(std::vector<RawRecord>* batch);
  // The file position of buffer_[begin_].
  int64_t BeginPosition() const { return end_file_position_ - static_cast<int64_t>(end_ - begin_); }

  std::string name_;
  std::string path_;
  int fd_;
  size_t max_line_bytes_ = SIZE_MAX;
  std::vector<char> buffer_;       // sized with simdjson padding beyond end_
  size_t begin_ = 0;               // first unread byte in buffer_
  size_t end_ = 0;                 // one past the last valid byte in buffer_
  int64_t end_file_position_ = 0;  // file position of buffer_[end_]
  int64_t next_offset_ = 0;
  bool at_end_ = false;
  bool at_file_start_ = true;    // begin_ is the file's first byte (a UTF-8 BOM is skipped)
  bool continues_line_ = false;  // the position is inside line next_offset_ - 1 (see above)
  bool deferred_tail_ = false;   // the unterminated last line is left for a later run
  int64_t tail_position_ = 0;    // file position of the last unterminated line handed out
  std::string error_;            // the reason of the batch's record with an error
};

}  // namespace statefold
