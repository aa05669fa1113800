#include "collective/timeline.h"

#include <fmt/format.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace kiln::collective {

Timeline::~Timeline() { Stop(); }

Status Timeline::Start(const std::string& path, int rank) {
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) {
    return ErrnoError(
        fmt::format("kiln.hvd: cannot write the timeline '{}' (HOROVOD_TIMELINE)", path), errno);
  }
  rank_ = rank;
  first_ = true;
  rows_.clear();
  origin_ = Clock::now();
  std::fputs("[\n", file_);
  return Status::Ok();
}

void Timeline::Stop() {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return;
  std::fputs("\n]\n", file_);
  std::fclose(file_);
  file_ = nullptr;
}

bool Timeline::active() const {
  std::lock_guard lock(mutex_);
  return file_ != nullptr;
}

void Timeline::Record(const std::string& tensor, std::string_view phase, Clock::time_point start,
                      Clock::time_point end, size_t fused) {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return;
  const auto [row, added] = rows_.try_emplace(tensor, static_cast<int>(rows_.size()) + 1);
  const auto micros = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - origin_).count();
  };
  nlohmann::json event = {{"name", phase},
                          {"ph", "X"},
                          {"ts", micros(start)},
                          {"dur", micros(end) - micros(start)},
                          {"pid", rank_},
                          {"tid", row->second},
                          {"args", {{"tensor", tensor}, {"fused", fused}}}};
  if (added) {  // name the row once
    const nlohmann::json label = {{"name", "thread_name"},
                                  {"ph", "M"},
                                  {"pid", rank_},
                                  {"tid", row->second},
                                  {"args", {{"name", tensor}}}};
    fmt::print(file_, "{}{}", first_ ? "" : ",\n", label.dump());
    first_ = false;
  }
  fmt::print(file_, "{}{}", first_ ? "" : ",\n", event.dump());
  first_ = false;
}

}  // namespace kiln::collective
