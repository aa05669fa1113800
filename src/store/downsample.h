#pragma once

// Downsampling a long metric series for a chart, as a Kiln server does for
// GET /v1/runs/{id}/metrics/{name}?max_points=N.
//
// Scalars keep their shape: the first and the last point, and between them the points are
// cut into (N - 2) / 2 runs of consecutive steps, each giving its lowest and highest point
// (in step order), so spikes survive. Other kinds keep N values evenly spaced by position,
// the last included. A series of N points or fewer is returned as it is.

#include <cstddef>

#include "store/records.h"

namespace kiln::store {

inline constexpr std::size_t kMinDownsamplePoints = 4;

// `max_points` must be >= kMinDownsamplePoints.
MetricSeries Downsample(const MetricSeries& series, std::size_t max_points);

}  // namespace kiln::store
