#include "serve/score_request.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kiln::serve {
namespace {

const std::vector<std::int64_t> kShape = {1, 2, 2};  // 4 numbers a sample

TEST(ScoreRequestTest, JsonSamplesMayBeNestedOrFlat) {
  const Result<InputBatch> batch =
      ParseJsonInputs(R"({"inputs": [[[[1, 2], [3, 4]]], [5, 6, 7, 8.5]]})", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->values, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8.5f}));
}

TEST(ScoreRequestTest, JsonErrorsSayWhereAndWhat) {
  const auto message = [](std::string_view body) {
    return ParseJsonInputs(body, kShape).status().message();
  };
  EXPECT_EQ(message(R"({"inputs": [[1, 2, 3]]})"),
            "inputs[0]: 3 numbers; the model takes 4 per sample (shape [1,2,2]), flat or nested");
  EXPECT_EQ(message(R"({"inputs": [[[[1, 2], [3]]]]})"),
            "inputs[0][0][1]: expected an array of 2 (the model's input per sample is [1,2,2])");
  EXPECT_EQ(message(R"({"inputs": [[1, "2", 3, 4]]})"), "inputs[0][1]: \"2\" is not a number");
  EXPECT_EQ(message(R"({"inputs": [[[[1, 2], [3, null]]]]})"),
            "inputs[0][0][1][1]: null is not a number");
  EXPECT_EQ(message(R"({"inputs": [[1, 2, 3, 1e300]]})"),
            "inputs[0][3]: 1e+300 does not fit in a float32");
  EXPECT_EQ(message(R"({"inputs": []})"), "inputs: expected a non-empty array of samples");
  EXPECT_NE(message(R"({"samples": []})").find("must be a JSON object {\"inputs\""),
            std::string::npos);
  EXPECT_NE(message("{\"inputs\": [[1,").find("the body is not JSON"), std::string::npos);
  EXPECT_NE(message("").find("the body is not JSON"), std::string::npos);
}

std::string Floats(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(ScoreRequestTest, RawBodiesTakeTheirShapeFromTheHeader) {
  Result<InputBatch> batch = ParseRawInputs(Floats({1, 2, 3, 4, 5, 6, 7, 8}), "2,1,2,2", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->values[7], 8);
  batch = ParseRawInputs(Floats({1, 2, 3, 4}), "1, 4", kShape);  // flat samples
  ASSERT_TRUE(batch.ok()) << batch.status().message();

  EXPECT_EQ(ParseRawInputs(Floats({1, 2, 3}), "1,1,2,2", kShape).status().message(),
            "the body has 12 bytes; X-Kiln-Shape '1,1,2,2' needs 1 samples of 4 float32s (16 "
            "bytes each): the body holds 0 samples and 12 bytes more");
  EXPECT_NE(
      ParseRawInputs(Floats({1, 2, 3, 4}), "", kShape).status().message().find("X-Kiln-Shape"),
      std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "1,2,2", kShape)
                .status()
                .message()
                .find("the model takes samples of shape [1,2,2]"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "1,x,2,2", kShape)
                .status()
                .message()
                .find("positive sizes"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "0,1,2,2", kShape)
                .status()
                .message()
                .find("positive sizes"),
            std::string::npos);
  EXPECT_EQ(
      ParseRawInputs(Floats({1, 2, std::numeric_limits<float>::quiet_NaN(), 4}), "1,1,2,2", kShape)
          .status()
          .message(),
      "value 2 of the body is not a finite number");
}

// Hostile headers: each refused with its reason before any size is multiplied or allocated.
TEST(ScoreRequestTest, HostileShapesAreRefusedBeforeAnyArithmetic) {
  const std::string one = Floats({1, 2, 3, 4});
  const auto message = [&](std::string_view header, const std::string& body) {
    const Result<InputBatch> batch = ParseRawInputs(body, header, kShape);
    return batch.ok() ? std::string("accepted") : batch.status().message();
  };
  // A batch whose product with the sample size overflows int64: bounded by the body.
  EXPECT_EQ(message("9223372036854775807,1,2,2", one),
            "the body has 16 bytes; X-Kiln-Shape '9223372036854775807,1,2,2' needs "
            "9223372036854775807 samples of 4 float32s (16 bytes each): the body holds 1 samples");
  EXPECT_EQ(message("4611686018427387904,1,2,2", one).substr(0, 20), "the body has 16 byte");
  // Sizes past int64, negative, zero, empty.
  EXPECT_EQ(message("99999999999999999999,1,2,2", one),
            "X-Kiln-Shape '99999999999999999999,1,2,2': size 1 is '99999999999999999999'; expected "
            "positive sizes (up to 9223372036854775807) separated by commas, batch first");
  EXPECT_NE(message("-1,1,2,2", one).find("size 1 is '-1'"), std::string::npos);
  EXPECT_NE(message("1,0,2,2", one).find("size 2 is '0'"), std::string::npos);
  EXPECT_NE(message("1,,2,2", one).find("size 2 is ''"), std::string::npos);
  EXPECT_NE(message("1,1,2,2,", one).find("size 5 is ''"), std::string::npos);
  // Huge dimensions whose product overflows, more dimensions than the model's.
  EXPECT_EQ(
      message("1,4294967296,4294967296,4294967296", one),
      "X-Kiln-Shape '1,4294967296,4294967296,4294967296': 3 dimensions after the batch, "
      "[4294967296,4294967296,4294967296]; the model takes samples of shape [1,2,2] (or 4 flat)");
  EXPECT_NE(message("1,1,2,2,1", one).find("4 dimensions after the batch, [1,2,2,1]"),
            std::string::npos);
  EXPECT_NE(message("1", one).find("0 dimensions after the batch, []"), std::string::npos);
  // A body longer or shorter than the header says.
  EXPECT_NE(message("3,1,2,2", one + one)
                .find("needs 3 samples of 4 float32s (16 bytes each): the body holds 2 samples"),
            std::string::npos);
  EXPECT_NE(message("2,4", one + one + "xy").find("the body holds 2 samples and 2 bytes more"),
            std::string::npos);
  EXPECT_EQ(message(" 2 , 4 ", one + one), "accepted");
}

}  // namespace
}  // namespace kiln::serve
