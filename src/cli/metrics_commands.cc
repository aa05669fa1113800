// kiln metrics | compare

#include <fmt/compile.h>
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

using store::MetricKind;

enum class Format { kTable, kCsv, kJson };

Result<Format> ParseFormat(const std::string& text) {
  if (text == "table") return Format::kTable;
  if (text == "csv") return Format::kCsv;
  if (text == "json") return Format::kJson;
  return InvalidArgumentError(fmt::format("--format: must be table, csv or json; got '{}'", text));
}

// "all" or a rank number; nullopt means every rank.
Result<std::optional<int>> ParseRank(const std::string& text) {
  if (text == "all") return std::optional<int>();
  const std::optional<std::int64_t> rank = ParseInt64(text);
  if (!rank || *rank < 0) {
    return InvalidArgumentError(
        fmt::format("--rank: must be a rank number or 'all'; got '{}'", text));
  }
  return std::optional<int>(static_cast<int>(*rank));
}

std::string Number(const std::optional<double>& value) {
  return value ? fmt::format("{:.6g}", *value) : "-";
}

// Seconds since the epoch with microseconds, cheap to write a million times.
void AppendSeconds(fmt::memory_buffer& out, Timestamp at) {
  fmt::format_to(std::back_inserter(out), "{}.{:06}", at / 1'000'000, at % 1'000'000);
}

// Writes CSV rows of scalar points to stdout through a fixed buffer, with std::to_chars
// (shortest round-trip doubles) and no format strings: a million rows in well under 200 ms.
class PointCsvWriter {
 public:
  ~PointCsvWriter() { Flush(); }

  void Write(std::string_view prefix, const store::MetricPoint& point) {
    if (used_ + prefix.size() + kMaxRowTail > sizeof(buffer_)) Flush();
    char* out = buffer_ + used_;
    out = std::copy(prefix.begin(), prefix.end(), out);
    out = std::to_chars(out, out + 24, point.step).ptr;
    *out++ = ',';
    out = fmt::format_to(out, FMT_COMPILE("{}"), point.value);
    *out++ = ',';
    // Points logged close together share their second: reuse its digits.
    const std::int64_t seconds = point.at / 1'000'000;
    if (seconds != last_seconds_) {
      last_seconds_ = seconds;
      seconds_length_ = static_cast<std::size_t>(
          std::to_chars(seconds_text_, seconds_text_ + 24, seconds).ptr - seconds_text_);
      seconds_text_[seconds_length_++] = '.';
    }
    out = std::copy(seconds_text_, seconds_text_ + seconds_length_, out);
    std::int64_t micros = point.at % 1'000'000;
    for (int digit = 5; digit >= 0; --digit) {
      out[digit] = static_cast<char>('0' + micros % 10);
      micros /= 10;
    }
    out += 6;
    *out++ = '\n';
    used_ = static_cast<std::size_t>(out - buffer_);
  }

  void Flush() {
    std::fwrite(buffer_, 1, used_, stdout);
    used_ = 0;
  }

 private:
  // Room for step, value and time of one row: 20 + 1 + 24 + 1 + 20 + 1 + 6 + 1 bytes.
  static constexpr std::size_t kMaxRowTail = 96;
  char buffer_[1 << 20];
  std::size_t used_ = 0;
  std::int64_t last_seconds_ = -1;
  char seconds_text_[32];
  std::size_t seconds_length_ = 0;
};

struct MetricsFlags {
  std::string run;
  std::string name;
  std::string rank = "0";
  std::string format = "table";
};

Status PrintSummaries(const std::vector<store::MetricSummary>& summaries, Format format) {
  if (format == Format::kJson) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::MetricSummary& summary : summaries) out.push_back(store::ToJson(summary));
    PrintJson(out);
    return Status::Ok();
  }
  if (format == Format::kCsv) {
    std::cout << "name,rank,kind,count,last,min,max,last_step\n";
    for (const store::MetricSummary& s : summaries) {
      std::cout << fmt::format(
          "{},{},{},{},{},{},{},{}\n", s.name, s.rank, MetricKindName(s.kind), s.count,
          s.last ? fmt::format("{}", *s.last) : "", s.min ? fmt::format("{}", *s.min) : "",
          s.max ? fmt::format("{}", *s.max) : "", s.last_step ? std::to_string(*s.last_step) : "");
    }
    return Status::Ok();
  }
  Table table({"NAME", "RANK", "KIND", "COUNT", "LAST", "MIN", "MAX", "LAST STEP"});
  for (const store::MetricSummary& s : summaries) {
    table.AddRow({s.name, std::to_string(s.rank), std::string(MetricKindName(s.kind)),
                  HumanCount(static_cast<std::uint64_t>(s.count)), Number(s.last), Number(s.min),
                  Number(s.max), s.last_step ? std::to_string(*s.last_step) : "-"});
  }
  std::cout << table.Render();
  return Status::Ok();
}

