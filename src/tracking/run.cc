#include "tracking/run.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/random.h"
#include "common/strings.h"
#include "tracking/spool_reader.h"

namespace kiln::tracking {
namespace fs = std::filesystem;
using store::MetricKind;

namespace {

constexpr std::string_view kPngSignature{"\x89PNG\r\n\x1a\n", 8};

Status CheckFinite(std::string_view name, double value) {
  if (std::isfinite(value)) return Status::Ok();
  return InvalidArgumentError(
      fmt::format("metric '{}': values must be finite numbers, got {}", name, value));
}

// Letters, digits, '.', '_' and '-' of a metric name, for a file name.
std::string SafeFileName(std::string_view name) {
  std::string safe;
  for (char c : name) {
    safe +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '_';
  }
  return safe;
}

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

Run& Run::GetContext() {
  static Run* const context = [] {
    const char* id = Env("KILN_RUN_ID");
    const char* dir = Env("KILN_RUN_DIR");
    const char* experiment = Env("KILN_EXPERIMENT");
    const char* rank_text = Env("KILN_RANK");
    const int rank = rank_text != nullptr ? static_cast<int>(ParseInt64(rank_text).value_or(0)) : 0;
    Result<std::unique_ptr<Run>> run = InternalError("unset");
    if (id != nullptr && dir != nullptr) {
      run = Open(id, experiment != nullptr ? experiment : "", dir, rank);
      if (!run.ok()) {
        std::fprintf(stderr, "kiln: cannot open this run's metric spool (%s); logging offline\n",
                     run.status().ToString().c_str());
      }
    }
    if (!run.ok()) {
      run = Open("OfflineRun_" + RandomHex(8), "offline", "", 0);
    }
    Run* made = std::move(run).value().release();
    std::atexit([] { GetContext().Close().IgnoreError(); });
    return made;
  }();
  return *context;
}

Result<std::unique_ptr<Run>> Run::Open(std::string id, std::string experiment, fs::path run_dir,
                                       int rank) {
  std::unique_ptr<SpoolWriter> writer;
  if (!run_dir.empty()) {
    const fs::path metrics = run_dir / "metrics";
    KILN_RETURN_IF_ERROR(CreateDirectories(metrics));
    KILN_ASSIGN_OR_RETURN(writer,
                          SpoolWriter::Open(metrics / fmt::format("rank-{}.spool", rank), rank));
  }
  return std::unique_ptr<Run>(
      new Run(std::move(id), std::move(experiment), std::move(run_dir), rank, std::move(writer)));
}

Status Run::Log(std::string_view name, double value, std::optional<std::int64_t> step,
                std::string_view description) {
  if (offline()) {
    KILN_RETURN_IF_ERROR(ValidateMetricName(name));
    KILN_RETURN_IF_ERROR(CheckFinite(name, value));
    std::cout << fmt::format("[kiln offline] {} = {}{}\n", name, value,
                             step ? fmt::format(" (step {})", *step) : "");
    return Status::Ok();
  }
  return writer_->LogScalar(name, value, step, description);
}

Status Run::LogJson(std::string_view name, MetricKind kind, const std::string& json,
                    std::string_view description) {
  if (offline()) {
    KILN_RETURN_IF_ERROR(ValidateMetricName(name));
    std::cout << fmt::format("[kiln offline] {} {} = {}\n", MetricKindName(kind), name, json);
    return Status::Ok();
  }
  return writer_->LogValue(name, kind, json, description);
}

Status Run::LogList(std::string_view name, std::span<const double> values,
                    std::string_view description) {
  for (double value : values) KILN_RETURN_IF_ERROR(CheckFinite(name, value));
  return LogJson(name, MetricKind::kList, nlohmann::json(values).dump(), description);
}

Status Run::LogRow(std::string_view name, std::span<const std::pair<std::string, double>> columns,
                   std::string_view description) {
  nlohmann::json row = nlohmann::json::object();
  for (const auto& [column, value] : columns) {
    KILN_RETURN_IF_ERROR(CheckFinite(name, value));
    row[column] = value;
  }
  return LogJson(name, MetricKind::kRow, row.dump(), description);
}

Status Run::LogTable(std::string_view name,
                     std::span<const std::pair<std::string, std::vector<double>>> columns,
                     std::string_view description) {
  nlohmann::json table = nlohmann::json::object();
  for (const auto& [column, values] : columns) {
    for (double value : values) KILN_RETURN_IF_ERROR(CheckFinite(name, value));
    table[column] = values;
  }
  return LogJson(name, MetricKind::kTable, table.dump(), description);
}

Result<std::string> Run::StoreImage(std::string_view name, std::string_view png) {
  if (!png.starts_with(kPngSignature)) {
    return InvalidArgumentError(fmt::format("image '{}' is not a PNG file", name));
  }
  KILN_RETURN_IF_ERROR(ValidateMetricName(name));
  if (offline()) return std::string();
  int number = 0;
  {
    std::lock_guard lock(mu_);
    number = ++images_[std::string(name)];
  }
  const std::string file =
      SafeFileName(name) + (number > 1 ? fmt::format("_{}", number) : "") + ".png";
  const std::string relative = "outputs/images/" + file;
  KILN_RETURN_IF_ERROR(CreateDirectories(run_dir_ / "outputs/images"));
  KILN_RETURN_IF_ERROR(WriteFileAtomically(run_dir_ / relative, png));
  return relative;
}

Status Run::LogImageBytes(std::string_view name, std::string_view png,
                          std::string_view description) {
  KILN_ASSIGN_OR_RETURN(const std::string path, StoreImage(name, png));
  if (offline()) {
    std::cout << fmt::format("[kiln offline] image {} ({} bytes)\n", name, png.size());
    return Status::Ok();
  }
  return LogJson(name, MetricKind::kImage, nlohmann::json{{"path", path}}.dump(), description);
}

Status Run::LogImage(std::string_view name, const fs::path& png, std::string_view description) {
  Result<std::string> bytes = ReadFileToString(png);
  if (!bytes.ok()) {
    return InvalidArgumentError(fmt::format("image '{}': cannot read {}: {}", name, png.string(),
                                            bytes.status().message()));
  }
  return LogImageBytes(name, *bytes, description);
}

Status Run::Tag(std::string_view key, std::string_view value) {
  if (offline()) {
    std::cout << fmt::format("[kiln offline] tag {} = {}\n", key, value);
    return Status::Ok();
  }
  return writer_->Tag(key, value);
}

Status Run::UploadFile(std::string_view name, const fs::path& path) {
  const fs::path relative = fs::path(std::string(name)).lexically_normal();
  if (name.empty() || relative.is_absolute() || relative.begin()->string() == "..") {
    return InvalidArgumentError(
        fmt::format("upload name '{}' must be a relative path inside outputs/", name));
  }
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return InvalidArgumentError(fmt::format("cannot upload {}: not a file", path.string()));
  }
  if (offline()) {
    std::cout << fmt::format("[kiln offline] upload {} as outputs/{}\n", path.string(), name);
    return Status::Ok();
  }
  const fs::path target = run_dir_ / "outputs" / relative;
  KILN_RETURN_IF_ERROR(CreateDirectories(target.parent_path()));
  fs::remove(target, error);
  return CopyFileContents(path, target, static_cast<unsigned>(fs::status(path).permissions()));
}

Result<std::map<std::string, LoggedMetric>> Run::GetMetrics() const {
  std::map<std::string, LoggedMetric> metrics;
  if (offline()) return metrics;
  SpoolReader reader(run_dir_ / "metrics" / fmt::format("rank-{}.spool", rank_));
  KILN_ASSIGN_OR_RETURN(const SpoolChunk chunk, reader.Read(0, /*final=*/false));
  std::map<std::uint32_t, LoggedMetric*> by_id;
  for (const Record& record : chunk.records) {
    if (const auto* name = std::get_if<NameRecord>(&record)) {
      LoggedMetric& metric = metrics[name->name];
      metric.kind = name->kind;
      by_id[name->id] = &metric;
    } else if (const auto* scalar = std::get_if<ScalarRecord>(&record)) {
      if (auto it = by_id.find(scalar->name_id); it != by_id.end()) {
        it->second->values.push_back(scalar->value);
      }
    } else if (const auto* value = std::get_if<ValueRecord>(&record)) {
      if (auto it = by_id.find(value->name_id); it != by_id.end()) {
        it->second->json.push_back(value->json);
      }
    }
  }
  return metrics;
}

Status Run::Close() { return writer_ != nullptr ? writer_->Close() : Status::Ok(); }

}  // namespace kiln::tracking
