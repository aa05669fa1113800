#pragma once

// What `kiln serve` prepares before it starts the workers of a scoring script
// (docs/serving.md, "Scoring scripts"), in a folder of its own,
// $KILN_HOME/serve/<random>/, removed when the PreparedScoring goes:
//   src/     the script's snapshot, materialized (fetched from the Kiln server first when
//            this machine lacks it); the workers' working directory
//   model/   the model's file under the name it was registered with (a hard link to the
//            model store's checked copy where possible): KILN_MODEL_DIR
//   .lock    held while it serves; a folder whose lock nobody holds and that is older than
//            5 minutes (a kiln serve that was killed) is removed by the next PrepareScoring
// and the workers' interpreter: the environment's, built in the local cache when it lists
// packages (and held in use while it serves, so `kiln env prune` keeps it), else its base
// python, else $KILN_PYTHON (/usr/bin/python3).
//
// The workers' environment is this process's less every KILN_* and PG* variable (a script
// that answers requests from the network never holds the store's credentials), plus:
//   KILN_MODEL_DIR, AZUREML_MODEL_DIR   the model/ folder (the second for scripts ported
//                                       from Azure ML as they are)
//   KILN_MODEL_PATH                     the model's file in it
//   KILN_MODEL_NAME, KILN_MODEL_VERSION
//   KILN_SCORE_SCRIPT                   the script (absolute)
//   PYTHONPATH                          Kiln's package, then src/, then what it was
//   PYTHONUNBUFFERED=1, the environment's environment_variables, KILN_SERVE_THREADS (> 0)

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "store/records.h"

namespace kiln::client {

// Where the script comes from: a snapshot (a deployment, or one `kiln serve --entry-script`
// just took), or Kiln's own built-in TorchScript script.
struct ScoringSource {
  std::string entry_script;  // relative to the snapshot's root
  std::string snapshot_id;
  bool builtin_torchscript = false;
  std::string environment_json = "{}";  // an EnvironmentSpec as JSON; {}: none
  int threads = 0;                      // KILN_SERVE_THREADS when > 0
};

struct PreparedScoring {
  PreparedScoring() = default;
  ~PreparedScoring();
  PreparedScoring(const PreparedScoring&) = delete;
  PreparedScoring& operator=(const PreparedScoring&) = delete;

  std::filesystem::path root;
  std::filesystem::path source;  // root/src
  std::filesystem::path script;  // absolute
  std::string python;
  std::string environment_hash;   // of a built environment; empty when none was built
  std::vector<std::string> env;   // the workers' environment, "NAME=value"
  std::vector<std::string> argv;  // {python, .../kiln/_score_worker.py}

 private:
  friend Result<std::unique_ptr<PreparedScoring>> PrepareScoring(
      Workspace&, const store::ModelVersion&, const ScoringSource&,
      const std::function<void(std::string_view)>&);
  UniqueFd lock_;
  UniqueFd environment_in_use_;
};

// `log` gets the environment build's lines, when there is one. InvalidArgument for an
// environment definition that does not read or builds with errors; the errors of
// ModelFile and of the snapshot store otherwise.
Result<std::unique_ptr<PreparedScoring>> PrepareScoring(
    Workspace& workspace, const store::ModelVersion& model, const ScoringSource& source,
    const std::function<void(std::string_view line)>& log);

}  // namespace kiln::client
