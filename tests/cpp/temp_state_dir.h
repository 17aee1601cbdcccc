// TempStateDir: a fresh state directory per test (removed at the end), opened as a writer.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "state/state_store.h"

namespace statefold::testing {

// The options of the engine's writer: it creates a state directory that does not exist yet.
inline StateStore::Options WriterOptions() {
  StateStore::Options options;
  options.create_if_missing = true;
  return options;
}

class TempStateDir {
 public:
  TempStateDir() {
    path_ = (std::filesystem::temp_directory_path() /
             ("statefold-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~TempStateDir() {
    store_.reset();
    std::filesystem::remove_all(path_);
  }

  const std::string& path() const { return path_; }

  // The writer's store, opened on first use.
  StateStore* store() {
    if (store_ == nullptr) {
      Status status = StateStore::Open(path_, WriterOptions(), &store_);
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
    return store_.get();
  }
  // Closes the writer (a later store() opens it again, as a new run would).
  void Close() { store_.reset(); }

 private:
  std::string path_;
  std::unique_ptr<StateStore> store_;
};

}  // namespace statefold::testing
