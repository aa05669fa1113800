// SqlStore's metric methods (the rest is in sqlite_store.cc).

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "store/point_block.h"
#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

// Points per metric_blocks row: large enough that a million points are a few rows, small
// enough that appending to a live series stays cheap.
constexpr std::size_t kPointsPerBlock = 65536;

}  // namespace

Status SqlStore::AppendSeries(Connection& db, std::string_view run_id, int rank,
                              const MetricSeries& series) {
  KILN_ASSIGN_OR_RETURN(Statement create,
                        db.Prepare("INSERT INTO metrics (run_id, name, rank, kind, description) "
                                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
  KILN_RETURN_IF_ERROR(create.Bind(1, run_id)
                           .Bind(2, series.name)
                           .Bind(3, static_cast<std::int64_t>(rank))
                           .Bind(4, MetricKindName(series.kind))
                           .Bind(5, series.description)
                           .Run());
  KILN_ASSIGN_OR_RETURN(
      Statement current,
      db.Prepare("SELECT id, kind, count, last_value, min_value, max_value, last_step, last_at, "
                 "next_seq FROM metrics WHERE run_id = ? AND name = ? AND rank = ?"));
  current.Bind(1, run_id).Bind(2, series.name).Bind(3, static_cast<std::int64_t>(rank));
  KILN_ASSIGN_OR_RETURN(const bool found, current.Step());
  if (!found) return InternalError(fmt::format("metric {} vanished", series.name));
  const std::int64_t id = current.ColumnInt(0);
  if (current.ColumnText(1) != MetricKindName(series.kind)) {
    return InvalidArgumentError(fmt::format("metric '{}' of rank {} is a {}, not a {}", series.name,
                                            rank, current.ColumnText(1),
                                            MetricKindName(series.kind)));
  }
  std::int64_t count = current.ColumnInt(2);
  std::optional<double> last = current.ColumnOptionalDouble(3);
  std::optional<double> min = current.ColumnOptionalDouble(4);
  std::optional<double> max = current.ColumnOptionalDouble(5);
  std::optional<std::int64_t> last_step = current.ColumnOptionalInt(6);
  Timestamp last_at = current.ColumnInt(7);
  std::int64_t seq = current.ColumnInt(8);

  if (!series.points.empty()) {
    KILN_ASSIGN_OR_RETURN(Statement block,
                          db.Prepare("INSERT INTO metric_blocks (metric_id, seq, count, points) "
                                     "VALUES (?, ?, ?, ?)"));
    const std::span<const MetricPoint> points(series.points);
    for (std::size_t start = 0; start < points.size(); start += kPointsPerBlock) {
      const auto part = points.subspan(start, std::min(kPointsPerBlock, points.size() - start));
      block.Reset();
      KILN_RETURN_IF_ERROR(block.Bind(1, id)
                               .Bind(2, seq++)
                               .Bind(3, static_cast<std::int64_t>(part.size()))
                               .BindBlob(4, EncodePointBlock(part))
                               .Run());
    }
    for (const MetricPoint& point : series.points) {
      min = std::min(min.value_or(point.value), point.value);
      max = std::max(max.value_or(point.value), point.value);
    }
    last = series.points.back().value;
    last_step = series.points.back().step;
    last_at = series.points.back().at;
    count += static_cast<std::int64_t>(series.points.size());
  }
  if (!series.values.empty()) {
    KILN_ASSIGN_OR_RETURN(Statement value,
                          db.Prepare("INSERT INTO metric_values (metric_id, seq, at, value) "
                                     "VALUES (?, ?, ?, ?)"));
    for (const MetricValue& item : series.values) {
      value.Reset();
      KILN_RETURN_IF_ERROR(
          value.Bind(1, id).Bind(2, seq++).Bind(3, item.at).Bind(4, item.json).Run());
    }
    last_at = series.values.back().at;
    count += static_cast<std::int64_t>(series.values.size());
  }
  KILN_ASSIGN_OR_RETURN(
      Statement update,
      db.Prepare("UPDATE metrics SET count = ?, last_value = ?, min_value = ?, max_value = ?, "
                 "last_step = ?, last_at = ?, next_seq = ?, "
                 "description = CASE WHEN description = '' THEN ? ELSE description END "
                 "WHERE id = ?"));
  return update.Bind(1, count)
      .BindNullable(2, last)
      .BindNullable(3, min)
      .BindNullable(4, max)
      .BindNullable(5, last_step)
      .Bind(6, last_at)
      .Bind(7, seq)
      .Bind(8, series.description)
      .Bind(9, id)
      .Run();
}

Status SqlStore::AppendMetrics(std::string_view run_id, const MetricBatch& batch) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement run, db->Prepare("SELECT 1 FROM runs WHERE id = ?"));
    run.Bind(1, run_id);
    KILN_ASSIGN_OR_RETURN(const bool exists, run.Step());
    if (!exists) return NotFoundError(fmt::format("run '{}' does not exist", run_id));
    KILN_ASSIGN_OR_RETURN(
        Statement offset,
        db->Prepare("SELECT byte_offset FROM spool_offsets WHERE run_id = ? AND rank = ?"));
    offset.Bind(1, run_id).Bind(2, static_cast<std::int64_t>(batch.rank));
    KILN_ASSIGN_OR_RETURN(const bool has_offset, offset.Step());
    const std::uint64_t stored = has_offset ? static_cast<std::uint64_t>(offset.ColumnInt(0)) : 0;
    if (stored != batch.offset_before) {
      return FailedPreconditionError(
          fmt::format("rank {} of run {} is ingested up to byte {}, not {}; the batch is stale",
                      batch.rank, run_id, stored, batch.offset_before));
    }
    for (const MetricSeries& series : batch.series) {
      KILN_RETURN_IF_ERROR(AppendSeries(*db, run_id, batch.rank, series));
    }
    if (!batch.tags.empty()) {
      KILN_ASSIGN_OR_RETURN(
          Statement tag,
          db->Prepare("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
                      "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value"));
      for (const auto& [key, value] : batch.tags) {
        tag.Reset();
        KILN_RETURN_IF_ERROR(tag.Bind(1, run_id).Bind(2, key).Bind(3, value).Run());
      }
    }
    KILN_ASSIGN_OR_RETURN(
        Statement advance,
        db->Prepare("INSERT INTO spool_offsets (run_id, rank, byte_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT(run_id, rank) DO UPDATE SET byte_offset = excluded.byte_offset"));
    return advance.Bind(1, run_id)
        .Bind(2, static_cast<std::int64_t>(batch.rank))
        .Bind(3, static_cast<std::int64_t>(batch.offset_after))
        .Run();
  });
}

