#pragma once

// The in-job Run API: what a training program calls to log metrics, images, tags and files
// into its Kiln run. Python's `kiln.Run` is a thin layer over this class, and a libtorch
// (or any C++) entry program can use it directly:
//
//   kiln::tracking::Run& run = kiln::tracking::Run::GetContext();
//   run.Log("loss", loss.item<double>());
//
// Inside a Kiln job (the launcher set KILN_RUN_ID, KILN_RUN_DIR and KILN_RANK) records go
// to this rank's spool, runs/<id>/metrics/rank-N.spool, which the launcher ingests into the
// store. Elsewhere the run is offline: each call prints what it would log, so the same
// program runs unchanged outside Kiln.
//
// Errors (InvalidArgument, nothing logged): an empty or over-long name, a value that is not
// finite, a name logged before as another kind, an image that is not a PNG, an upload name
// that leaves outputs/. Thread-safe.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/metric_kind.h"
#include "tracking/spool_writer.h"

namespace kiln::tracking {

// What this rank logged under one name (Run::GetMetrics).
struct LoggedMetric {
  store::MetricKind kind = store::MetricKind::kScalar;
  std::vector<double> values;     // scalars
  std::vector<std::string> json;  // other kinds, one JSON text each
};

class Run {
 public:
  // The run of this process, made on first use from the environment.
  static Run& GetContext();
  // A run writing to `run_dir`'s spool for `rank` (tests, tools); offline when run_dir is
  // empty.
  static Result<std::unique_ptr<Run>> Open(std::string id, std::string experiment,
                                           std::filesystem::path run_dir, int rank);

  bool offline() const { return writer_ == nullptr; }
  const std::string& id() const { return id_; }
  const std::string& experiment_name() const { return experiment_; }
  int rank() const { return rank_; }

  Status Log(std::string_view name, double value, std::optional<std::int64_t> step = {},
             std::string_view description = {});
  Status LogList(std::string_view name, std::span<const double> values,
                 std::string_view description = {});
  Status LogRow(std::string_view name, std::span<const std::pair<std::string, double>> columns,
                std::string_view description = {});
  Status LogTable(std::string_view name,
                  std::span<const std::pair<std::string, std::vector<double>>> columns,
                  std::string_view description = {});
  // Copies a PNG file (or PNG bytes) into outputs/images/ and logs its path.
  Status LogImage(std::string_view name, const std::filesystem::path& png,
                  std::string_view description = {});
  Status LogImageBytes(std::string_view name, std::string_view png,
                       std::string_view description = {});
  Status Tag(std::string_view key, std::string_view value);
  // Copies a file into outputs/<name>; `name` is a relative path inside outputs/.
  Status UploadFile(std::string_view name, const std::filesystem::path& path);

  // What this rank logged so far, by name.
  Result<std::map<std::string, LoggedMetric>> GetMetrics() const;

  // Trims the spool's preallocated tail. Called at exit for the context run.
  Status Close();

 private:
  Run(std::string id, std::string experiment, std::filesystem::path run_dir, int rank,
      std::unique_ptr<SpoolWriter> writer)
      : id_(std::move(id)),
        experiment_(std::move(experiment)),
        run_dir_(std::move(run_dir)),
        rank_(rank),
        writer_(std::move(writer)) {}

  Status LogJson(std::string_view name, store::MetricKind kind, const std::string& json,
                 std::string_view description);
  Result<std::string> StoreImage(std::string_view name, std::string_view png);

  const std::string id_;
  const std::string experiment_;
  const std::filesystem::path run_dir_;
  const int rank_;
  const std::unique_ptr<SpoolWriter> writer_;  // null when offline

  std::mutex mu_;
  // Guarded by mu_: how many images each name has, to name the next one.
  std::map<std::string, int, std::less<>> images_;
};

}  // namespace kiln::tracking
