#include "collective/data_type.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace kiln::collective {
namespace {

template <typename T>
struct Combine {
  static T Apply(T a, T b, ReduceOp op) {
    switch (op) {
      case ReduceOp::kAverage:
      case ReduceOp::kSum:
        return static_cast<T>(a + b);
      case ReduceOp::kMin:
        return std::min(a, b);
      case ReduceOp::kMax:
        return std::max(a, b);
      case ReduceOp::kProduct:
        return static_cast<T>(a * b);
    }
    return a;
  }
};

// out[i] = out[i] (f) in[i], and copy[i] too when kCopy: one pass where a reduction's result
// is needed twice.
template <bool kCopy, typename T, typename F>
void ReduceLoop(T* __restrict out, T* __restrict copy, const T* __restrict in, size_t count, F f) {
  for (size_t i = 0; i < count; ++i) {
    const T value = f(out[i], in[i]);
    out[i] = value;
    if constexpr (kCopy) copy[i] = value;
  }
}

template <bool kCopy, typename T>
void ReduceTyped(void* dst, void* copy, const void* src, size_t count, ReduceOp op) {
  T* out = static_cast<T*>(dst);
  T* also = static_cast<T*>(copy);
  const T* in = static_cast<const T*>(src);
  // One loop per op keeps the inner loops branch-free, so the compiler vectorises them.
  switch (op) {
    case ReduceOp::kAverage:
    case ReduceOp::kSum:
      return ReduceLoop<kCopy>(out, also, in, count,
                               [](T a, T b) { return static_cast<T>(a + b); });
    case ReduceOp::kMin:
      return ReduceLoop<kCopy>(out, also, in, count, [](T a, T b) { return std::min(a, b); });
    case ReduceOp::kMax:
      return ReduceLoop<kCopy>(out, also, in, count, [](T a, T b) { return std::max(a, b); });
    case ReduceOp::kProduct:
      return ReduceLoop<kCopy>(out, also, in, count,
                               [](T a, T b) { return static_cast<T>(a * b); });
  }
}

template <bool kCopy>
void ReduceHalf(void* dst, void* copy, const void* src, size_t count, ReduceOp op) {
  auto* out = static_cast<uint16_t*>(dst);
  auto* also = static_cast<uint16_t*>(copy);
  const auto* in = static_cast<const uint16_t*>(src);
  for (size_t i = 0; i < count; ++i) {
    out[i] = FloatToHalf(Combine<float>::Apply(HalfToFloat(out[i]), HalfToFloat(in[i]), op));
    if constexpr (kCopy) also[i] = out[i];
  }
}

template <bool kCopy>
void Reduce(void* dst, void* copy, const void* src, size_t count, DataType type, ReduceOp op) {
  switch (type) {
    case DataType::kUInt8:
      return ReduceTyped<kCopy, uint8_t>(dst, copy, src, count, op);
    case DataType::kInt8:
      return ReduceTyped<kCopy, int8_t>(dst, copy, src, count, op);
    case DataType::kInt16:
      return ReduceTyped<kCopy, int16_t>(dst, copy, src, count, op);
    case DataType::kBool:
      return ReduceTyped<kCopy, bool>(dst, copy, src, count, op);
    case DataType::kInt32:
      return ReduceTyped<kCopy, int32_t>(dst, copy, src, count, op);
    case DataType::kInt64:
      return ReduceTyped<kCopy, int64_t>(dst, copy, src, count, op);
    case DataType::kFloat16:
      return ReduceHalf<kCopy>(dst, copy, src, count, op);
    case DataType::kFloat32:
      return ReduceTyped<kCopy, float>(dst, copy, src, count, op);
    case DataType::kFloat64:
      return ReduceTyped<kCopy, double>(dst, copy, src, count, op);
  }
}

template <typename T>
void ScaleTyped(void* buffer, size_t count, double factor) {
  T* data = static_cast<T*>(buffer);
  if constexpr (std::is_floating_point_v<T>) {
    const T f = static_cast<T>(factor);
    for (size_t i = 0; i < count; ++i) data[i] *= f;
  } else {
    for (size_t i = 0; i < count; ++i) {
      data[i] = static_cast<T>(std::trunc(static_cast<double>(data[i]) * factor));
    }
  }
}

}  // namespace

