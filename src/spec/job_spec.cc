#include "spec/job_spec.h"

#include <algorithm>
#include <cctype>

namespace kiln::spec {

std::string_view BackendName(DistributedBackend backend) {
  switch (backend) {
    case DistributedBackend::kNone:
      return "none";
    case DistributedBackend::kMpi:
      return "mpi";
    case DistributedBackend::kGloo:
      return "gloo";
    case DistributedBackend::kNccl:
      return "nccl";
  }
  return "none";
}

std::optional<DistributedBackend> ParseBackend(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (DistributedBackend backend : {DistributedBackend::kNone, DistributedBackend::kMpi,
                                     DistributedBackend::kGloo, DistributedBackend::kNccl}) {
    if (lower == BackendName(backend)) return backend;
  }
  return std::nullopt;
}

bool JobSpec::entry_is_python() const { return entry_script.ends_with(".py"); }

}  // namespace kiln::spec
