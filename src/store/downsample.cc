#include "store/downsample.h"

#include <algorithm>

namespace kiln::store {

MetricSeries Downsample(const MetricSeries& series, std::size_t max_points) {
  max_points = std::max(max_points, kMinDownsamplePoints);
  MetricSeries out;
  out.name = series.name;
  out.rank = series.rank;
  out.kind = series.kind;
  out.description = series.description;

  const std::vector<MetricValue>& values = series.values;
  if (values.size() > max_points) {
    for (std::size_t i = 0; i < max_points; ++i) {
      out.values.push_back(values[i * (values.size() - 1) / (max_points - 1)]);
    }
  } else {
    out.values = values;
  }

  const std::vector<MetricPoint>& points = series.points;
  if (points.size() <= max_points) {
    out.points = points;
    return out;
  }
  const std::size_t inner = points.size() - 2;
  const std::size_t buckets = (max_points - 2) / 2;
  out.points.push_back(points.front());
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t begin = 1 + b * inner / buckets;
    const std::size_t end = 1 + (b + 1) * inner / buckets;
    if (begin == end) continue;
    const auto [low, high] = std::minmax_element(
        points.begin() + static_cast<std::ptrdiff_t>(begin),
        points.begin() + static_cast<std::ptrdiff_t>(end),
        [](const MetricPoint& a, const MetricPoint& b) { return a.value < b.value; });
    if (low == high) {
      out.points.push_back(*low);
    } else if (low < high) {
      out.points.push_back(*low);
      out.points.push_back(*high);
    } else {
      out.points.push_back(*high);
      out.points.push_back(*low);
    }
  }
  out.points.push_back(points.back());
  return out;
}

}  // namespace kiln::store
