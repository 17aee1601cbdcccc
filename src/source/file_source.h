// FileSource: a JSON Lines file as a single-partition stream. A record's offset is its line
// number (0-based); blank lines are skipped but keep their number. Reading resumes from a
// stored byte position, so a longer version of the same file continues where a run stopped.
// A last line without a newline is handed out marked `unterminated`; if it does not decode
// (a writer may be halfway through it), DeferIncomplete leaves it for the next run.
#pragma once

#include <memory>
#include <string>

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
  void DeferIncomplete(const RawRecord& record) override;
  std::vector<SourcePosition> Positions() const override;

 private:
  friend Status OpenFileSource(std::string name, const std::string& path,
                               std::unique_ptr<Source>* source);
  FileSource(std::string name, std::string path, int fd);
  Status Fill();  // moves the unread tail to the front of the buffer and reads more

  std::string name_;
  std::string path_;
  int fd_;
  std::string buffer_;                // sized with simdjson padding beyond end_
  size_t begin_ = 0;                  // first unread byte in buffer_
  size_t end_ = 0;                    // one past the last valid byte in buffer_
  int64_t buffer_file_position_ = 0;  // file position of buffer_[0]
  int64_t next_offset_ = 0;
  bool at_end_ = false;
  bool deferred_tail_ = false;  // the unterminated last line is left for a later run
  size_t tail_begin_ = 0;       // where the last unterminated line handed out starts
};

}  // namespace statefold
