#include "compute/compute_target.h"

#include <fmt/format.h>

namespace kiln::compute {

std::string GpuBackendProblem(const spec::JobSpec& spec, const spec::SpecSource& source) {
  if (spec.distributed_backend != spec::DistributedBackend::kNccl || spec.use_gpu) return "";
  return fmt::format(
      "{}: nccl runs collectives on GPUs but use_gpu is false; set use_gpu: true, or use gloo "
      "for ranks on CPUs",
      source.Where("distributed_backend"));
}

}  // namespace kiln::compute
