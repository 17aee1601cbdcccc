// FileSource reads big chunks with read(2) and hands out lines as views into its buffer.

#include "source/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace statefold {
namespace {

constexpr size_t kChunkBytes = 4 << 20;
// Bytes after each record that a SIMD JSON parser may read (simdjson's SIMDJSON_PADDING).
constexpr size_t kPaddingBytes = 64;

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
    if (::lseek(fd_, p.byte_position, SEEK_SET) < 0) {
      return Status::IOError("cannot seek in " + path_ + ": " + std::strerror(errno));
    }
    buffer_file_position_ = p.byte_position;
    begin_ = end_ = 0;
    next_offset_ = p.next_offset;
    at_end_ = false;
  }
  return Status::Ok();
}

Status FileSource::Fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    buffer_file_position_ += static_cast<int64_t>(begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - kPaddingBytes - end_ < kChunkBytes / 2) {
    // A line longer than the free space: grow, so any line length can be read.
    buffer_.resize(buffer_.size() * 2);
  }
  size_t room = buffer_.size() - kPaddingBytes - end_;
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.data() + end_, room);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Status::IOError("cannot read " + path_ + ": " + std::strerror(errno));
  if (n == 0) at_end_ = true;
  end_ += static_cast<size_t>(n);
  std::memset(buffer_.data() + end_, 0, kPaddingBytes);
  return Status::Ok();
}

Status FileSource::Poll(size_t max_records, std::vector<RawRecord>* batch) {
  batch->clear();
  // Views handed out by the previous Poll die here, so the buffer may be compacted.
  bool filled = false;
  while (batch->size() < max_records) {
    const char* data = buffer_.data();
    const void* newline = begin_ < end_ ? std::memchr(data + begin_, '\n', end_ - begin_) : nullptr;
    size_t line_end;
    size_t next_begin;
    if (newline != nullptr) {
      line_end = static_cast<const char*>(newline) - data;
      next_begin = line_end + 1;
    } else if (at_end_) {
      if (begin_ >= end_) break;
      line_end = next_begin = end_;  // last line without a newline
    } else {
      if (!batch->empty() || filled) break;  // hand out what we have before moving the buffer
      STATEFOLD_RETURN_IF_ERROR(Fill());
      filled = true;
      continue;
    }
    size_t length = line_end - begin_;
    if (length > 0 && data[line_end - 1] == '\r') --length;
    bool blank = true;
    for (size_t i = begin_; i < begin_ + length; ++i) {
      if (data[i] != ' ' && data[i] != '\t') {
        blank = false;
        break;
      }
    }
    if (!blank) {
      bool unterminated = newline == nullptr;
      if (unterminated) {
        if (deferred_tail_) break;
        tail_begin_ = begin_;
      }
      RawRecord& record = batch->emplace_back();
      record.bytes = std::string_view(data + begin_, length);
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
  begin_ = tail_begin_;
  next_offset_ = record.offset;
  deferred_tail_ = true;
}

std::vector<SourcePosition> FileSource::Positions() const {
  return {SourcePosition{0, next_offset_, buffer_file_position_ + static_cast<int64_t>(begin_)}};
}

}  // namespace statefold
