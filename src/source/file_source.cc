// FileSource reads big chunks with read(2) and hands out lines as views into its buffer.

#include "source/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace statefold {
namespace {

constexpr size_t kChunkBytes = 4 << 20;
// Bytes after each record that a SIMD JSON parser may read (simdjson's SIMDJSON_PADDING).
constexpr size_t kPaddingBytes = 64;
// Of a line over the limit, the first bytes handed out (a dead letter keeps fewer).
constexpr size_t kLongLineKeptBytes = 64 << 10;
constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";

bool Blank(const char* p, size_t length) {
  return std::all_of(p, p + length, [](char c) { return c == ' ' || c == '\t'; });
}

std::string ContinuedLineError(int64_t line) {
  return "line " + std::to_string(line) +
         " went on after it was read as a complete record (it was then the file's last line, "
         "without a newline); the bytes that followed are not a record";
}

}  // namespace

Status OpenFileSource(std::string name, const std::string& path, std::unique_ptr<Source>* source) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::NotFound("cannot open input file " + path + ": " + std::strerror(errno));
  }
  source->reset(new FileSource(std::move(name), path, fd));
  return Status::Ok();
}

FileSource::FileSource(std::string name, std::string path, int fd)
    : name_(std::move(name)), path_(std::move(path)), fd_(fd) {
  buffer_.reserve(kChunkBytes + kPaddingBytes);
  buffer_.resize(kChunkBytes + kPaddingBytes);
}

FileSource::~FileSource() { ::close(fd_); }

Status FileSource::Seek(const std::vector<SourcePosition>& positions) {
  for (const SourcePosition& p : positions) {
    if (p.partition != 0) continue;
    off_t size = ::lseek(fd_, 0, SEEK_END);
    if (size >= 0 && size < p.byte_position) {
      return Status::InvalidArgument(
          "input file " + path_ + " has " + std::to_string(size) + " bytes, but source " + name_ +
          " already read " + std::to_string(p.byte_position) + " bytes (" +
          std::to_string(p.next_offset) +
          " records) of its input in this state directory: a run continues a longer version of "
          "the same file; use another --state-dir for a different file");
    }
    // A position not after a newline ends a last line that was read without one.
    char before = '\n';
    if (p.byte_position > 0 && ::pread(fd_, &before, 1, p.byte_position - 1) != 1) {
      return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
    }
    if (::lseek(fd_, p.byte_position, SEEK_SET) < 0) {
      return Status::IOError("cannot seek in " + path_ + ": " + std::strerror(errno));
    }
    end_file_position_ = p.byte_position;
    begin_ = end_ = 0;
    next_offset_ = p.next_offset;
    at_end_ = deferred_tail_ = false;
    at_file_start_ = p.byte_position == 0;
    continues_line_ = before != '\n';
  }
  return Status::Ok();
}

ssize_t FileSource::Read(char* into, size_t room) {
  ssize_t n;
  do {
    n = ::read(fd_, into, room);
  } while (n < 0 && errno == EINTR);
  if (n > 0) end_file_position_ += n;
  return n;
}

Status FileSource::Fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - kPaddingBytes - end_ < kChunkBytes / 2) {
    // A line longer than the free space: grow, doubling, up to the limit and a chunk (Poll
    // fills only while the line is within the limit).
    size_t size = buffer_.size() * 2;
    if (max_line_bytes_ < SIZE_MAX / 2) {
      size = std::min(size, max_line_bytes_ + kChunkBytes + kPaddingBytes);
    }
    buffer_.reserve(size);  // exactly: resize alone may allocate more
    buffer_.resize(size);
  }
  ssize_t n = Read(buffer_.data() + end_, buffer_.size() - kPaddingBytes - end_);
  if (n < 0) return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
  if (n == 0) at_end_ = true;
  end_ += static_cast<size_t>(n);
  std::memset(buffer_.data() + end_, 0, kPaddingBytes);
  return Status::Ok();
}

