#pragma once

// Which GPUs the ranks of a use_gpu run get: each local rank one device, round-robin over
// the devices this machine lets the launcher see (CUDA_VISIBLE_DEVICES when it is set, else
// every /dev/nvidiaN).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::launch {

// The number of NVIDIA devices (/dev/nvidia0, /dev/nvidia1, ...) on this machine.
int CountNvidiaDevices();

// The device names ranks may be given: the entries of `cuda_visible_devices` when it is set
// (an empty value means none), else "0" .. "device_count - 1".
std::vector<std::string> VisibleGpus(std::optional<std::string_view> cuda_visible_devices,
                                     int device_count);

// The CUDA_VISIBLE_DEVICES value of local rank `local_rank`; empty when there are no GPUs.
std::string GpuForLocalRank(const std::vector<std::string>& gpus, int local_rank);

}  // namespace kiln::launch
