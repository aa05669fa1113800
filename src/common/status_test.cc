#include "common/status.h"

#include <gtest/gtest.h>

#include "common/result.h"

namespace kiln {
namespace {

Result<int> ParsePositive(int value) {
  if (value <= 0) return InvalidArgumentError("must be positive");
  return value;
}

Result<int> Doubled(int value) {
  KILN_ASSIGN_OR_RETURN(int parsed, ParsePositive(value));
  return parsed * 2;
}

Status CheckBoth(int a, int b) {
  KILN_RETURN_IF_ERROR(ParsePositive(a).status());
  KILN_RETURN_IF_ERROR(ParsePositive(b).status());
  return Status::Ok();
}

TEST(StatusTest, OkHasNoMessage) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  const Status status = NotFoundError("run 'x' does not exist");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.ToString(), "NOT_FOUND: run 'x' does not exist");
  EXPECT_EQ(status.WithPrefix("show").message(), "show: run 'x' does not exist");
}

TEST(StatusTest, ErrnoErrorNamesTheCall) {
  const Status status = ErrnoError("open /nope", ENOENT);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(status.message(), "open /nope: No such file or directory");
}

TEST(ResultTest, MacrosPropagate) {
  EXPECT_EQ(*Doubled(4), 8);
  const Result<int> failed = Doubled(-1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  EXPECT_EQ(CheckBoth(1, 0).message(), "must be positive");
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  const Result<int> failed = InvalidArgumentError("no");
  EXPECT_DEATH((void)failed.value(), "check failed: ok\\(\\)");
}

TEST(StatusTest, CodeNamesParseBack) {
  for (StatusCode code : {StatusCode::kOk, StatusCode::kNotFound, StatusCode::kDataLoss,
                          StatusCode::kUnauthenticated}) {
    EXPECT_EQ(ParseStatusCode(StatusCodeName(code)), code);
  }
  EXPECT_EQ(ParseStatusCode("UNKNOWN"), std::nullopt);
}

}  // namespace
}  // namespace kiln
