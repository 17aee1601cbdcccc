// Status: the one way statefold reports errors, in the style of LevelDB and RocksDB.
// A Status is either OK or carries a code and a message that a user can act on (which
// resolver, key, field or offset went wrong). Functions that can fail return a Status and
// write results through out-parameters.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace statefold {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,  // the caller passed something that can never work
    kNotFound,         // a key, entity, resolver or file that does not exist
    kCorruption,       // stored or received bytes that do not decode
    kIOError,          // the file system or a store failed
    kAborted,          // the operation was interrupted (signal, stop request)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status Corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message));
  }
  static Status IOError(std::string message) { return Status(Code::kIOError, std::move(message)); }
  static Status Aborted(std::string message) { return Status(Code::kAborted, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is prefixed with `context` (e.g. the field path or key).
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace statefold

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define STATEFOLD_RETURN_IF_ERROR(expr)   \
  do {                                    \
    ::statefold::Status _status = (expr); \
    if (!_status.ok()) return _status;    \
  } while (0)
