#pragma once

// The records a Store holds: experiments, runs with their status history, parameters and
// tags, and datastores. Plain values; backends translate them to rows.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/time.h"
#include "store/metric_kind.h"
#include "store/run_kind.h"
#include "store/run_status.h"
#include "store/token_role.h"

namespace kiln::store {

struct Experiment {
  std::string name;
  Timestamp created_at = 0;
  int run_count = 0;
};

struct StatusChange {
  RunStatus status = RunStatus::kQueued;
  Timestamp at = 0;
  std::string detail;
};

// One script parameter: as the user wrote it, and as the run received it (datastore
// references replaced by paths).
struct RunParam {
  std::string name;
  std::optional<std::string> value;
  std::optional<std::string> resolved;

  friend bool operator==(const RunParam&, const RunParam&) = default;
};

struct Run {
  std::string id;
  std::string experiment;
  std::string display_name;
  std::string description;  // free text, any number of lines; set with EditRun
  std::string spec_json;    // the JobSpec's JSON form (spec/spec_json.h)
  std::string snapshot_id;
  std::string compute_target;
  std::string run_dir;  // absolute path of the run directory
  std::string host;     // the machine the run was submitted from
  // Who submitted it: the API token's name on a server, the OS user's name without one;
  // empty for runs stored before this was recorded.
  std::string submitted_by;
  // A sweep's trial names its sweep here; empty for a run of its own.
  std::string parent_id;
  RunKind kind = RunKind::kJob;
  RunStatus status = RunStatus::kQueued;
  Timestamp created_at = 0;
  std::optional<Timestamp> started_at;  // entered Running
  std::optional<Timestamp> ended_at;    // entered a terminal status
  std::optional<int> exit_code;
  std::string failure_reason;
  std::vector<std::string> failure_log_tail;  // last log lines of the failing rank
  std::vector<RunParam> params;
  std::map<std::string, std::string> tags;
  // Set while the run is archived: listings leave it out unless asked (RunFilter::archived).
  std::optional<Timestamp> archived_at;
  // Not stored: what the run's compute target says of it now, filled in when a run is read
  // through a workspace or server (e.g. "Slurm job 12 is PENDING (Resources)").
  std::string target_detail;
};

// What the store's runs and models refer to outside the store, for `kiln gc`: every run id,
// the snapshots of runs, model versions and deployments, and the job environments (by hash)
// runs used.
struct StoreReferences {
  std::set<std::string> run_ids;
  std::set<std::string> snapshot_ids;
  std::set<std::string> environment_hashes;
};

// Which runs a listing holds by whether they are archived.
enum class ArchivedRuns { kIncluded, kHidden, kOnly };

struct RunFilter {
  std::optional<std::string> experiment;
  std::optional<RunStatus> status;
  // Set: only the trials of this sweep. Unset: every run, trials included, unless
  // `top_level` leaves them out.
  std::optional<std::string> parent_id;
  bool top_level = false;
  bool only_active = false;  // statuses that are not terminal
  int limit = 0;             // 0: no limit; newest first either way
  // Keyset paging: set to the last run of a page, the next page starts just after it in
  // the newest-first order, however many runs were added in the meantime.
  struct Position {
    Timestamp created_at = 0;
    std::string id;
  };
  std::optional<Position> after;
  // Every run by default; user-facing listings hide the archived ones unless asked.
  ArchivedRuns archived = ArchivedRuns::kIncluded;
  // A query in the language of run_query.h ("metrics.acc > 0.9 and tags.owner = 'ana'");
  // empty: none. A query that does not parse is InvalidArgument, naming where.
  std::string where;
};

// What EditRun changes of a run, at any time, whatever its status: the fields that describe
// it, not its status, spec or results. Unset members are left as they are.
struct RunEdit {
  std::optional<std::string> display_name;
  std::optional<std::string> description;
  std::map<std::string, std::string> set_tags;
  std::vector<std::string> remove_tags;  // removing a tag the run does not have is no error
  // Archive (true) or restore (false). Only a run that has ended can be archived; archiving a
  // sweep archives its trials with it, and restoring it restores them.
  std::optional<bool> archived;

