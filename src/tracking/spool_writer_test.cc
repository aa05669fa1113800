#include "tracking/spool_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "common/test_dir.h"
#include "tracking/spool_reader.h"

namespace kiln::tracking {
namespace {
namespace fs = std::filesystem;

std::vector<ScalarRecord> Scalars(const SpoolChunk& chunk) {
  std::vector<ScalarRecord> scalars;
  for (const Record& record : chunk.records) {
    if (const auto* scalar = std::get_if<ScalarRecord>(&record)) scalars.push_back(*scalar);
  }
  return scalars;
}

TEST(SpoolWriterTest, LoggedRecordsReadBack) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  auto writer = SpoolWriter::Open(path, 0);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->LogScalar("loss", 0.5, std::nullopt, "training loss").ok());
  ASSERT_TRUE((*writer)->LogScalar("loss", 0.4).ok());
  ASSERT_TRUE((*writer)->LogScalar("loss", 0.3, 10).ok());
  ASSERT_TRUE((*writer)->LogScalar("loss", 0.2).ok());
  ASSERT_TRUE((*writer)->LogValue("hist", MetricKind::kList, "[1,2,3]").ok());
  ASSERT_TRUE((*writer)->Tag("best", "0.2").ok());

  const auto chunk = SpoolReader(path).Read(0, false);
  ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
  EXPECT_EQ(chunk->end_offset, (*writer)->size());
  const auto scalars = Scalars(*chunk);
  ASSERT_EQ(scalars.size(), 4u);
  EXPECT_EQ(scalars[0].step, 0);
  EXPECT_EQ(scalars[1].step, 1);
  EXPECT_EQ(scalars[2].step, 10);
  EXPECT_EQ(scalars[3].step, 11);  // automatic steps continue after an explicit one
  const auto& name = std::get<NameRecord>(chunk->records[0]);
  EXPECT_EQ(name.name, "loss");
  EXPECT_EQ(name.description, "training loss");
  EXPECT_EQ(std::get<TagRecord>(chunk->records.back()).value, "0.2");
}

TEST(SpoolWriterTest, BadInputIsRefusedAndWritesNothing) {
  TestDir dir;
  auto writer = SpoolWriter::Open(dir.path() / "s", 0);
  ASSERT_TRUE(writer.ok());
  const std::uint64_t before = (*writer)->size();
  EXPECT_EQ((*writer)->LogScalar("loss", std::nan("")).message(),
            "metric 'loss': value must be a finite number, got nan");
  EXPECT_EQ((*writer)->LogScalar("loss", INFINITY).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->LogScalar("", 1).message(), "metric name must not be empty");
  EXPECT_EQ((*writer)->LogScalar(std::string(300, 'n'), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->size(), before);
  ASSERT_TRUE((*writer)->LogScalar("x", 1).ok());
  EXPECT_EQ((*writer)->LogValue("x", MetricKind::kRow, "{}").message(),
            "metric 'x' was logged as a scalar; it cannot also be a row (use another name)");
}

// A record whose Log call returned survives SIGKILL of the process that logged it.
TEST(SpoolWriterTest, RecordsSurviveSigkill) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  constexpr int kPoints = 100'000;
  const pid_t child = ::fork();
  if (child == 0) {
    auto writer = SpoolWriter::Open(path, 0);
    if (!writer.ok()) ::_exit(1);
    for (int i = 0; i < kPoints; ++i) {
      if (!(*writer)->LogScalar("loss", 1.0 / (i + 1)).ok()) ::_exit(2);
    }
    ::kill(::getpid(), SIGKILL);  // no Close, no exit handlers
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const auto chunk = SpoolReader(path).Read(0, true);
  ASSERT_TRUE(chunk.ok());
  const auto scalars = Scalars(*chunk);
  ASSERT_EQ(scalars.size(), static_cast<std::size_t>(kPoints));
  EXPECT_EQ(scalars.back().step, kPoints - 1);
  EXPECT_EQ(chunk->torn_bytes, 0u);
}

// A torn last record is detected and skipped; every record before it is kept.
TEST(SpoolWriterTest, TornTailIsSkipped) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  {
    auto writer = SpoolWriter::Open(path, 0);
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", i).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  const auto size = fs::file_size(path);
  {
    // Half a record, as a crash in the middle of a write leaves it.
    std::string record;
    AppendRecord(ScalarRecord{1, 10, 10.0, 0}, record);
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out.write(record.data(), 20);
  }
  const auto live = SpoolReader(path).Read(0, false);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(Scalars(*live).size(), 10u);
  EXPECT_EQ(live->end_offset, size);
  EXPECT_EQ(live->torn_bytes, 0u);  // the writer may still finish it
  const auto final = SpoolReader(path).Read(0, true);
  ASSERT_TRUE(final.ok());
  EXPECT_EQ(Scalars(*final).size(), 10u);
  EXPECT_EQ(final->torn_bytes, 20u);

  // A damaged byte inside the last whole record: the same.
  std::fstream corrupt(path, std::ios::in | std::ios::out | std::ios::binary);
  corrupt.seekp(static_cast<std::streamoff>(size - 3));
  corrupt.put('\x55');
  corrupt.close();
  const auto damaged = SpoolReader(path).Read(0, true);
  ASSERT_TRUE(damaged.ok());
  EXPECT_EQ(Scalars(*damaged).size(), 9u);
  EXPECT_GT(damaged->torn_bytes, 0u);
}

TEST(SpoolWriterTest, ReopeningContinuesNamesAndSteps) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  {
    auto writer = SpoolWriter::Open(path, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->LogScalar("loss", 1).ok());
    ASSERT_TRUE((*writer)->LogScalar("loss", 2).ok());
  }
  auto writer = SpoolWriter::Open(path, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->LogScalar("loss", 3).ok());
  ASSERT_TRUE((*writer)->LogScalar("acc", 0.5).ok());
  EXPECT_EQ((*writer)->LogValue("loss", MetricKind::kList, "[]").code(),
            StatusCode::kInvalidArgument);
  const auto chunk = SpoolReader(path).Read(0, true);
  ASSERT_TRUE(chunk.ok());
  const auto scalars = Scalars(*chunk);
  ASSERT_EQ(scalars.size(), 4u);
  EXPECT_EQ(scalars[2].step, 2);
  EXPECT_NE(scalars[3].name_id, scalars[0].name_id);
}

