#include "launch/mpirun_command.h"

#include <set>

namespace kiln::launch {

std::vector<std::string> BuildMpirunCommand(const MpirunOptions& options) {
  std::vector<std::string> argv = {"mpirun"};
  if (options.run_as_root) argv.push_back("--allow-run-as-root");
  const int per_node = options.layout.process_count_per_node;
  argv.insert(argv.end(), {"-np", std::to_string(options.layout.world_size()), "--map-by",
                           "ppr:" + std::to_string(per_node) + ":node"});
  if (per_node > options.cores) argv.push_back("--oversubscribe");
  argv.insert(argv.end(), {"--bind-to", "none", "--tag-output"});
  if (!options.working_dir.empty()) {
    argv.insert(argv.end(), {"-wdir", options.working_dir.string()});
  }
  for (const std::string& name : options.exported) argv.insert(argv.end(), {"-x", name});
  argv.insert(argv.end(), options.rank_command.begin(), options.rank_command.end());
  return argv;
}

std::vector<std::string> ExportedVariables(const std::vector<std::string>& base,
                                           const std::vector<std::string>& env) {
  const std::set<std::string> unchanged(base.begin(), base.end());
  std::vector<std::string> names;
  for (const std::string& entry : env) {
    if (unchanged.contains(entry)) continue;
    names.push_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

}  // namespace kiln::launch
