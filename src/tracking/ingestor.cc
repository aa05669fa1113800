#include "tracking/ingestor.h"

#include <fmt/format.h>

#include "tracking/spool_reader.h"

namespace kiln::tracking {

Status SpoolIngestor::Start() {
  names_.clear();
  KILN_ASSIGN_OR_RETURN(offset_, store_.GetSpoolOffset(run_id_, rank_));
  if (offset_ > 0) {
    SpoolReader reader(spool_);
    KILN_ASSIGN_OR_RETURN(SpoolChunk chunk, reader.Read(0, false, SIZE_MAX, offset_));
    for (Record& record : chunk.records) {
      if (auto* name = std::get_if<NameRecord>(&record)) names_[name->id] = std::move(*name);
    }
  }
  started_ = true;
  return Status::Ok();
}

Result<store::MetricBatch> SpoolIngestor::ToBatch(std::vector<Record>& records,
                                                  std::uint64_t end_offset,
                                                  IngestResult& result) {
  store::MetricBatch batch;
  batch.rank = rank_;
  batch.offset_before = offset_;
  batch.offset_after = end_offset;
  std::unordered_map<std::uint32_t, std::size_t> series_of;  // name id -> index in batch
  const auto series = [&](std::uint32_t name_id) -> Result<store::MetricSeries*> {
    if (auto it = series_of.find(name_id); it != series_of.end()) return &batch.series[it->second];
    const auto name = names_.find(name_id);
    if (name == names_.end()) {
      return DataLossError(fmt::format("{}: a record uses metric id {}, which no name record "
                                       "defines",
                                       spool_.string(), name_id));
    }
    series_of[name_id] = batch.series.size();
    store::MetricSeries& added = batch.series.emplace_back();
    added.name = name->second.name;
    added.rank = rank_;
    added.kind = name->second.kind;
    added.description = name->second.description;
    return &added;
  };
  for (Record& record : records) {
    ++result.records;
    if (auto* name = std::get_if<NameRecord>(&record)) {
      names_[name->id] = std::move(*name);
    } else if (const auto* scalar = std::get_if<ScalarRecord>(&record)) {
      KILN_ASSIGN_OR_RETURN(store::MetricSeries * into, series(scalar->name_id));
      into->points.push_back({scalar->step, scalar->value, scalar->at});
      ++result.points;
    } else if (auto* value = std::get_if<ValueRecord>(&record)) {
      KILN_ASSIGN_OR_RETURN(store::MetricSeries * into, series(value->name_id));
      into->values.push_back({value->at, std::move(value->json)});
    } else if (auto* tag = std::get_if<TagRecord>(&record)) {
      batch.tags.emplace_back(std::move(tag->key), std::move(tag->value));
    }
  }
  return batch;
}

Result<IngestResult> SpoolIngestor::Ingest(bool final) {
  IngestResult result;
  if (!started_) KILN_RETURN_IF_ERROR(Start());
  SpoolReader reader(spool_);
  while (true) {
    KILN_ASSIGN_OR_RETURN(SpoolChunk chunk, reader.Read(offset_, final, kRecordsPerBatch));
    result.torn_bytes = chunk.torn_bytes;
    if (chunk.end_offset == offset_) return result;  // Nothing new.
    KILN_ASSIGN_OR_RETURN(store::MetricBatch batch, ToBatch(chunk.records, chunk.end_offset, result));
    const Status stored = store_.AppendMetrics(run_id_, batch);
    if (stored.code() == StatusCode::kFailedPrecondition) {
      // Someone else stored these records: carry on from their offset.
      KILN_RETURN_IF_ERROR(Start());
      continue;
    }
    KILN_RETURN_IF_ERROR(stored);
    offset_ = chunk.end_offset;
  }
}

}  // namespace kiln::tracking
