#include "client/local_target_view.h"

namespace kiln::client {

Result<nlohmann::json> LocalTargetView(const launch::SlotQueue& queue) {
  KILN_ASSIGN_OR_RETURN(const launch::SlotSettings settings, queue.ReadSettings());
  nlohmann::json out = {{"name", "local"}, {"type", "local"}};
  for (launch::SlotKind kind : {launch::SlotKind::kCores, launch::SlotKind::kGpus}) {
    KILN_ASSIGN_OR_RETURN(const launch::QueueView view, queue.View(kind));
    const std::optional<int> set =
        kind == launch::SlotKind::kCores ? settings.cores : settings.gpus;
    nlohmann::json holding = nlohmann::json::array();
    for (const auto& entry : view.holding) {
      holding.push_back({{"run_id", entry.run_id}, {"slots", entry.need}});
    }
    nlohmann::json waiting = nlohmann::json::array();
    for (const auto& entry : view.waiting) {
      waiting.push_back({{"run_id", entry.run_id}, {"slots", entry.need}});
    }
    out[std::string(launch::SlotKindName(kind))] = {
        {"capacity", view.capacity},
        {"set", set ? nlohmann::json(*set) : nlohmann::json(nullptr)},
        {"used", view.used},
        {"holding", std::move(holding)},
        {"waiting", std::move(waiting)}};
  }
  return out;
}

}  // namespace kiln::client
