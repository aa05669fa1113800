#pragma once

// Objective: the primary metric a sweep optimises and which way.

#include <string>
#include <string_view>

namespace kiln::sweep {

enum class Goal { kMaximize, kMinimize };

// "maximize" / "minimize", as HyperDrive stores PrimaryMetricGoal.
std::string_view GoalName(Goal goal);

// True when `a` is strictly better than `b` under `goal`.
inline bool Better(Goal goal, double a, double b) {
  return goal == Goal::kMaximize ? a > b : a < b;
}

struct Objective {
  std::string primary_metric;
  Goal goal = Goal::kMaximize;
};

}  // namespace kiln::sweep
