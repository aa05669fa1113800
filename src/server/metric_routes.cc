// /v1/runs/{id}/metrics and spool offsets: launchers' batches in, queries out.

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "server/routes.h"
#include "store/downsample.h"
#include "store/metric_range.h"
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

// The most series one GET /v1/metric-series reads (runs x names).
constexpr std::size_t kMaxSeriesPerRead = 256;

// How a series is read: ?rank=, ?max_points=, ?x=step|time, ?x_min=, ?x_max=.
struct SeriesQuery {
  int rank = 0;
  std::size_t max_points = 0;  // 0: every point
  store::MetricRange range;
};

Result<SeriesQuery> SeriesQueryOf(const httplib::Request& request) {
  SeriesQuery query;
  KILN_ASSIGN_OR_RETURN(const std::int64_t rank, QueryInt(request, "rank", 0, 0));
  if (rank > std::numeric_limits<int>::max()) {
    return InvalidArgumentError(fmt::format("query parameter rank: {} is not a rank", rank));
  }
  query.rank = static_cast<int>(rank);
  KILN_ASSIGN_OR_RETURN(
      const std::int64_t max_points,
      QueryInt(request, "max_points", 0, static_cast<std::int64_t>(store::kMinDownsamplePoints)));
  query.max_points = static_cast<std::size_t>(max_points);
  if (request.has_param("x")) {
    KILN_ASSIGN_OR_RETURN(query.range.axis, store::ParseMetricAxis(request.get_param_value("x")));
  }
  KILN_ASSIGN_OR_RETURN(query.range.min, QueryNumber(request, "x_min"));
  KILN_ASSIGN_OR_RETURN(query.range.max, QueryNumber(request, "x_max"));
  if (query.range.min && query.range.max && *query.range.min > *query.range.max) {
    return InvalidArgumentError(fmt::format("query parameters x_min ({}) > x_max ({})",
                                            *query.range.min, *query.range.max));
  }
  return query;
}

// One series as the API returns it: its range, downsampled, with total_count (every point
// of the series) and range_count (those in the range, before downsampling).
Result<json> ReadSeries(store::Store& store, const std::string& run_id, const std::string& name,
                        const SeriesQuery& query) {
  KILN_ASSIGN_OR_RETURN(store::MetricSeries series, store.ReadMetric(run_id, name, query.rank));
  const std::size_t total = series.points.size() + series.values.size();
  series = store::SliceMetric(series, query.range);
  const std::size_t in_range = series.points.size() + series.values.size();
  if (query.max_points > 0) series = store::Downsample(series, query.max_points);
  json out = store::ToJson(series);
  out["run_id"] = run_id;
  out["total_count"] = total;
  out["range_count"] = in_range;
  return out;
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

  // One metric of one rank (?rank=, default 0), cut to ?x_min=..?x_max= on the ?x= axis and
  // downsampled with ?max_points=.
  server.Get(R"(/v1/runs/([^/]+)/metrics/(.+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const SeriesQuery query, SeriesQueryOf(request));
               return ReadSeries(store, request.matches[1].str(), request.matches[2].str(), query);
             }));

  // Several series in one read: each ?run= with each ?name=, read as above. A series that
  // does not exist comes back with its error instead of failing the others.
  server.Get("/v1/metric-series", Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const SeriesQuery query, SeriesQueryOf(request));
               const std::size_t runs = request.get_param_value_count("run");
               const std::size_t names = request.get_param_value_count("name");
               if (runs == 0 || names == 0) {
                 return InvalidArgumentError(
                     "query parameters run and name: give at least one of each "
                     "(?run=ID&name=loss&name=accuracy)");
               }
               if (runs * names > kMaxSeriesPerRead) {
                 return InvalidArgumentError(
                     fmt::format("{} runs x {} names is {} series; at most {} a request", runs,
                                 names, runs * names, kMaxSeriesPerRead));
               }
               json out = json::array();
               for (std::size_t r = 0; r < runs; ++r) {
                 const std::string run_id = request.get_param_value("run", r);
                 for (std::size_t n = 0; n < names; ++n) {
                   const std::string name = request.get_param_value("name", n);
                   Result<json> series = ReadSeries(store, run_id, name, query);
                   if (!series.ok()) {
                     if (series.status().code() != StatusCode::kNotFound) return series.status();
                     out.push_back({{"run_id", run_id},
                                    {"name", name},
                                    {"rank", query.rank},
                                    {"error",
                                     {{"code", "NOT_FOUND"},
                                      {"message", std::string(series.status().message())}}}});
                     continue;
                   }
                   out.push_back(std::move(series).value());
                 }
               }
               return json{{"series", std::move(out)}};
             }));
}

}  // namespace kiln::server
