// Status: the one way statefold reports errors, in the style of LevelDB and RocksDB.
// A Status is either OK or carries a code and a message that a user can act on (which
// resolver, key, field or offset went wrong). Functions that can fail return a Status and
// write results through out-parameters. An OK Status is one null pointer: making, moving
// and destroying it costs nothing, so it is fine on per-message paths.
#pragma once

#include <memory>
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
  Status(const Status& other)
      : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

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

  bool ok() const { return state_ == nullptr; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // Empty for OK.
  const std::string& message() const { return state_ ? state_->message : EmptyMessage(); }

  // Returns a copy whose message is prefixed with `context` (e.g. the field path or key).
  Status WithContext(std::string_view context) const {
    if (ok()) return Status();
    return Status(state_->code, std::string(context) + ": " + state_->message);
  }

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  struct State {
    Code code;
    std::string message;
  };

  Status(Code code, std::string message)
      : state_(std::make_unique<State>(State{code, std::move(message)})) {}
  static const std::string& EmptyMessage();

  std::unique_ptr<State> state_;  // null when OK
};

}  // namespace statefold

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define STATEFOLD_RETURN_IF_ERROR(expr)   \
  do {                                    \
    ::statefold::Status _status = (expr); \
    if (!_status.ok()) return _status;    \
  } while (0)
