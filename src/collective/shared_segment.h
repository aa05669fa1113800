#pragma once

// A region of /dev/shm that the ranks on one machine map. Rank 0 creates it under a fresh
// random name and tells the others the name, they open it, and rank 0 unlinks the name once
// every rank has it, so nothing outlives the job. Pages are reserved at creation: a full
// /dev/shm fails there, not with SIGBUS later.

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"

namespace kiln::collective {

class SharedSegment {
 public:
  // `bytes` zeroed bytes under /dev/shm/kiln-<what>-<pid>-<random>.
  static Result<std::unique_ptr<SharedSegment>> Create(std::string_view what, size_t bytes);
  // The segment `name` (as name() gives it), which must hold exactly `bytes`.
  static Result<std::unique_ptr<SharedSegment>> Open(const std::string& name, size_t bytes);
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  // "/kiln-..." as shm_open takes it: at most 63 characters.
  const std::string& name() const { return name_; }
  char* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  // Removes the name; mappings stay.
  void Unlink() const { Unlink(name_); }
  static void Unlink(const std::string& name);

 private:
  SharedSegment(std::string name, char* base, size_t bytes)
      : name_(std::move(name)), base_(base), bytes_(bytes) {}
  static Result<std::unique_ptr<SharedSegment>> Map(std::string name, int fd, size_t bytes);

  std::string name_;
  char* base_;
  size_t bytes_;
};

}  // namespace kiln::collective