// A logged JSON value as one quoted CSV field.
std::string CsvQuoted(std::string_view json) {
  std::string quoted = "\"";
  for (char c : json) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void PrintSeries(const std::vector<store::MetricSeries>& all, Format format) {
  if (format == Format::kJson) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::MetricSeries& series : all) out.push_back(store::ToJson(series));
    PrintJson(out);
    return;
  }
  if (format == Format::kCsv) {
    std::fputs("name,rank,step,value,time\n", stdout);
    auto points = std::make_unique<PointCsvWriter>();
    for (const store::MetricSeries& series : all) {
      const std::string prefix = fmt::format("{},{},", series.name, series.rank);
      for (const store::MetricPoint& point : series.points) points->Write(prefix, point);
      points->Flush();
      for (const store::MetricValue& value : series.values) {
        fmt::memory_buffer row;
        // No step for a value: name,rank,,"json",time
        fmt::format_to(std::back_inserter(row), "{},{},", prefix, CsvQuoted(value.json));
        AppendSeconds(row, value.at);
        row.push_back('\n');
        std::fwrite(row.data(), 1, row.size(), stdout);
      }
    }
    return;
  }
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "{:<24} {:>4} {:>10} {:>14}  {}\n", "NAME", "RANK",
                 "STEP", "VALUE", "TIME (UTC)");
  for (const store::MetricSeries& series : all) {
    for (const store::MetricPoint& point : series.points) {
      fmt::format_to(std::back_inserter(out), "{:<24} {:>4} {:>10} {:>14.6g}  {}\n", series.name,
                     series.rank, point.step, point.value, FormatTimestamp(point.at));
      if (out.size() > (1 << 20)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    for (const store::MetricValue& value : series.values) {
      fmt::format_to(std::back_inserter(out), "{:<24} {:>4} {:>10} {:>14}  {}  {}\n", series.name,
                     series.rank, "-", MetricKindName(series.kind), FormatTimestamp(value.at),
                     value.json);
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

Status RunMetrics(const MetricsFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(const Format format, ParseFormat(flags.format));
  KILN_ASSIGN_OR_RETURN(const std::optional<int> rank, ParseRank(flags.rank));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_RETURN_IF_ERROR(client::ReadRun(*workspace, id).status());
  KILN_ASSIGN_OR_RETURN(std::vector<store::MetricSummary> summaries,
                        workspace->store().ListMetrics(id));
  std::erase_if(summaries, [&](const store::MetricSummary& s) {
    return (rank && s.rank != *rank) || (!flags.name.empty() && s.name != flags.name);
  });
  if (flags.name.empty()) return PrintSummaries(summaries, format);
  if (summaries.empty()) {
    return NotFoundError(fmt::format("run {} has no metric '{}'{}", id, flags.name,
                                     rank ? fmt::format(" from rank {}", *rank) : ""));
  }
  std::vector<store::MetricSeries> all;
  for (const store::MetricSummary& summary : summaries) {
    KILN_ASSIGN_OR_RETURN(store::MetricSeries series,
                          workspace->store().ReadMetric(id, summary.name, summary.rank));
    all.push_back(std::move(series));
  }
  PrintSeries(all, format);
  return Status::Ok();
}

struct CompareFlags {
  std::vector<std::string> runs;
  bool json = false;
};

Status RunCompare(const CompareFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  std::vector<store::Run> runs;
  std::vector<std::vector<store::MetricSummary>> metrics;
  for (const std::string& name : flags.runs) {
    KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), name));
    KILN_ASSIGN_OR_RETURN(store::Run run, client::ReadRun(*workspace, id));
    KILN_ASSIGN_OR_RETURN(std::vector<store::MetricSummary> summaries,
                          workspace->store().ListMetrics(id));
    std::erase_if(summaries, [](const store::MetricSummary& s) {
      return s.rank != 0 || s.kind != MetricKind::kScalar;
    });
    runs.push_back(std::move(run));
    metrics.push_back(std::move(summaries));
  }
  // Rows: every param name, then every scalar metric name, over all the runs.
  std::set<std::string> params;
  std::set<std::string> names;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    for (const store::RunParam& param : runs[i].params) params.insert(param.name);
    for (const store::MetricSummary& summary : metrics[i]) names.insert(summary.name);
  }
  const auto param_of = [&](std::size_t i, const std::string& name) -> std::optional<std::string> {
    for (const store::RunParam& param : runs[i].params) {
      if (param.name == name) return param.value.value_or("(flag)");
    }
    return std::nullopt;
  };
  const auto metric_of = [&](std::size_t i,
                             const std::string& name) -> const store::MetricSummary* {
    for (const store::MetricSummary& summary : metrics[i]) {
      if (summary.name == name) return &summary;
    }
    return nullptr;
  };
  if (flags.json) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < runs.size(); ++i) {
      nlohmann::json run = {{"id", runs[i].id},
                            {"status", std::string(store::RunStatusName(runs[i].status))},
                            {"params", nlohmann::json::object()},
                            {"metrics", nlohmann::json::object()}};
      for (const store::RunParam& param : runs[i].params) {
        run["params"][param.name] =
            param.value ? nlohmann::json(*param.value) : nlohmann::json(nullptr);
      }
      for (const store::MetricSummary& summary : metrics[i]) {
        run["metrics"][summary.name] = {{"last", *summary.last},
                                        {"min", *summary.min},
                                        {"max", *summary.max},
                                        {"count", summary.count}};
      }
      out.push_back(std::move(run));
    }
    PrintJson(out);
    return Status::Ok();
  }
  std::vector<std::string> header = {""};
  for (const store::Run& run : runs) header.push_back(run.id);
  Table table(header);
  std::vector<std::string> status = {"status"};
  for (const store::Run& run : runs) status.emplace_back(store::RunStatusName(run.status));
  table.AddRow(status);
  for (const std::string& name : params) {
    std::vector<std::string> row = {"param " + name};
    for (std::size_t i = 0; i < runs.size(); ++i) row.push_back(param_of(i, name).value_or("-"));
    table.AddRow(row);
  }
  for (const std::string& name : names) {
    for (const char* which : {"last", "min", "max"}) {
      std::vector<std::string> row = {fmt::format("{} ({})", name, which)};
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const store::MetricSummary* summary = metric_of(i, name);
        const std::optional<double> value = summary == nullptr                  ? std::nullopt
                                            : std::string_view(which) == "last" ? summary->last
                                            : std::string_view(which) == "min"  ? summary->min
                                                                                : summary->max;
        row.push_back(Number(value));
      }
      table.AddRow(row);
    }
  }
  std::cout << table.Render();
  return Status::Ok();
}

}  // namespace