Status FileSource::SkipLongLine(std::vector<RawRecord>* batch) {
  const int64_t line_position = BeginPosition();
  std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  // The first bytes stay at the front; the rest of the buffer takes the reads that skip on.
  const size_t kept = std::min(end_, kLongLineKeptBytes);
  uint64_t size = end_;
  bool ends_with_cr = buffer_[end_ - 1] == '\r';
  bool terminated = false;
  char* const room = buffer_.data() + kept;
  for (;;) {
    ssize_t n = Read(room, buffer_.size() - kPaddingBytes - kept);
    if (n < 0) return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
    if (n == 0) {
      at_end_ = true;
      begin_ = end_ = kept;
      break;
    }
    const char* newline = static_cast<const char*>(std::memchr(room, '\n', n));
    if (newline != nullptr) {
      size += static_cast<uint64_t>(newline - room);
      if (newline > room) ends_with_cr = newline[-1] == '\r';
      begin_ = static_cast<size_t>(newline + 1 - buffer_.data());
      end_ = kept + static_cast<size_t>(n);
      terminated = true;
      break;
    }
    size += static_cast<uint64_t>(n);
    ends_with_cr = room[n - 1] == '\r';
  }
  std::memset(buffer_.data() + end_, 0, kPaddingBytes);
  if (terminated && ends_with_cr) --size;
  at_file_start_ = false;
  const bool continuation = continues_line_;
  if (continuation) {
    if (!terminated) {  // still being written: the position stays where it was
      deferred_tail_ = true;
      tail_position_ = line_position;
      return Status::Ok();
    }
    continues_line_ = false;
    error_ = ContinuedLineError(next_offset_ - 1);
  } else {
    if (!terminated) {
      if (deferred_tail_) return Status::Ok();
      tail_position_ = line_position;
    }
    error_ = "message of " + std::string(terminated ? "" : "at least ") + std::to_string(size) +
             " bytes exceeds the limit of " + std::to_string(max_line_bytes_) + " bytes";
  }
  RawRecord& record = batch->emplace_back();
  record.bytes = std::string_view(buffer_.data(), kept);
  record.offset = continuation ? next_offset_ - 1 : next_offset_++;
  record.unterminated = !terminated;
  record.error = error_;
  return Status::Ok();
}

Status FileSource::Poll(size_t max_records, std::vector<RawRecord>* batch) {
  batch->clear();
  error_.clear();
  // Views handed out by the previous Poll die here, so the buffer may be compacted.
  bool filled = false;
  while (batch->size() < max_records) {
    const char* data = buffer_.data();
    const void* newline = begin_ < end_ ? std::memchr(data + begin_, '\n', end_ - begin_) : nullptr;
    if (newline == nullptr && !at_end_) {
      if (!batch->empty()) break;  // hand out what we have before moving the buffer
      if (end_ - begin_ > max_line_bytes_) {
        // Over the limit without a newline yet: not read whole. One per batch (error_).
        return SkipLongLine(batch);
      }
      if (filled) break;
      STATEFOLD_RETURN_IF_ERROR(Fill());
      filled = true;
      continue;
    }
    if (newline == nullptr && begin_ >= end_) break;  // at the end
    const size_t line_end = newline != nullptr ? static_cast<const char*>(newline) - data : end_;
    const size_t next_begin = newline != nullptr ? line_end + 1 : end_;
    const int64_t line_position = BeginPosition();
    size_t line_begin = begin_;
    if (at_file_start_) {
      at_file_start_ = false;
      if (line_end - line_begin >= 3 && std::memcmp(data + line_begin, kUtf8Bom, 3) == 0) {
        line_begin += 3;  // a byte order mark is not part of the first record
      }
    }
    size_t length = line_end - line_begin;
    if (length > 0 && data[line_end - 1] == '\r') --length;
    const bool blank = Blank(data + line_begin, length);
    if (continues_line_) {
      // The rest of line next_offset_ - 1, handed out by an earlier run without its newline.
      if (newline == nullptr) {  // still no newline: wait for it, the position unmoved
        deferred_tail_ = true;
        tail_position_ = line_position;
        break;
      }
      continues_line_ = false;
      begin_ = next_begin;
      if (blank) continue;  // only the newline (or whitespace): the line is complete
      error_ = ContinuedLineError(next_offset_ - 1);
      RawRecord& record = batch->emplace_back();
      record.bytes = std::string_view(data + line_begin, length);
      record.offset = next_offset_ - 1;
      record.error = error_;
      break;  // one record with an error per batch
    }
    if (!blank) {
      const bool unterminated = newline == nullptr;
      if (unterminated) {
        if (deferred_tail_) break;
        tail_position_ = line_position;
      }
      RawRecord& record = batch->emplace_back();
      record.bytes = std::string_view(data + line_begin, length);
      record.offset = next_offset_;
      record.unterminated = unterminated;
    }
    ++next_offset_;
    begin_ = next_begin;
  }
  return Status::Ok();
}

void FileSource::DeferIncomplete(const RawRecord& record) {
  if (!record.unterminated) return;
  next_offset_ = record.offset;
  deferred_tail_ = true;
}

std::vector<SourcePosition> FileSource::Positions() const {
  return {SourcePosition{0, next_offset_, deferred_tail_ ? tail_position_ : BeginPosition()}};
}

}  // namespace statefold
