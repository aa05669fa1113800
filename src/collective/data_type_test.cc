#include "collective/data_type.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace kiln::collective {
namespace {

TEST(HalfTest, RoundTripsRepresentableValues) {
  for (float value : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(value)), value) << value;
  }
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 1.0f / 4096)), 1.0f);  // ties to even
}

TEST(ReduceTest, EveryOpOnFloatsAndIntegers) {
  std::vector<float> a{1, -2, 3};
  const std::vector<float> b{4, 5, -6};
  ReduceInto(a.data(), b.data(), 3, DataType::kFloat32, ReduceOp::kMax);
  EXPECT_EQ(a, (std::vector<float>{4, 5, 3}));
  ReduceInto(a.data(), b.data(), 3, DataType::kFloat32, ReduceOp::kProduct);
  EXPECT_EQ(a, (std::vector<float>{16, 25, -18}));
  std::vector<int64_t> c{7, 8};
  const std::vector<int64_t> d{-1, 9};
  ReduceInto(c.data(), d.data(), 2, DataType::kInt64, ReduceOp::kMin);
  EXPECT_EQ(c, (std::vector<int64_t>{-1, 8}));
  ReduceInto(c.data(), d.data(), 2, DataType::kInt64, ReduceOp::kSum);
  EXPECT_EQ(c, (std::vector<int64_t>{-2, 17}));
}

TEST(ReduceTest, Int16AndBool) {
  std::vector<int16_t> a{300, -2};
  const std::vector<int16_t> b{100, 7};
  ReduceInto(a.data(), b.data(), 2, DataType::kInt16, ReduceOp::kProduct);
  EXPECT_EQ(a, (std::vector<int16_t>{30000, -14}));
  EXPECT_EQ(ElementSize(DataType::kInt16), 2u);
  EXPECT_EQ(DataTypeName(DataType::kInt16), "int16");
  // bool: Sum and Max are a logical or, Min and Product a logical and.
  const std::vector<bool> left{false, false, true, true}, right{false, true, false, true};
  const std::pair<ReduceOp, std::vector<bool>> cases[] = {
      {ReduceOp::kSum, {false, true, true, true}},
      {ReduceOp::kMax, {false, true, true, true}},
      {ReduceOp::kMin, {false, false, false, true}},
      {ReduceOp::kProduct, {false, false, false, true}}};
  for (const auto& [op, want] : cases) {
    bool out[4], in[4];
    for (int i = 0; i < 4; ++i) out[i] = left[i], in[i] = right[i];
    ReduceInto(out, in, 4, DataType::kBool, op);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], want[i]) << ReduceOpName(op) << " " << i;
  }
  EXPECT_EQ(DataTypeName(DataType::kBool), "bool");
  EXPECT_TRUE(IsValidDataType(static_cast<uint8_t>(DataType::kBool)));
  EXPECT_FALSE(IsValidDataType(static_cast<uint8_t>(DataType::kBool) + 1));
}

TEST(ReduceTest, ReduceIntoAndCopyLeavesTheResultInBoth) {
  std::vector<int32_t> a{1, 2, 3, 4, 5};
  const std::vector<int32_t> b{10, 20, 30, 40, 50};
  std::vector<int32_t> copy(5, -1);
  ReduceIntoAndCopy(a.data(), copy.data(), b.data(), 5, DataType::kInt32, ReduceOp::kSum);
  EXPECT_EQ(a, (std::vector<int32_t>{11, 22, 33, 44, 55}));
  EXPECT_EQ(copy, a);
  std::vector<uint16_t> h{FloatToHalf(3.0f)};
  const std::vector<uint16_t> g{FloatToHalf(0.5f)};
  std::vector<uint16_t> h_copy(1);
  ReduceIntoAndCopy(h.data(), h_copy.data(), g.data(), 1, DataType::kFloat16, ReduceOp::kMin);
  EXPECT_EQ(HalfToFloat(h[0]), 0.5f);
  EXPECT_EQ(h_copy, h);
}

TEST(ReduceTest, HalvesReduceThroughFloat) {
  std::vector<uint16_t> a{FloatToHalf(1.5f), FloatToHalf(-2.0f)};
  const std::vector<uint16_t> b{FloatToHalf(2.25f), FloatToHalf(0.5f)};
  ReduceInto(a.data(), b.data(), 2, DataType::kFloat16, ReduceOp::kSum);
  EXPECT_EQ(HalfToFloat(a[0]), 3.75f);
  EXPECT_EQ(HalfToFloat(a[1]), -1.5f);
}

TEST(ScaleTest, IntegersTruncateAndOneIsANoOp) {
  std::vector<int32_t> values{7, -7};
  ScaleBuffer(values.data(), 2, DataType::kInt32, 0.5);
  EXPECT_EQ(values, (std::vector<int32_t>{3, -3}));
  std::vector<double> same{0.1};
  ScaleBuffer(same.data(), 1, DataType::kFloat64, 1.0);
  EXPECT_EQ(same[0], 0.1);
}

}  // namespace
}  // namespace kiln::collective
