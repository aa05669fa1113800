#pragma once

// Line charts of metric curves, drawn with cairo into PNG or SVG files: one chart per
// metric, stacked, each with one line per series (run), axes with round-number ticks, and a
// legend. Long series are reduced to the minimum and maximum of each pixel column, so a
// million points draw as fast (and as small) as a thousand, with every spike still visible.

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::plot {

struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
};

struct Chart {
  std::string title;
  std::string x_label = "step";
  std::vector<Series> series;
};

// Writes the charts, one above the other, to `file`; its extension (.png or .svg) picks the
// format. InvalidArgument for another extension or no data at all.
Status RenderCharts(const std::vector<Chart>& charts, const std::filesystem::path& file);

// Round-number tick positions (1, 2 or 5 times a power of ten) covering [low, high], about
// `target` of them.
std::vector<double> NiceTicks(double low, double high, int target);

}  // namespace kiln::plot
