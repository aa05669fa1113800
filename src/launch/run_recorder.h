#pragma once

// RunRecorder: how a launcher's reports about its run reach the store. Every report is
// made again while the store is Unavailable, for up to KILN_SERVER_PATIENCE_SECONDS on the
// launcher's clock (store_retry.h), so an outage delays a report but loses none. A stop
// signal (launcher_signals.h) ends the waiting at once: whoever sent it wants the launcher
// gone; the call's last answer comes back, and an unfinished run is then settled by
// reconciling (client/reconcile.h).
//
// Not thread-safe: the launcher's one thread owns it.

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/subprocess.h"
#include "common/time.h"
#include "launch/launcher_signals.h"
#include "launch/store_retry.h"
#include "store/store.h"

namespace kiln::launch {

class RunRecorder {
 public:
  // Everything given must outlive the recorder.
  RunRecorder(store::Store& store, std::string run_id, const Clock& clock,
              std::chrono::seconds patience, LauncherSignals& signals)
      : store_(store),
        run_id_(std::move(run_id)),
        clock_(clock),
        patience_(patience),
        signals_(signals) {}

  store::Store& store() { return store_; }

  // `call` (a store call returning Status or Result), made again while it is Unavailable.
  template <typename Call>
  auto Patiently(std::string_view what, const Call& call) -> decltype(call()) {
    const RetryPolicy policy{&clock_, patience_, [&](std::chrono::milliseconds delay) {
                               if (signals_.first_stop() == 0) signals_.Wait(delay);
                               if (signals_.first_stop() == 0) return false;
                               spdlog::warn("{}: not trying again: the launcher received {}", what,
                                            SignalName(signals_.first_stop()));
                               return true;
                             }};
    return RetryWhileUnavailable(what, policy, call);
  }

  // The run, read patiently.
  Result<store::Run> Read();

  // Records a status change patiently. A change sent again after an outage may have been
  // stored the first time (only the answer was lost): the refusal of the repeat then means
  // it is done, and the run as it is comes back.
  Result<store::Run> Transition(const store::Transition& transition);

 private:
  store::Store& store_;
  const std::string run_id_;
  const Clock& clock_;
  const std::chrono::seconds patience_;
  LauncherSignals& signals_;
};

}  // namespace kiln::launch
