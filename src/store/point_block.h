#pragma once

// The compact encoding of a block of scalar points, as backends store it (one BLOB per
// block). Steps and times of consecutive points are close, so each is kept as the zigzag
// varint of its difference from the point before; the value keeps its 8 bytes:
//
//   u8 version (1), then per point: varint zigzag(step - previous step),
//                                   f64 value (little-endian),
//                                   varint zigzag(time - previous time)
// with "previous" 0 for the first point. A point with step + 1 and a time a few
// microseconds later takes 11 bytes instead of 24.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/records.h"

namespace kiln::store {

std::string EncodePointBlock(std::span<const MetricPoint> points);

// Appends the block's points to `into`. DataLoss for bytes that are not such a block.
Status DecodePointBlock(std::string_view block, std::vector<MetricPoint>& into);

}  // namespace kiln::store
