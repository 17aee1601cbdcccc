// Status::ToString.

#include "statefold/status.h"

namespace statefold {

const std::string& Status::EmptyMessage() {
  static const std::string empty;
  return empty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  const std::string& message = state_->message;
  switch (state_->code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument: " + message;
    case Code::kNotFound:
      return "Not found: " + message;
    case Code::kCorruption:
      return "Corruption: " + message;
    case Code::kIOError:
      return "IO error: " + message;
    case Code::kAborted:
      return "Aborted: " + message;
  }
  return message;
}

}  // namespace statefold