  bool empty() const {
    return !display_name && !description && set_tags.empty() && remove_tags.empty() && !archived;
  }
};

// What a sweep (a run of kind kSweep) knows of one of its trials; the trial itself is an
// ordinary run whose parent_id is the sweep's id (docs/sweeps.md).
struct Trial {
  std::string sweep_id;
  std::int64_t index = 0;  // 0-based, in the order the sweep made them; never reused
  std::string run_id;
  std::string params_json = "{}";  // the sampled point: {"--lr": 0.0123, "--batch": 32}
  // How far the sweep's early-termination policy has judged the trial's primary metric:
  // intervals 1..judged_through (one interval per logged value). Stored with each
  // judgement so a restarted driver never judges an interval twice.
  std::int64_t judged_through = 0;
  std::int64_t intervals = 0;  // values of the primary metric seen so far
  std::optional<double> best;  // their best, by the sweep's goal
  std::string stop_reason;     // why the policy stopped it early; empty when it did not
  // Read from the trial's run, for listings:
  RunStatus status = RunStatus::kQueued;
  Timestamp created_at = 0;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> ended_at;
};

// A judgement of a trial by its sweep's policy, for Store::RecordJudgement.
struct TrialJudgement {
  std::int64_t judged_before = 0;  // the trial's judged_through the judgement started from
  std::int64_t judged_through = 0;
  std::int64_t intervals = 0;
  std::optional<double> best;
  std::string stop_reason;  // set when the judgement stops the trial
};

// A status change asked of the store; the extra fields are stored with it when set.
struct Transition {
  RunStatus to = RunStatus::kQueued;
  std::string detail;
  std::optional<int> exit_code;
  std::string failure_reason;
  std::vector<std::string> failure_log_tail;
};

struct Datastore {
  std::string name;
  std::string type = "local";  // the only kind so far: a folder on this machine
  std::string path;            // absolute
  Timestamp created_at = 0;
};

// A compute target a workspace registered (`kiln compute add`): its name, its type
// ("slurm") and its settings as a JSON object whose fields the type defines
// (docs/compute-targets.md). The built-in target "local" is never stored.
struct ComputeTargetRecord {
  std::string name;
  std::string type;
  std::string config_json;
  Timestamp created_at = 0;
};

// One version of a registered job environment (`kiln env register`, Environment.register):
// versions count from 1 per name; registering a definition equal to the latest makes none.
struct EnvironmentVersion {
  std::string name;
  std::int64_t version = 0;
  std::string definition_json = "{}";  // env/environment_spec.h's JSON form
  Timestamp created_at = 0;
};

// How a model version is served with a scoring script (`kiln model deploy`): the script,
// the snapshot of the folder it lives in, and the Python environment its workers run in.
struct ModelDeployment {
  std::string entry_script;             // relative to the snapshot's root: "score.py"
  std::string snapshot_id;              // the folder, in the snapshot store
  std::string environment_name;         // the registered environment it named; empty: none
  std::string environment_json = "{}";  // that definition as deployed; {}: the default python
  Timestamp deployed_at = 0;

  friend bool operator==(const ModelDeployment&, const ModelDeployment&) = default;
};

// One version of a registered model (`kiln model register`). Versions count from 1 per
// name and are never reused, also after a removal. The file itself lives in the model store
// (client/model_registry.h) under its SHA-256; the record keeps its lineage: the run it came
// from, that run's experiment and snapshot, and the run's metrics when it was registered.
struct ModelVersion {
  std::string name;
  std::int64_t version = 0;
  std::string run_id;
  std::string experiment;
  std::string snapshot_id;
  std::string path;  // the artifact it was registered from, "outputs/model.onnx"
  // "onnx", "torchscript", "state_dict" (torch.save of tensors only), "pickle" (torch.save
  // of other objects) or "file"
  std::string format;
  std::string sha256;  // of the file, hex
  std::int64_t size_bytes = 0;
  std::string description;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
  std::string metrics_json = "{}";                        // {"name": last value at rank 0, ...}
  std::string parity_json = "{}";     // kiln.onnx.export's figures, {} when none
  std::string signature_json = "{}";  // ONNX: {"inputs": [...], "outputs": [...]}
  Timestamp created_at = 0;
  std::optional<ModelDeployment> deployment;  // set by kiln model deploy
};

// One point of a scalar metric.
struct MetricPoint {
  std::int64_t step = 0;
  double value = 0;
  Timestamp at = 0;

  friend bool operator==(const MetricPoint&, const MetricPoint&) = default;
};

// One logged list, row, table or image, as JSON text (docs/python-api.md gives the shapes).
struct MetricValue {
  Timestamp at = 0;
  std::string json;

  friend bool operator==(const MetricValue&, const MetricValue&) = default;
};

// The points or values of one metric name from one rank.
struct MetricSeries {
  std::string name;
  int rank = 0;
  MetricKind kind = MetricKind::kScalar;
  std::string description;
  std::vector<MetricPoint> points;  // scalars, in logging order
  std::vector<MetricValue> values;  // other kinds, in logging order
};

struct MetricSummary {
  std::string name;
  int rank = 0;
  MetricKind kind = MetricKind::kScalar;
  std::string description;
  std::int64_t count = 0;
  std::optional<double> last;  // scalars only
  std::optional<double> min;
  std::optional<double> max;
  std::optional<std::int64_t> last_step;
  Timestamp last_at = 0;
};

// An API token of a Kiln server (docs/server.md). Only the SHA-256 of its secret is kept.
// A run token (run_id set) is valid for that run's endpoints only: its launcher's. Its role
// is not consulted; it is stored as member.
struct ApiToken {
  std::string id;    // "tok_" and 12 hex digits; the secret's first part
  std::string name;  // unique; "run:<run id>" for a run token
  std::string secret_sha256;
  std::optional<std::string> run_id;
  Timestamp created_at = 0;
  std::optional<Timestamp> revoked_at;
  TokenRole role = kDefaultTokenRole;
};

// What one rank's spool held between two offsets, for Store::AppendMetrics.
struct MetricBatch {
  int rank = 0;
  std::uint64_t offset_before = 0;
  std::uint64_t offset_after = 0;
  std::vector<MetricSeries> series;
  std::vector<std::pair<std::string, std::string>> tags;
};

}  // namespace kiln::store
