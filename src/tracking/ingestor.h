#pragma once

// SpoolIngestor moves one rank's spooled metrics into the store, in batches.
//
// 1. On the first call it reads the rank's stored offset (0 for a new run) and the name
//    records before it, so an ingestor that restarts continues where the last one stopped.
// 2. Each call reads the records after the offset and stores them with the new offset in
//    one transaction (Store::AppendMetrics): a record is stored once, or not at all.
// 3. If another ingestor got there first (a stale offset), it reloads and goes on.
// While the rank runs, an incomplete record at the end is left for the next call; once the
// rank is gone (`final`), a damaged tail is skipped and reported in torn_bytes.
//
// Not thread-safe: one ingestor per spool, driven by the launcher's loop.

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "common/result.h"
#include "store/store.h"
#include "tracking/spool_format.h"

namespace kiln::tracking {

struct IngestResult {
  std::uint64_t records = 0;
  std::uint64_t points = 0;      // scalar points among the records
  std::uint64_t torn_bytes = 0;  // `final` only: damaged bytes skipped at the end
};

class SpoolIngestor {
 public:
  // Records per store transaction: about 37 MB of scalars.
  static constexpr std::size_t kRecordsPerBatch = 1'000'000;

  // Records per batch for a store across a network (a Kiln server): about 3 MB of JSON.
  static constexpr std::size_t kRecordsPerRemoteBatch = 50'000;

  SpoolIngestor(store::Store& store, std::string run_id, int rank, std::filesystem::path spool,
                std::size_t records_per_batch = kRecordsPerBatch)
      : store_(store),
        run_id_(std::move(run_id)),
        rank_(rank),
        spool_(std::move(spool)),
        records_per_batch_(records_per_batch) {}

  Result<IngestResult> Ingest(bool final);

 private:
  Status Start();
  // Adds one record to `batch`.
  Status Add(Record&& record, store::MetricBatch& batch, IngestResult& result);
  Result<store::MetricSeries*> SeriesFor(std::uint32_t name_id, store::MetricBatch& batch);

  store::Store& store_;
  const std::string run_id_;
  const int rank_;
  const std::filesystem::path spool_;
  const std::size_t records_per_batch_;
  bool started_ = false;
  std::uint64_t offset_ = 0;
  std::unordered_map<std::uint32_t, NameRecord> names_;
  // The batch being built: name id -> index in batch.series, and the last one looked up
  // (consecutive points are mostly of one name).
  std::unordered_map<std::uint32_t, std::size_t> series_of_;
  std::uint32_t last_name_id_ = 0;
  std::size_t last_series_ = SIZE_MAX;
};

}  // namespace kiln::tracking
