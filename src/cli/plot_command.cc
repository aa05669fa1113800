// kiln plot RUN[,RUN...] NAME... -o FILE.png|.svg

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "plot/line_chart.h"

namespace kiln::cli {
namespace {

struct PlotFlags {
  std::string runs;
  std::vector<std::string> names;
  std::string output;
  int rank = 0;
};

Status RunPlot(const PlotFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  std::vector<std::string> ids;
  for (const std::string& name : SplitString(flags.runs, ',')) {
    if (name.empty()) continue;
    KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), name));
    KILN_RETURN_IF_ERROR(client::ReadRun(*workspace, id).status());
    ids.push_back(id);
  }
  std::vector<plot::Chart> charts;
  for (const std::string& name : flags.names) {
    plot::Chart chart;
    chart.title = name;
    for (const std::string& id : ids) {
      Result<store::MetricSeries> series = workspace->store().ReadMetric(id, name, flags.rank);
      if (!series.ok()) {
        if (series.status().code() == StatusCode::kNotFound) continue;
        return series.status();
      }
      if (series->kind != store::MetricKind::kScalar) {
        return InvalidArgumentError(fmt::format("metric '{}' of run {} is a {}; only scalars plot",
                                                name, id, MetricKindName(series->kind)));
      }
      plot::Series line{id, {}, {}};
      for (const store::MetricPoint& point : series->points) {
        line.x.push_back(static_cast<double>(point.step));
        line.y.push_back(point.value);
      }
      chart.series.push_back(std::move(line));
    }
    if (chart.series.empty()) {
      return NotFoundError(fmt::format("no run of {} has a metric '{}' from rank {}",
                                       JoinStrings(ids, ", "), name, flags.rank));
    }
    charts.push_back(std::move(chart));
  }
  KILN_RETURN_IF_ERROR(plot::RenderCharts(charts, flags.output));
  PrintNote(fmt::format("Wrote {}", flags.output));
  return Status::Ok();
}

}  // namespace

void AddPlotCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<PlotFlags>();
  CLI::App* plot =
      app.add_subcommand("plot", "Draw metric curves, one line per run, into a PNG or SVG file");
  plot->add_option("runs", flags->runs, "Runs, separated by commas")->required();
  plot->add_option("names", flags->names, "Scalar metrics, one chart each")->required();
  plot->add_option("-o,--output", flags->output, "FILE.png or FILE.svg")->required();
  plot->add_option("--rank", flags->rank, "Rank whose points to draw (default 0)");
  plot->callback([flags, &context] { context.Finish(RunPlot(*flags, context)); });
}

}  // namespace kiln::cli