TEST(SpoolWriterTest, CloseTrimsThePreallocation) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  auto writer = SpoolWriter::Open(path, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->LogScalar("loss", 1).ok());
  EXPECT_GE(fs::file_size(path), 1u << 20);
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ(fs::file_size(path), (*writer)->size());
  EXPECT_EQ((*writer)->LogScalar("loss", 2).code(), StatusCode::kFailedPrecondition);
}

TEST(SpoolWriterTest, GrowsPastManyChunks) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  auto writer = SpoolWriter::Open(path, 0);
  ASSERT_TRUE(writer.ok());
  constexpr int kPoints = 400'000;  // ~15 MB
  for (int i = 0; i < kPoints; ++i) ASSERT_TRUE((*writer)->LogScalar("x", i).ok());
  const std::string big(3 << 20, 'j');
  ASSERT_TRUE((*writer)->LogValue("blob", MetricKind::kList, "[" + std::string(1, '1') + "]").ok());
  ASSERT_TRUE((*writer)->Tag("big", big).ok());
  const auto chunk = SpoolReader(path).Read(0, false);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(Scalars(*chunk).size(), static_cast<std::size_t>(kPoints));
  EXPECT_EQ(std::get<TagRecord>(chunk->records.back()).value.size(), big.size());
}

TEST(SpoolWriterTest, AForkedChildIsRefused) {
  TestDir dir;
  auto writer = SpoolWriter::Open(dir.path() / "s", 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->LogScalar("x", 1).ok());
  const pid_t child = ::fork();
  if (child == 0) {
    const Status status = (*writer)->LogScalar("x", 2);
    ::_exit(status.code() == StatusCode::kFailedPrecondition ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE((*writer)->LogScalar("x", 3).ok());
}

TEST(SpoolReaderTest, MissingAndForeignFiles) {
  TestDir dir;
  const auto missing = SpoolReader(dir.path() / "none").Read(0, true);
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->records.empty());
  std::ofstream(dir.path() / "junk") << "this is not a spool file, clearly, no.";
  EXPECT_EQ(SpoolReader(dir.path() / "junk").Read(0, true).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kiln::tracking

namespace kiln::tracking {
namespace {

// A file that ends inside a record (cut short) reads as far as its last whole record.
TEST(SpoolReaderTest, RecordCutShortAtTheEndIsLeftUnread) {
  TestDir dir;
  const fs::path path = dir.path() / "rank-0.spool";
  auto writer = SpoolWriter::Open(path, 0);
  ASSERT_TRUE(writer.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*writer)->LogScalar("x", i).ok());
  const std::uint64_t end = (*writer)->size();
  ASSERT_TRUE((*writer)->Close().ok());
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(end - 10)), 0);
  const auto chunk = SpoolReader(path).Read(0, false);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(Scalars(*chunk).size(), 99u);
}

}  // namespace
}  // namespace kiln::tracking
