#pragma once

// Element types and reductions of the collective runtime. The runtime never sees torch:
// a tensor is a pointer, a DataType and a shape (tensor.h).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::collective {

// New types go at the end: the value crosses the wire between ranks.
enum class DataType : uint8_t {
  kUInt8,
  kInt8,
  kInt32,
  kInt64,
  kFloat16,
  kFloat32,
  kFloat64,
  kInt16,
  kBool,  // one byte, 0 or 1; Sum and Max are a logical or, Min and Product a logical and
};

enum class ReduceOp : uint8_t { kAverage, kSum, kMin, kMax, kProduct };

size_t ElementSize(DataType type);
std::string_view DataTypeName(DataType type);  // "float32", as torch names them
std::string_view ReduceOpName(ReduceOp op);    // "average", "sum", ...
bool IsValidDataType(uint8_t value);
bool IsValidReduceOp(uint8_t value);

// dst[i] = dst[i] (op) src[i] for `count` elements, dst and src not overlapping. Average
// reduces as Sum; the caller divides afterwards (bool has no Average: Validate refuses it).
void ReduceInto(void* dst, const void* src, size_t count, DataType type, ReduceOp op);
// ReduceInto that also leaves the result in `copy` (overlapping neither), in the same pass.
void ReduceIntoAndCopy(void* dst, void* copy, const void* src, size_t count, DataType type,
                       ReduceOp op);

// buffer[i] *= factor, in the element type (integers round toward zero, as torch does for
// in-place integer multiplication by a float). A factor of exactly 1 is a no-op.
void ScaleBuffer(void* buffer, size_t count, DataType type, double factor);

// IEEE 754 half precision, round to nearest even.
float HalfToFloat(uint16_t half);
uint16_t FloatToHalf(float value);

}  // namespace kiln::collective