void AddMetricsCommands(CLI::App& app, CliContext& context) {
  auto metrics_flags = std::make_shared<MetricsFlags>();
  CLI::App* metrics = app.add_subcommand(
      "metrics", "Print a run's metrics: a summary of each, or one metric's points (--name)");
  metrics->add_option("run", metrics_flags->run, "Run id (or its last part)")->required();
  metrics->add_option("--name", metrics_flags->name, "Print this metric's points or values");
  metrics->add_option("--rank", metrics_flags->rank, "Rank to show, or 'all' (default 0)");
  metrics->add_option("--format", metrics_flags->format, "table, csv or json (default table)");
  metrics->callback(
      [metrics_flags, &context] { context.Finish(RunMetrics(*metrics_flags, context)); });

  auto compare_flags = std::make_shared<CompareFlags>();
  CLI::App* compare = app.add_subcommand(
      "compare", "Compare runs side by side: params, and last/min/max of each scalar metric");
  compare->add_option("runs", compare_flags->runs, "Two or more runs")->required()->expected(2, -1);
  compare->add_flag("--json", compare_flags->json, "Print JSON (docs/cli.md)");
  compare->callback(
      [compare_flags, &context] { context.Finish(RunCompare(*compare_flags, context)); });
}

}  // namespace kiln::cli