Result<std::uint64_t> SqlStore::GetSpoolOffset(std::string_view run_id, int rank) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement offset,
      db->Prepare("SELECT byte_offset FROM spool_offsets WHERE run_id = ? AND rank = ?"));
  offset.Bind(1, run_id).Bind(2, static_cast<std::int64_t>(rank));
  KILN_ASSIGN_OR_RETURN(const bool found, offset.Step());
  return found ? static_cast<std::uint64_t>(offset.ColumnInt(0)) : 0;
}

Result<std::vector<MetricSummary>> SqlStore::ListMetrics(std::string_view run_id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare("SELECT name, rank, kind, description, count, last_value, min_value, max_value, "
                  "last_step, last_at FROM metrics WHERE run_id = ? ORDER BY name, rank"));
  query.Bind(1, run_id);
  std::vector<MetricSummary> summaries;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    MetricSummary summary;
    summary.name = query.ColumnText(0);
    summary.rank = static_cast<int>(query.ColumnInt(1));
    const std::optional<MetricKind> kind = ParseMetricKind(query.ColumnText(2));
    if (!kind) return DataLossError(fmt::format("metric {} has an unknown kind", summary.name));
    summary.kind = *kind;
    summary.description = query.ColumnText(3);
    summary.count = query.ColumnInt(4);
    summary.last = query.ColumnOptionalDouble(5);
    summary.min = query.ColumnOptionalDouble(6);
    summary.max = query.ColumnOptionalDouble(7);
    summary.last_step = query.ColumnOptionalInt(8);
    summary.last_at = query.ColumnInt(9);
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

Result<MetricSeries> SqlStore::ReadMetric(std::string_view run_id, std::string_view name,
                                          int rank) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(Statement metric,
                        db->Prepare("SELECT id, kind, description, count FROM metrics "
                                    "WHERE run_id = ? AND name = ? AND rank = ?"));
  metric.Bind(1, run_id).Bind(2, name).Bind(3, static_cast<std::int64_t>(rank));
  KILN_ASSIGN_OR_RETURN(const bool found, metric.Step());
  if (!found) {
    return NotFoundError(fmt::format("run {} has no metric '{}' from rank {}", run_id, name, rank));
  }
  MetricSeries series;
  series.name = std::string(name);
  series.rank = rank;
  const std::optional<MetricKind> kind = ParseMetricKind(metric.ColumnText(1));
  if (!kind) return DataLossError(fmt::format("metric {} has an unknown kind", name));
  series.kind = *kind;
  series.description = metric.ColumnText(2);
  const std::int64_t id = metric.ColumnInt(0);
  if (series.kind == MetricKind::kScalar) {
    series.points.reserve(static_cast<std::size_t>(metric.ColumnInt(3)));
    KILN_ASSIGN_OR_RETURN(
        Statement blocks,
        db->Prepare("SELECT points FROM metric_blocks WHERE metric_id = ? ORDER BY seq"));
    blocks.Bind(1, id);
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool row, blocks.Step());
      if (!row) break;
      KILN_RETURN_IF_ERROR(DecodePointBlock(blocks.ColumnBlob(0), series.points)
                               .WithPrefix(fmt::format("metric '{}' of run {}", name, run_id)));
    }
  } else {
    KILN_ASSIGN_OR_RETURN(
        Statement values,
        db->Prepare("SELECT at, value FROM metric_values WHERE metric_id = ? ORDER BY seq"));
    values.Bind(1, id);
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool row, values.Step());
      if (!row) break;
      series.values.push_back({values.ColumnInt(0), values.ColumnText(1)});
    }
  }
  return series;
}

}  // namespace kiln::store::sql
