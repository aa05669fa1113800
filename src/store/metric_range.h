#pragma once

// A metric series cut to a range of its x axis, as GET /v1/runs/{id}/metrics/{name}?x_min=
// &x_max= reads it before downsampling: a chart zoomed into a range asks for it and gets
// that range at full detail (docs/openapi.yaml).

#include <optional>
#include <string_view>

#include "common/result.h"
#include "store/records.h"

namespace kiln::store {

enum class MetricAxis { kStep, kTime };

struct MetricRange {
  MetricAxis axis = MetricAxis::kStep;
  std::optional<double> min;  // inclusive; unset: unbounded
  std::optional<double> max;
};

// "step" or "time" (microseconds since the epoch); InvalidArgument naming the choices.
Result<MetricAxis> ParseMetricAxis(std::string_view text);

// The points of `series` from the first logged whose x lies in the range to the last, in
// logging order (with steps that go back, as a resumed run logs them, points between those
// two outside the range stay), and besides them the point logged just before the first and
// just after the last, so a line drawn through them reaches the range's edges. With none
// inside, the last point before the range and the first after it. Values of other kinds
// have no step: they are cut by time, or kept whole on the step axis.
MetricSeries SliceMetric(const MetricSeries& series, const MetricRange& range);

}  // namespace kiln::store
