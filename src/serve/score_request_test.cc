#include "serve/score_request.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kiln::serve {
namespace {

const std::vector<InputSpec> kShape = {{"x", false, 4, {1, 2, 2}}};  // 4 numbers a sample

TEST(ScoreRequestTest, JsonSamplesMayBeNestedOrFlat) {
  const Result<InputBatch> batch =
      ParseJsonInputs(R"({"inputs": [[[[1, 2], [3, 4]]], [5, 6, 7, 8.5]]})", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->inputs[0].floats, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8.5f}));
  EXPECT_EQ(batch->inputs[0].shape, (std::vector<std::int64_t>{2, 1, 2, 2}));
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
  Result<InputBatch> batch =
      ParseRawInputs(Floats({1, 2, 3, 4, 5, 6, 7, 8}), "", "2,1,2,2", kShape);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->inputs[0].floats[7], 8);
  batch = ParseRawInputs(Floats({1, 2, 3, 4}), "", "1, 4", kShape);  // flat samples
  ASSERT_TRUE(batch.ok()) << batch.status().message();

  EXPECT_EQ(ParseRawInputs(Floats({1, 2, 3}), "", "1,1,2,2", kShape).status().message(),
            "the body has 12 bytes; X-Kiln-Shape '1,1,2,2' needs 1 samples of 4 float32s (16 "
            "bytes each): the body holds 0 samples and 12 bytes more");
  EXPECT_NE(
      ParseRawInputs(Floats({1, 2, 3, 4}), "", "", kShape).status().message().find("X-Kiln-Shape"),
      std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "", "1,2,2", kShape)
                .status()
                .message()
                .find("the model takes samples of shape [1,2,2]"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "", "1,x,2,2", kShape)
                .status()
                .message()
                .find("positive sizes"),
            std::string::npos);
  EXPECT_NE(ParseRawInputs(Floats({1, 2, 3, 4}), "", "0,1,2,2", kShape)
                .status()
                .message()
                .find("positive sizes"),
            std::string::npos);
  EXPECT_EQ(ParseRawInputs(Floats({1, 2, std::numeric_limits<float>::quiet_NaN(), 4}), "",
                           "1,1,2,2", kShape)
                .status()
                .message(),
            "value 2 of the body is not a finite number");
}