size_t ElementSize(DataType type) {
  switch (type) {
    case DataType::kUInt8:
    case DataType::kInt8:
    case DataType::kBool:
      return 1;
    case DataType::kInt16:
    case DataType::kFloat16:
      return 2;
    case DataType::kInt32:
    case DataType::kFloat32:
      return 4;
    case DataType::kInt64:
    case DataType::kFloat64:
      return 8;
  }
  return 1;
}

std::string_view DataTypeName(DataType type) {
  switch (type) {
    case DataType::kUInt8:
      return "uint8";
    case DataType::kInt8:
      return "int8";
    case DataType::kInt16:
      return "int16";
    case DataType::kBool:
      return "bool";
    case DataType::kInt32:
      return "int32";
    case DataType::kInt64:
      return "int64";
    case DataType::kFloat16:
      return "float16";
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
  }
  return "unknown";
}

std::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kAverage:
      return "average";
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kProduct:
      return "product";
  }
  return "unknown";
}

bool IsValidDataType(uint8_t value) { return value <= static_cast<uint8_t>(DataType::kBool); }
bool IsValidReduceOp(uint8_t value) { return value <= static_cast<uint8_t>(ReduceOp::kProduct); }

void ReduceInto(void* dst, const void* src, size_t count, DataType type, ReduceOp op) {
  Reduce<false>(dst, nullptr, src, count, type, op);
}

void ReduceIntoAndCopy(void* dst, void* copy, const void* src, size_t count, DataType type,
                       ReduceOp op) {
  Reduce<true>(dst, copy, src, count, type, op);
}

void ScaleBuffer(void* buffer, size_t count, DataType type, double factor) {
  if (factor == 1.0) return;
  switch (type) {
    case DataType::kUInt8:
      return ScaleTyped<uint8_t>(buffer, count, factor);
    case DataType::kInt8:
      return ScaleTyped<int8_t>(buffer, count, factor);
    case DataType::kInt16:
      return ScaleTyped<int16_t>(buffer, count, factor);
    case DataType::kBool:
      // Only a pre- or postscale reaches a bool (Average is refused): a nonzero factor
      // keeps each value, zero clears it.
      if (factor == 0.0) std::memset(buffer, 0, count);
      return;
    case DataType::kInt32:
      return ScaleTyped<int32_t>(buffer, count, factor);
    case DataType::kInt64:
      return ScaleTyped<int64_t>(buffer, count, factor);
    case DataType::kFloat32:
      return ScaleTyped<float>(buffer, count, factor);
    case DataType::kFloat64:
      return ScaleTyped<double>(buffer, count, factor);
    case DataType::kFloat16: {
      auto* data = static_cast<uint16_t*>(buffer);
      const auto f = static_cast<float>(factor);
      for (size_t i = 0; i < count; ++i) data[i] = FloatToHalf(HalfToFloat(data[i]) * f);
      return;
    }
  }
}

float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t FloatToHalf(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t exponent = (bits >> 23) & 0xffu;
  const uint32_t mantissa = bits & 0x7fffffu;
  if (exponent == 0xff) {  // inf or NaN (NaN keeps a mantissa bit)
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa != 0 ? 0x200u : 0u));
  }
  const int half_exponent = static_cast<int>(exponent) - 127 + 15;
  if (half_exponent >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow
  if (half_exponent <= 0) {
    if (half_exponent < -10) return sign;  // underflows to zero
    const uint32_t full = mantissa | 0x800000u;
    const int shift = 14 - half_exponent;
    uint32_t half_mantissa = full >> shift;
    const uint32_t rest = full & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  uint32_t half = (static_cast<uint32_t>(half_exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into exponent
  return static_cast<uint16_t>(sign | half);
}

}  // namespace kiln::collective
