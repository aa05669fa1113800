#include "launch/srun_command.h"

namespace kiln::launch {

std::vector<std::string> BuildSrunCommand(const RankLayout& layout,
                                          const std::vector<std::string>& rank_command) {
  std::vector<std::string> argv = {
      "srun",
      "--nodes=" + std::to_string(layout.node_count),
      "--ntasks=" + std::to_string(layout.world_size()),
      "--ntasks-per-node=" + std::to_string(layout.process_count_per_node),
      "--kill-on-bad-exit=1",
      "--mpi=none",
      "--cpu-bind=none",
      "--export=ALL"};
  argv.insert(argv.end(), rank_command.begin(), rank_command.end());
  return argv;
}

}  // namespace kiln::launch