// Hostile headers: each refused with its reason before any size is multiplied or allocated.
TEST(ScoreRequestTest, HostileShapesAreRefusedBeforeAnyArithmetic) {
  const std::string one = Floats({1, 2, 3, 4});
  const auto message = [&](std::string_view header, const std::string& body) {
    const Result<InputBatch> batch = ParseRawInputs(body, "", header, kShape);
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

// A transformer's inputs: token ids (int64) and a mask (int32) over an open length.
const std::vector<InputSpec> kTokens = {{"ids", true, 8, {inference::kDynamicDim}},
                                        {"mask", true, 4, {inference::kDynamicDim}}};

TEST(ScoreRequestTest, JsonNamesEveryInputAndTakesTheLengthFromTheFirstSample) {
  const Result<InputBatch> batch = ParseJsonInputs(
      R"({"inputs": {"mask": [[1, 1, 0], [1, 0, 0]], "ids": [[5, 6, 7.0], [8, 9, 10]]}})", kTokens);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->inputs[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(batch->inputs[0].ints, (std::vector<std::int64_t>{5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(batch->inputs[1].ints, (std::vector<std::int64_t>{1, 1, 0, 1, 0, 0}));
  EXPECT_TRUE(batch->inputs[0].floats.empty());

  const Result<InputBatch> longer =
      ParseJsonInputs(R"({"inputs": {"ids": [[1, 2, 3, 4]], "mask": [[1, 1, 1, 1]]}})", kTokens);
  ASSERT_TRUE(longer.ok()) << longer.status().message();
  EXPECT_FALSE(batch->Joins(*longer)) << "other lengths run in other batches";
  EXPECT_TRUE(batch->Joins(*batch));
  ASSERT_EQ(batch->Tensors().size(), 2u);
  EXPECT_EQ(batch->Tensors()[1].ints.size(), 6u);
}

TEST(ScoreRequestTest, JsonErrorsNameTheInput) {
  const auto message = [](std::string_view body) {
    const Result<InputBatch> batch = ParseJsonInputs(body, kTokens);
    return batch.ok() ? std::string("accepted") : batch.status().message();
  };
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2]], "mask": [[1, 1]], "segments": [[0, 0]]}})"),
            "inputs.segments: the model has no input 'segments'; it takes ids (int64, [?,?]), "
            "mask (int32, [?,?])");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2]]}})"),
            "inputs: no 'mask'; the model takes ids (int64, [?,?]), mask (int32, [?,?])");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2], [3, 4]], "mask": [[1, 1]]}})"),
            "inputs.mask: 1 samples; inputs.ids has 2 (each input holds one entry per sample)");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2, 3], [4, 5]], "mask": [[1, 1, 1], [1, 1]]}})"),
            "inputs.ids[1]: expected an array of 3 (inputs.ids[0] has [3]; every sample of a "
            "request has the same shape)");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2.5]], "mask": [[1, 1]]}})"),
            "inputs.ids[0][1]: 2.5 is not an int64 (the type of input 'ids')");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 18446744073709551615]], "mask": [[1, 1]]}})"),
            "inputs.ids[0][1]: 18446744073709551615 is not an int64 (the type of input 'ids')");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[]], "mask": [[]]}})"),
            "inputs.ids[0]: dimension 1 of input 'ids' is open (a sample is [?]); expected a "
            "non-empty array there, found []");
  EXPECT_EQ(message(R"({"inputs": {"ids": [[1, 2]], "mask": [[1, 2147483648]]}})"),
            "inputs.mask[0][1]: 2147483648 is not an int32 (the type of input 'mask')");
  // Nesting as deep as the body allows is named by its type, never printed.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(message(R"({"inputs": {"ids": [[)" + deep + R"(, 2]], "mask": [[1, 1]]}})"),
            "inputs.ids[0][0]: an array is not a number");
  EXPECT_EQ(message(R"({"inputs": {"ids": [], "mask": []}})"),
            "inputs.ids: expected a non-empty array of samples");
  EXPECT_EQ(
      message(R"({"inputs": [[1, 2]]})"),
      R"(inputs: the model takes 2 inputs, ids (int64, [?,?]), mask (int32, [?,?]); give each by name: {"inputs": {"ids": [sample, ...], ...}})");
  EXPECT_EQ(message(R"({"inputs": "ids"})"),
            "inputs: expected an object of the model's inputs by name, or an array of samples");
}

std::string Bytes(const void* data, size_t size) {
  return std::string(static_cast<const char*>(data), size);
}

