#include "store/point_block.h"

#include <bit>
#include <cstring>

namespace kiln::store {
namespace {

static_assert(std::endian::native == std::endian::little, "blocks are little-endian");

constexpr char kVersion = 1;

std::uint64_t Zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

std::int64_t Unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

char* PutVarint(char* out, std::uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

bool GetVarint(const char*& in, const char* end, std::uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && in < end; shift += 7) {
    const auto byte = static_cast<unsigned char>(*in++);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string EncodePointBlock(std::span<const MetricPoint> points) {
  constexpr std::size_t kMaxPointBytes = 10 + 8 + 10;
  std::string block(1 + points.size() * kMaxPointBytes, '\0');
  char* out = block.data();
  *out++ = kVersion;
  std::int64_t step = 0;
  std::int64_t at = 0;
  for (const MetricPoint& point : points) {
    // Differences wrap like unsigned numbers, so extreme steps cannot overflow.
    out = PutVarint(out, Zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(point.step) -
                                                          static_cast<std::uint64_t>(step))));
    std::memcpy(out, &point.value, 8);
    out += 8;
    out = PutVarint(out, Zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(point.at) -
                                                          static_cast<std::uint64_t>(at))));
    step = point.step;
    at = point.at;
  }
  block.resize(static_cast<std::size_t>(out - block.data()));
  return block;
}

Status DecodePointBlock(std::string_view block, std::vector<MetricPoint>& into) {
  if (block.empty() || block[0] != kVersion) return DataLossError("unknown metric block version");
  const char* in = block.data() + 1;
  const char* end = block.data() + block.size();
  std::int64_t step = 0;
  std::int64_t at = 0;
  while (in < end) {
    std::uint64_t step_delta = 0;
    std::uint64_t at_delta = 0;
    MetricPoint point;
    if (!GetVarint(in, end, step_delta) || end - in < 8) return DataLossError("torn metric block");
    std::memcpy(&point.value, in, 8);
    in += 8;
    if (!GetVarint(in, end, at_delta)) return DataLossError("torn metric block");
    step = static_cast<std::int64_t>(static_cast<std::uint64_t>(step) +
                                     static_cast<std::uint64_t>(Unzigzag(step_delta)));
    at = static_cast<std::int64_t>(static_cast<std::uint64_t>(at) +
                                   static_cast<std::uint64_t>(Unzigzag(at_delta)));
    point.step = step;
    point.at = at;
    into.push_back(point);
  }
  return Status::Ok();
}

}  // namespace kiln::store
