#include "launch/gpus.h"

#include <filesystem>
#include <regex>

#include "common/strings.h"

namespace kiln::launch {

int CountNvidiaDevices() {
  static const std::regex kDevice("nvidia[0-9]+");
  int count = 0;
  std::error_code error;
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator("/dev", error)) {
    if (std::regex_match(entry.path().filename().string(), kDevice)) ++count;
  }
  return count;
}

std::vector<std::string> VisibleGpus(std::optional<std::string_view> cuda_visible_devices,
                                     int device_count) {
  std::vector<std::string> gpus;
  if (cuda_visible_devices) {
    for (std::string_view part : SplitString(*cuda_visible_devices, ',')) {
      const std::string_view name = TrimWhitespace(part);
      if (!name.empty()) gpus.emplace_back(name);
    }
    return gpus;
  }
  for (int i = 0; i < device_count; ++i) gpus.push_back(std::to_string(i));
  return gpus;
}

std::string GpuForLocalRank(const std::vector<std::string>& gpus, int local_rank) {
  if (gpus.empty()) return "";
  return gpus[static_cast<std::size_t>(local_rank) % gpus.size()];
}

}  // namespace kiln::launch