TEST(ScoreRequestTest, RawBodiesHoldEveryInputInTheModelsTypesInTheHeadersOrder) {
  const std::vector<std::int32_t> mask = {1, 1, 0, 1, 0, 0};
  const std::vector<std::int64_t> ids = {5, 6, 7, 8, 9, 10};
  const std::string body = Bytes(mask.data(), 24) + Bytes(ids.data(), 48);
  const Result<InputBatch> batch = ParseRawInputs(body, "mask=2,3; ids=2,3", "", kTokens);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->inputs[0].ints, ids);
  EXPECT_EQ(batch->inputs[1].ints, (std::vector<std::int64_t>{1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(batch->inputs[1].shape, (std::vector<std::int64_t>{2, 3}));

  const auto message = [&](std::string_view header, const std::string& with_body) {
    const Result<InputBatch> parsed = ParseRawInputs(with_body, header, "", kTokens);
    return parsed.ok() ? std::string("accepted") : parsed.status().message();
  };
  EXPECT_EQ(message("", body),
            "a raw body for this model needs the header X-Kiln-Inputs: ids=B,? (int64); "
            "mask=B,? (int32) (each input's shape, batch first, in the body's order)");
  EXPECT_EQ(message("mask=2,3", body),
            "X-Kiln-Inputs 'mask=2,3' has no 'ids'; expected ids=B,? (int64); mask=B,? (int32)");
  EXPECT_EQ(message("mask=2,3; ids=2,3; ids=2,3", body),
            "X-Kiln-Inputs 'mask=2,3; ids=2,3; ids=2,3': input 'ids' is given twice");
  EXPECT_EQ(message("mask=2,3; tokens=2,3", body),
            "X-Kiln-Inputs 'mask=2,3; tokens=2,3': the model has no input 'tokens'; expected "
            "ids=B,? (int64); mask=B,? (int32)");
  EXPECT_EQ(message("mask=2,3; ids 2,3", body),
            "X-Kiln-Inputs 'mask=2,3; ids 2,3': 'ids 2,3' is not name=shape; expected ids=B,? "
            "(int64); mask=B,? (int32)");
  EXPECT_EQ(message("mask=2,3; ids=3,2", body),
            "X-Kiln-Inputs 'mask=2,3; ids=3,2': input 'ids' has a batch of 3; 'mask' has 2 (each "
            "input holds one entry per sample)");
  EXPECT_EQ(message("mask=2,3; ids=2,3,1", body),
            "X-Kiln-Inputs 'mask=2,3; ids=2,3,1': input 'ids' is [3,1] after the batch; the "
            "model takes samples of shape [?]");
  EXPECT_EQ(message("mask=2,3; ids=2,-3", body),
            "X-Kiln-Inputs 'mask=2,3; ids=2,-3', input 'ids': size 2 is '-3'; expected positive "
            "sizes (up to 9223372036854775807) separated by commas, batch first");
  EXPECT_EQ(message("mask=2,3; ids=2,3", body + "x"),
            "the body has 73 bytes; X-Kiln-Inputs 'mask=2,3; ids=2,3' describes 72: 1 bytes more "
            "than its inputs");
  EXPECT_EQ(message("mask=2,3; ids=2,4", body),
            "the body has 72 bytes; X-Kiln-Inputs 'mask=2,3; ids=2,4' needs 64 bytes for input "
            "'ids' (8 int64s) from byte 24");
  // Sizes whose product overflows are refused before anything is allocated.
  EXPECT_EQ(message("ids=4294967296,4294967296; mask=4294967296,4294967296", body),
            "the body has 72 bytes; X-Kiln-Inputs 'ids=4294967296,4294967296; "
            "mask=4294967296,4294967296' needs more than that for input 'ids' (that many int64s) "
            "from byte 0");
  EXPECT_EQ(message("ids=1,1; mask=1,4611686018427387904", Bytes(ids.data(), 8) + "abcd"),
            "the body has 12 bytes; X-Kiln-Inputs 'ids=1,1; mask=1,4611686018427387904' needs "
            "more than that for input 'mask' (that many int32s) from byte 8");
}

TEST(ScoreRequestTest, AnOpenDimensionLongerThanTheServerTakesIsRefused) {
  std::vector<InputSpec> bounded = kTokens;
  for (InputSpec& spec : bounded) spec.max_open_size = 4;
  EXPECT_TRUE(
      ParseJsonInputs(R"({"inputs": {"ids": [[1, 2, 3, 4]], "mask": [[1, 1, 1, 1]]}})", bounded)
          .ok());
  EXPECT_EQ(
      ParseJsonInputs(R"({"inputs": {"ids": [[1, 2, 3, 4, 5]], "mask": [[1, 1, 1, 1, 1]]}})",
                      bounded)
          .status()
          .message(),
      "inputs.ids[0]: dimension 1 of input 'ids' is 5 long; this server takes at most 4 (kiln "
      "serve --max-length)");
  EXPECT_EQ(
      ParseRawInputs(std::string(60, '\0'), "ids=1,5; mask=1,5", "", bounded).status().message(),
      "X-Kiln-Inputs 'ids=1,5; mask=1,5': dimension 1 of input 'ids' is 5 long; this "
      "server takes at most 4 (kiln serve --max-length)");
}

TEST(ScoreRequestTest, XKilnShapeServesAModelOfOneIntegerInput) {
  const std::vector<InputSpec> ids = {kTokens[0]};
  const std::vector<std::int64_t> values = {1, 2, 3, 4};
  const Result<InputBatch> batch = ParseRawInputs(Bytes(values.data(), 32), "", "2,2", ids);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(batch->inputs[0].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(batch->inputs[0].ints, values);
  EXPECT_EQ(ParseRawInputs(Bytes(values.data(), 32), "", "", ids).status().message(),
            "a raw body needs the header X-Kiln-Shape: B,d1,d2,... (batch first), its values "
            "int64");
  EXPECT_EQ(ParseRawInputs(Bytes(values.data(), 32), "", "2,2;", ids).status().message(),
            "X-Kiln-Shape '2,2;': expected sizes separated by commas, batch first (X-Kiln-Inputs "
            "names inputs)");
  EXPECT_EQ(ParseRawInputs(Bytes(values.data(), 32), "", "2,3", ids).status().message(),
            "the body has 32 bytes; X-Kiln-Shape '2,3' needs 48 bytes for input 'ids' (6 int64s) "
            "from byte 0");
}

}  // namespace
}  // namespace kiln::serve
