// Pins Status: OK is cheap and empty; errors keep their code and message through copies,
// moves and added context.

#include "statefold/status.h"

#include <gtest/gtest.h>

#include <utility>

namespace statefold {
namespace {

TEST(StatusTest, OkHasNoCodeOrMessage) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), Status::Code::kOk);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "OK");
  EXPECT_TRUE(ok.WithContext("key u1").ok());
  EXPECT_EQ(sizeof(Status), sizeof(void*));
}

TEST(StatusTest, ErrorsKeepCodeAndMessageThroughCopiesAndMoves) {
  Status error = Status::Corruption("bad bytes");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.code(), Status::Code::kCorruption);
  EXPECT_EQ(error.ToString(), "Corruption: bad bytes");
  Status copy = error;
  EXPECT_EQ(copy.message(), "bad bytes");
  EXPECT_EQ(error.message(), "bad bytes");  // a deep copy
  copy = Status::NotFound("x");
  EXPECT_TRUE(copy.IsNotFound());
  EXPECT_EQ(error.message(), "bad bytes");
  Status moved = std::move(copy);
  EXPECT_EQ(moved.ToString(), "Not found: x");
  copy = moved;
  copy = copy;  // self-assignment keeps the state
  EXPECT_EQ(copy.message(), "x");
  Status context = Status::InvalidArgument("field f").WithContext("resolver r");
  EXPECT_TRUE(context.IsInvalidArgument());
  EXPECT_EQ(context.message(), "resolver r: field f");
  EXPECT_EQ(Status::IOError("disk").ToString(), "IO error: disk");
  EXPECT_EQ(Status::Aborted("stop").ToString(), "Aborted: stop");
}

}  // namespace
}  // namespace statefold
