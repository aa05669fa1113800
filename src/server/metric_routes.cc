// /v1/runs/{id}/metrics and spool offsets: launchers' batches in, queries out.

#include <fmt/format.h>

#include "server/routes.h"
#include "store/downsample.h"
#include "store/record_json.h"
#include "store/wire.h"

namespace kiln::server {

using nlohmann::json;

namespace {

// The run's number of ranks, from its stored spec: node_count x process_count_per_node
// (each at most 100000, so their product needs 64 bits).
Result<std::int64_t> WorldSize(const store::Run& run) {
  const json spec = json::parse(run.spec_json, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object() || !spec.contains("node_count") ||
      !spec["node_count"].is_number_integer() || !spec.contains("process_count_per_node") ||
      !spec["process_count_per_node"].is_number_integer()) {
    return DataLossError(fmt::format("run {} has no readable rank layout in its spec", run.id));
  }
  return spec["node_count"].get<std::int64_t>() *
         spec["process_count_per_node"].get<std::int64_t>();
}

// A batch may go to a run that has not ended, for a rank of its world.
Status CheckIngest(store::Store& store, const std::string& run_id, int rank) {
  KILN_ASSIGN_OR_RETURN(const store::Run run, store.GetRun(run_id));
  if (store::IsTerminal(run.status)) {
    return FailedPreconditionError(fmt::format("run {} has ended ({}); it takes no more metrics",
                                               run_id, store::RunStatusName(run.status)));
  }
  KILN_ASSIGN_OR_RETURN(const std::int64_t world_size, WorldSize(run));
  if (rank >= world_size) {
    return InvalidArgumentError(fmt::format("rank {} is outside run {}'s world of {} ranks (0-{})",
                                            rank, run_id, world_size, world_size - 1));
  }
  return Status::Ok();
}

}  // namespace

void AddMetricRoutes(http::Listener& server, ServerState& state) {
  store::Store& store = state.workspace.store();

  // A launcher's batch: stored with its new spool offset in one transaction, or, when the
  // offset shows it was stored before, refused (409) with nothing written. A batch for an
  // ended run (409) or a rank outside the run's world (400) is refused too.
  server.Post(R"(/v1/runs/([^/]+)/metrics)",
              Json([&](const httplib::Request& request) -> Result<json> {
                KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                KILN_ASSIGN_OR_RETURN(const store::MetricBatch batch,
                                      store::wire::MetricBatchFromJson(body));
                KILN_RETURN_IF_ERROR(CheckIngest(store, request.matches[1].str(), batch.rank));
                KILN_RETURN_IF_ERROR(store.AppendMetrics(request.matches[1].str(), batch));
                return json{{"offset", batch.offset_after}};
              }));

  server.Get(R"(/v1/runs/([^/]+)/spool-offsets/(\d+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const int rank, PathRank(request, 2));
               KILN_ASSIGN_OR_RETURN(const std::uint64_t offset,
                                     store.GetSpoolOffset(request.matches[1].str(), rank));
               return json{{"offset", offset}};
             }));

  server.Get(R"(/v1/runs/([^/]+)/metrics)",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::MetricSummary> metrics,
                                     store.ListMetrics(request.matches[1].str()));
               return JsonList("metrics", metrics);
             }));

  // One metric of one rank (?rank=, default 0), downsampled with ?max_points=.
  server.Get(
      R"(/v1/runs/([^/]+)/metrics/(.+))",
      Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const std::int64_t rank, QueryInt(request, "rank", 0, 0));
        KILN_ASSIGN_OR_RETURN(const std::int64_t max_points,
                              QueryInt(request, "max_points", 0,
                                       static_cast<std::int64_t>(store::kMinDownsamplePoints)));
        KILN_ASSIGN_OR_RETURN(store::MetricSeries series,
                              store.ReadMetric(request.matches[1].str(), request.matches[2].str(),
                                               static_cast<int>(rank)));
        const std::size_t total = series.points.size() + series.values.size();
        if (max_points > 0) {
          series = store::Downsample(series, static_cast<std::size_t>(max_points));
        }
        json out = store::ToJson(series);
        out["total_count"] = total;
        return out;
      }));
}

}  // namespace kiln::server
