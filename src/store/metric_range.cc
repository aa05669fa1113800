#include "store/metric_range.h"

#include <fmt/format.h>

#include <optional>

namespace kiln::store {
namespace {

// The index range [first, last] of the elements whose x is inside, widened by one at each
// end; empty (first > last) when none is inside.
template <typename T, typename X>
std::vector<T> Slice(const std::vector<T>& items, const MetricRange& range, X x_of) {
  std::size_t first = items.size();
  std::size_t last = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const double x = x_of(items[i]);
    if ((range.min && x < *range.min) || (range.max && x > *range.max)) continue;
    if (first == items.size()) first = i;
    last = i;
  }
  if (first == items.size()) {
    // None inside (a zoom between two logged steps): the points on either side, so the
    // line still crosses the range.
    std::optional<std::size_t> before;
    std::optional<std::size_t> after;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const double x = x_of(items[i]);
      if (range.min && x < *range.min) before = i;
      if (range.max && x > *range.max && !after) after = i;
    }
    std::vector<T> out;
    if (before) out.push_back(items[*before]);
    if (after && (!before || *after != *before)) out.push_back(items[*after]);
    return out;
  }
  if (first > 0) --first;
  if (last + 1 < items.size()) ++last;
  return std::vector<T>(items.begin() + static_cast<std::ptrdiff_t>(first),
                        items.begin() + static_cast<std::ptrdiff_t>(last) + 1);
}

}  // namespace

Result<MetricAxis> ParseMetricAxis(std::string_view text) {
  if (text == "step") return MetricAxis::kStep;
  if (text == "time") return MetricAxis::kTime;
  return InvalidArgumentError(
      fmt::format("query parameter x: expected step or time, got '{}'", text));
}

MetricSeries SliceMetric(const MetricSeries& series, const MetricRange& range) {
  if (!range.min && !range.max) return series;
  MetricSeries out;
  out.name = series.name;
  out.rank = series.rank;
  out.kind = series.kind;
  out.description = series.description;
  const bool by_step = range.axis == MetricAxis::kStep;
  out.points = Slice(series.points, range, [by_step](const MetricPoint& point) {
    return static_cast<double>(by_step ? point.step : point.at);
  });
  out.values = by_step ? series.values : Slice(series.values, range, [](const MetricValue& value) {
    return static_cast<double>(value.at);
  });
  return out;
}

}  // namespace kiln::store
