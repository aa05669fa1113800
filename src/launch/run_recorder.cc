#include "launch/run_recorder.h"

#include <fmt/format.h>

namespace kiln::launch {

Result<store::Run> RunRecorder::Read() {
  return Patiently("reading the run", [&] { return store_.GetRun(run_id_); });
}

Result<store::Run> RunRecorder::Transition(const store::Transition& transition) {
  int attempts = 0;
  Result<store::Run> run =
      Patiently(fmt::format("recording {}", store::RunStatusName(transition.to)), [&] {
        ++attempts;
        return store_.TransitionRun(run_id_, transition);
      });
  // The server revokes a run's token in the transaction that ends the run, so a repeated
  // final report that is refused as unauthenticated was stored the first time.
  if (!run.ok() && attempts > 1 && store::IsTerminal(transition.to) &&
      run.status().code() == StatusCode::kUnauthenticated) {
    spdlog::info("recording {}: the run's token is revoked, so the first report was stored",
                 store::RunStatusName(transition.to));
    store::Run ended;
    ended.id = run_id_;
    ended.status = transition.to;
    return ended;
  }
  if (run.ok() || attempts == 1 || run.status().code() != StatusCode::kFailedPrecondition) {
    return run;
  }
  Result<store::Run> current = Read();
  if (current.ok() && current->status == transition.to) return current;
  return run;
}

}  // namespace kiln::launch
