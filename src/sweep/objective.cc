#include "sweep/objective.h"

namespace kiln::sweep {

std::string_view GoalName(Goal goal) { return goal == Goal::kMaximize ? "maximize" : "minimize"; }

}  // namespace kiln::sweep
