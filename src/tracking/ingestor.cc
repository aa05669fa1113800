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

Result<store::MetricSeries*> SpoolIngestor::SeriesFor(std::uint32_t name_id,
                                                      store::MetricBatch& batch) {
  if (name_id == last_name_id_ && last_series_ < batch.series.size()) {
    return &batch.series[last_series_];
  }
  std::size_t index = 0;
  if (auto it = series_of_.find(name_id); it != series_of_.end()) {
    index = it->second;
  } else {
    const auto name = names_.find(name_id);
    if (name == names_.end()) {
      return DataLossError(
          fmt::format("{}: a record uses metric id {}, which no name record defines",
                      spool_.string(), name_id));
    }
    index = batch.series.size();
    series_of_[name_id] = index;
    store::MetricSeries& added = batch.series.emplace_back();
    added.name = name->second.name;
    added.rank = rank_;
    added.kind = name->second.kind;
    added.description = name->second.description;
  }
  last_name_id_ = name_id;
  last_series_ = index;
  return &batch.series[index];
}

Status SpoolIngestor::Add(Record&& record, store::MetricBatch& batch, IngestResult& result) {
  ++result.records;
  if (auto* name = std::get_if<NameRecord>(&record)) {
    names_[name->id] = std::move(*name);
  } else if (const auto* scalar = std::get_if<ScalarRecord>(&record)) {
    KILN_ASSIGN_OR_RETURN(store::MetricSeries * into, SeriesFor(scalar->name_id, batch));
    into->points.push_back({scalar->step, scalar->value, scalar->at});
    ++result.points;
  } else if (auto* value = std::get_if<ValueRecord>(&record)) {
    KILN_ASSIGN_OR_RETURN(store::MetricSeries * into, SeriesFor(value->name_id, batch));
    into->values.push_back({value->at, std::move(value->json)});
  } else if (auto* tag = std::get_if<TagRecord>(&record)) {
    batch.tags.emplace_back(std::move(tag->key), std::move(tag->value));
  }
  return Status::Ok();
}

Result<IngestResult> SpoolIngestor::Ingest(bool final) {
  IngestResult result;
  if (!started_) KILN_RETURN_IF_ERROR(Start());
  SpoolReader reader(spool_);
  while (true) {
    store::MetricBatch batch;
    batch.rank = rank_;
    batch.offset_before = offset_;
    series_of_.clear();
    last_series_ = SIZE_MAX;
    IngestResult added;
    KILN_ASSIGN_OR_RETURN(const SpoolChunk chunk,
                          reader.Scan(offset_, final, records_per_batch_, [&](Record&& record) {
                            return Add(std::move(record), batch, added);
                          }));
    result.torn_bytes = chunk.torn_bytes;
    if (chunk.end_offset == offset_) return result;  // Nothing new.
    batch.offset_after = chunk.end_offset;
    const Status stored = store_.AppendMetrics(run_id_, batch);
    if (stored.code() == StatusCode::kFailedPrecondition) {
      // Someone else stored these records: carry on from their offset.
      KILN_RETURN_IF_ERROR(Start());
      continue;
    }
    KILN_RETURN_IF_ERROR(stored);
    offset_ = chunk.end_offset;
    result.records += added.records;
    result.points += added.points;
  }
}

}  // namespace kiln::tracking
