#include "tracking/spool_format.h"

#include <gtest/gtest.h>

namespace kiln::tracking {
namespace {

Record RoundTrip(const Record& record) {
  std::string bytes;
  AppendRecord(record, bytes);
  Decoded decoded;
  EXPECT_EQ(DecodeRecord(bytes, decoded), DecodeOutcome::kRecord);
  EXPECT_EQ(decoded.size, bytes.size());
  return decoded.record;
}

TEST(SpoolFormatTest, EveryRecordKindRoundTrips) {
  const auto name = std::get<NameRecord>(RoundTrip(NameRecord{7, MetricKind::kTable, "acc", "d"}));
  EXPECT_EQ(name.id, 7u);
  EXPECT_EQ(name.kind, MetricKind::kTable);
  EXPECT_EQ(name.name, "acc");
  EXPECT_EQ(name.description, "d");
  const auto scalar = std::get<ScalarRecord>(RoundTrip(ScalarRecord{7, -3, 0.25, 123456}));
  EXPECT_EQ(scalar.step, -3);
  EXPECT_EQ(scalar.value, 0.25);
  EXPECT_EQ(scalar.at, 123456);
  const auto value = std::get<ValueRecord>(RoundTrip(ValueRecord{7, 9, R"({"a":[1,2]})"}));
  EXPECT_EQ(value.json, R"({"a":[1,2]})");
  const auto tag = std::get<TagRecord>(RoundTrip(TagRecord{5, "k", "v"}));
  EXPECT_EQ(tag.key, "k");
  EXPECT_EQ(tag.value, "v");
}

TEST(SpoolFormatTest, ScalarRecordsHaveAFixedSize) {
  std::string bytes;
  AppendRecord(ScalarRecord{1, 2, 3.0, 4}, bytes);
  EXPECT_EQ(bytes.size(), kRecordHeaderBytes + kScalarPayloadBytes);
}

TEST(SpoolFormatTest, DamagedShortAndEndAreTold) {
  std::string bytes;
  AppendRecord(ScalarRecord{1, 2, 3.0, 4}, bytes);
  Decoded decoded;
  EXPECT_EQ(DecodeRecord(bytes.substr(0, 20), decoded), DecodeOutcome::kShort);
  EXPECT_EQ(DecodeRecord(bytes.substr(0, 3), decoded), DecodeOutcome::kShort);
  std::string flipped = bytes;
  flipped[12] ^= 0x40;
  EXPECT_EQ(DecodeRecord(flipped, decoded), DecodeOutcome::kTorn);
  EXPECT_EQ(DecodeRecord(std::string(16, '\0'), decoded), DecodeOutcome::kEnd);
  std::string huge = bytes;
  huge[3] = 0x7f;  // a length of ~2 GB
  EXPECT_EQ(DecodeRecord(huge, decoded), DecodeOutcome::kTorn);
}

TEST(SpoolFormatTest, HeaderNamesTheRank) {
  const std::string header = EncodeSpoolHeader(3, 42);
  ASSERT_EQ(header.size(), kSpoolHeaderBytes);
  EXPECT_EQ(*DecodeSpoolHeader(header), 3);
  EXPECT_EQ(DecodeSpoolHeader("not a spool at all, just text....").status().code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kiln::tracking
