#pragma once

// TestDir: a fresh temporary directory under $TMPDIR for one test or benchmark, removed with
// everything in it when it goes out of scope.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace kiln {

class TestDir {
 public:
  TestDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/kiln-scratch-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    path_ = made != nullptr ? std::filesystem::path(made) : std::filesystem::path();
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  ~TestDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace kiln
