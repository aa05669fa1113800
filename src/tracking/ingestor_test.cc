#include "tracking/ingestor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/test_dir.h"
#include "store/sqlite/sqlite_store.h"
#include "tracking/spool_writer.h"

namespace kiln::tracking {
namespace {
namespace fs = std::filesystem;

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::sqlite::SqliteStore::Open(dir_.path() / "kiln.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    store::Run run;
    run.id = "r1";
    run.experiment = "e";
    run.spec_json = "{}";
    ASSERT_TRUE(store_->CreateRun(run).ok());
  }

  std::size_t Points(const std::string& name, int rank = 0) {
    const auto series = store_->ReadMetric("r1", name, rank);
    return series.ok() ? series->points.size() : 0;
  }

  TestDir dir_;
  std::unique_ptr<store::Store> store_;
  fs::path spool_ = dir_.path() / "rank-0.spool";
};

TEST_F(IngestorTest, MovesEveryKindIntoTheStore) {
  auto writer = SpoolWriter::Open(spool_, 0);
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", 1.0 / (i + 1)).ok());
  ASSERT_TRUE((*writer)->LogValue("scores", MetricKind::kRow, R"({"a":1})", "row").ok());
  ASSERT_TRUE((*writer)->Tag("stage", "warmup").ok());
  SpoolIngestor ingestor(*store_, "r1", 0, spool_);
  const auto result = ingestor.Ingest(false);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->points, 5u);
  EXPECT_EQ(Points("loss"), 5u);
  const auto scores = store_->ReadMetric("r1", "scores", 0);
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->values[0].json, R"({"a":1})");
  EXPECT_EQ(scores->description, "row");
  EXPECT_EQ(store_->GetRun("r1")->tags.at("stage"), "warmup");
  EXPECT_EQ(*store_->GetSpoolOffset("r1", 0), (*writer)->size());
}

// A launcher that restarts re-reads the spool and stores nothing twice.
TEST_F(IngestorTest, RestartsNeverDuplicate) {
  auto writer = SpoolWriter::Open(spool_, 0);
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", i).ok());
  {
    SpoolIngestor first(*store_, "r1", 0, spool_);
    ASSERT_TRUE(first.Ingest(false).ok());
  }
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", i).ok());
  ASSERT_TRUE((*writer)->LogScalar("acc", 0.9).ok());
  SpoolIngestor restarted(*store_, "r1", 0, spool_);
  const auto result = restarted.Ingest(true);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->points, 51u);
  EXPECT_EQ(Points("loss"), 150u);
  EXPECT_EQ(Points("acc"), 1u);
  // And once more from scratch: nothing new.
  SpoolIngestor again(*store_, "r1", 0, spool_);
  EXPECT_EQ(again.Ingest(true)->records, 0u);
  EXPECT_EQ(Points("loss"), 150u);
}

// Two ingestors on one spool (a launcher and its replacement overlapping), each on its own
// store connection and thread, race while the rank writes: every point is stored exactly
// once, in order. Small batches make many transactions, so the two collide on stale
// offsets again and again.
TEST_F(IngestorTest, RacingIngestorsShareTheWork) {
  constexpr int kPoints = 20'000;
  constexpr std::size_t kSmallBatch = 97;  // many transactions, so the two interleave
  auto writer = SpoolWriter::Open(spool_, 0);
  ASSERT_TRUE(writer.ok());
  std::atomic<bool> written{false};
  std::atomic<std::uint64_t> stored_by[2] = {0, 0};
  std::atomic<int> failures{0};
  const auto ingest = [&](int who) {
    auto store = store::sqlite::SqliteStore::Open(dir_.path() / "kiln.db");
    if (!store.ok()) {
      ++failures;
      return;
    }
    SpoolIngestor ingestor(**store, "r1", 0, spool_, kSmallBatch);
    while (!written) {
      const auto result = ingestor.Ingest(false);
      if (!result.ok()) ++failures;
      if (result.ok()) stored_by[who] += result->points;
    }
    const auto result = ingestor.Ingest(true);
    if (!result.ok()) ++failures;
    if (result.ok()) stored_by[who] += result->points;
  };
  std::thread a(ingest, 0);
  std::thread b(ingest, 1);
  Status logged = Status::Ok();
  for (int i = 0; i < kPoints && logged.ok(); ++i) {
    logged = (*writer)->LogScalar("loss", i);
    if (i % 1000 == 0) std::this_thread::yield();
  }
  written = true;
  a.join();
  b.join();
  ASSERT_TRUE(logged.ok()) << logged.ToString();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(stored_by[0] + stored_by[1], static_cast<std::uint64_t>(kPoints));
  const auto series = store_->ReadMetric("r1", "loss", 0);
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->points.size(), static_cast<std::size_t>(kPoints));
  for (int i = 0; i < kPoints; ++i) ASSERT_EQ(series->points[i].value, i) << "point " << i;
}

TEST_F(IngestorTest, FollowsALiveWriter) {
  auto writer = SpoolWriter::Open(spool_, 0);
  ASSERT_TRUE(writer.ok());
  constexpr int kPoints = 200'000;
  std::thread logger([&] {
    for (int i = 0; i < kPoints; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", i).ok());
  });
  SpoolIngestor ingestor(*store_, "r1", 0, spool_);
  while (Points("loss") < static_cast<std::size_t>(kPoints)) {
    ASSERT_TRUE(ingestor.Ingest(false).ok());
    if (!logger.joinable()) break;
  }
  logger.join();
  ASSERT_TRUE(ingestor.Ingest(true).ok());
  const auto series = store_->ReadMetric("r1", "loss", 0);
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->points.size(), static_cast<std::size_t>(kPoints));
  for (int i = 0; i < kPoints; i += 1000) EXPECT_EQ(series->points[i].value, i);
}

TEST_F(IngestorTest, RanksAreKeptApart) {
  const fs::path spool1 = dir_.path() / "rank-1.spool";
  auto zero = SpoolWriter::Open(spool_, 0);
  auto one = SpoolWriter::Open(spool1, 1);
  ASSERT_TRUE(zero.ok() && one.ok());
  ASSERT_TRUE((*zero)->LogScalar("loss", 1).ok());
  ASSERT_TRUE((*one)->LogScalar("loss", 2).ok());
  ASSERT_TRUE((*one)->LogScalar("loss", 3).ok());
  ASSERT_TRUE(SpoolIngestor(*store_, "r1", 0, spool_).Ingest(true).ok());
  ASSERT_TRUE(SpoolIngestor(*store_, "r1", 1, spool1).Ingest(true).ok());
  EXPECT_EQ(Points("loss", 0), 1u);
  EXPECT_EQ(Points("loss", 1), 2u);
}

}  // namespace
}  // namespace kiln::tracking
