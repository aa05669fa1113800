#include "plot/line_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "plot/cairo_library.h"

namespace kiln::plot {
namespace {

constexpr double kWidth = 960;
constexpr double kChartHeight = 380;
constexpr double kLeft = 80;
constexpr double kRight = 230;  // room for the legend
constexpr double kTop = 44;
constexpr double kBottom = 52;
constexpr int kTicks = 6;

struct Rgb {
  double r, g, b;
};
// A palette that stays distinct for common color blindness (Okabe and Ito's eight).
constexpr Rgb kPalette[] = {{0.00, 0.45, 0.70}, {0.90, 0.62, 0.00}, {0.00, 0.62, 0.45},
                            {0.80, 0.47, 0.65}, {0.34, 0.71, 0.91}, {0.84, 0.37, 0.00},
                            {0.94, 0.89, 0.26}, {0.00, 0.00, 0.00}};

struct SurfaceDeleter {
  const CairoLibrary* c;
  void operator()(cairo_surface_t* surface) const { c->cairo_surface_destroy(surface); }
};
struct ContextDeleter {
  const CairoLibrary* c;
  void operator()(cairo_t* cr) const { c->cairo_destroy(cr); }
};

std::string TickLabel(double value, double step) {
  if (value == 0) return "0";
  const double magnitude = std::abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) return fmt::format("{:.2e}", value);
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step))));
  return fmt::format("{:.{}f}", value, decimals);
}

// Reduces a series to at most two points per pixel column: the lowest and highest there.
Series Reduce(const Series& series, double x_low, double x_high, int columns) {
  if (series.x.size() <= static_cast<std::size_t>(columns) * 2) return series;
  Series reduced{series.label, {}, {}};
  const double span = x_high > x_low ? x_high - x_low : 1;
  std::size_t i = 0;
  for (int column = 0; column < columns && i < series.x.size(); ++column) {
    const double column_end = x_low + span * (column + 1) / columns;
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    std::size_t low_at = i, high_at = i;
    const std::size_t first = i;
    for (; i < series.x.size() && (series.x[i] <= column_end || column == columns - 1); ++i) {
      if (series.y[i] < low) low = series.y[low_at = i];
      if (series.y[i] > high) high = series.y[high_at = i];
    }
    if (i == first) continue;
    for (std::size_t at : {std::min(low_at, high_at), std::max(low_at, high_at)}) {
      reduced.x.push_back(series.x[at]);
      reduced.y.push_back(series.y[at]);
    }
  }
  return reduced;
}

void DrawText(const CairoLibrary& c, cairo_t* cr, const std::string& text, double x, double y,
              double align_x, double align_y) {
  cairo_text_extents_t extents;
  c.cairo_text_extents(cr, text.c_str(), &extents);
  c.cairo_move_to(cr, x - extents.width * align_x - extents.x_bearing,
                  y - extents.height * align_y - extents.y_bearing);
  c.cairo_show_text(cr, text.c_str());
}

void DrawChart(const CairoLibrary& c, cairo_t* cr, const Chart& chart, double top) {
  const double plot_left = kLeft;
  const double plot_right = kWidth - kRight;
  const double plot_top = top + kTop;
  const double plot_bottom = top + kChartHeight - kBottom;

  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  double y_low = x_low, y_high = -x_low;
  for (const Series& series : chart.series) {
    for (std::size_t i = 0; i < series.x.size(); ++i) {
      x_low = std::min(x_low, series.x[i]);
      x_high = std::max(x_high, series.x[i]);
      y_low = std::min(y_low, series.y[i]);
      y_high = std::max(y_high, series.y[i]);
    }
  }
  if (!std::isfinite(x_low)) x_low = 0, x_high = 1, y_low = 0, y_high = 1;
  if (x_high == x_low) x_high = x_low + 1;
  if (y_high == y_low) y_low -= 0.5, y_high += 0.5;
  const std::vector<double> x_ticks = NiceTicks(x_low, x_high, kTicks);
  const std::vector<double> y_ticks = NiceTicks(y_low, y_high, kTicks);
  x_low = std::min(x_low, x_ticks.front());
  x_high = std::max(x_high, x_ticks.back());
  y_low = std::min(y_low, y_ticks.front());
  y_high = std::max(y_high, y_ticks.back());
  const auto px = [&](double x) {
    return plot_left + (x - x_low) / (x_high - x_low) * (plot_right - plot_left);
  };
  const auto py = [&](double y) {
    return plot_bottom - (y - y_low) / (y_high - y_low) * (plot_bottom - plot_top);
  };

  c.cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  c.cairo_set_font_size(cr, 15);
  c.cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  DrawText(c, cr, chart.title, (plot_left + plot_right) / 2, top + 16, 0.5, 0.5);
  c.cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  c.cairo_set_font_size(cr, 11);

  // Grid and tick labels.
  c.cairo_set_line_width(cr, 1);
  for (double tick : x_ticks) {
    c.cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    c.cairo_move_to(cr, std::round(px(tick)) + 0.5, plot_top);
    c.cairo_line_to(cr, std::round(px(tick)) + 0.5, plot_bottom);
    c.cairo_stroke(cr);
    c.cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    DrawText(c, cr, TickLabel(tick, x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1), px(tick),
             plot_bottom + 14, 0.5, 0.5);
  }
  for (double tick : y_ticks) {
    c.cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    c.cairo_move_to(cr, plot_left, std::round(py(tick)) + 0.5);
    c.cairo_line_to(cr, plot_right, std::round(py(tick)) + 0.5);
    c.cairo_stroke(cr);
    c.cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    DrawText(c, cr, TickLabel(tick, y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1),
             plot_left - 8, py(tick), 1.0, 0.5);
  }
  c.cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  c.cairo_rectangle(cr, plot_left + 0.5, plot_top + 0.5, plot_right - plot_left,
                    plot_bottom - plot_top);
  c.cairo_stroke(cr);
  DrawText(c, cr, chart.x_label, (plot_left + plot_right) / 2, plot_bottom + 36, 0.5, 0.5);

  // Lines, clipped to the plot area.
  const int columns = static_cast<int>(plot_right - plot_left);
  c.cairo_save(cr);
  c.cairo_rectangle(cr, plot_left, plot_top, plot_right - plot_left, plot_bottom - plot_top);
  c.cairo_clip(cr);
  c.cairo_set_line_width(cr, 1.6);
  c.cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const Series reduced = Reduce(chart.series[s], x_low, x_high, columns);
    const Rgb color = kPalette[s % std::size(kPalette)];
    c.cairo_set_source_rgb(cr, color.r, color.g, color.b);
    if (reduced.x.size() == 1) {
      c.cairo_arc(cr, px(reduced.x[0]), py(reduced.y[0]), 3, 0, 2 * M_PI);
      c.cairo_fill(cr);
      continue;
    }
    for (std::size_t i = 0; i < reduced.x.size(); ++i) {
      (i == 0 ? c.cairo_move_to : c.cairo_line_to)(cr, px(reduced.x[i]), py(reduced.y[i]));
    }
    c.cairo_stroke(cr);
  }
  c.cairo_restore(cr);

  // Legend.
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const Rgb color = kPalette[s % std::size(kPalette)];
    const double y = plot_top + 8 + 18 * static_cast<double>(s);
    c.cairo_set_source_rgb(cr, color.r, color.g, color.b);
    c.cairo_rectangle(cr, plot_right + 16, y - 5, 16, 10);
    c.cairo_fill(cr);
    c.cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    std::string label = chart.series[s].label;
    if (label.size() > 28) label = label.substr(0, 12) + "..." + label.substr(label.size() - 13);
    DrawText(c, cr, label, plot_right + 38, y, 0.0, 0.5);
  }
}

}  // namespace

std::vector<double> NiceTicks(double low, double high, int target) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / std::max(1, target - 1);
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double magnitude = std::pow(10.0, exponent);
  double factor = 1;
  for (double candidate : {1.0, 2.0, 5.0, 10.0}) {
    factor = candidate;
    if (candidate * magnitude >= raw) break;
  }
  // Each tick is an integer count of `factor`, scaled by the power of ten in one step, so
  // 0.6 is 6 / 10 (exact to the last bit) rather than 0.2 + 0.2 + 0.2.
  const double scale = std::pow(10.0, std::abs(exponent));
  const auto tick_at = [&](std::int64_t k) {
    const double count = static_cast<double>(k) * factor;
    return exponent < 0 ? count / scale : count * scale;
  };
  std::vector<double> ticks;
  for (auto k = static_cast<std::int64_t>(std::floor(low / (factor * magnitude)));; ++k) {
    const double tick = tick_at(k);
    ticks.push_back(tick == 0 ? 0.0 : tick);
    if (tick >= high) break;
  }
  return ticks;
}

Status RenderCharts(const std::vector<Chart>& charts, const std::filesystem::path& file) {
  const std::string extension = file.extension().string();
  if (extension != ".png" && extension != ".svg") {
    return InvalidArgumentError(fmt::format("-o: '{}' must end in .png or .svg", file.string()));
  }
  if (charts.empty()) return InvalidArgumentError("nothing to plot");
  KILN_ASSIGN_OR_RETURN(const CairoLibrary* library, LoadCairo());
  const CairoLibrary& c = *library;
  const double height = kChartHeight * static_cast<double>(charts.size());
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface(
      extension == ".svg"
          ? c.cairo_svg_surface_create(file.c_str(), kWidth, height)
          : c.cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(kWidth),
                                         static_cast<int>(height)),
      SurfaceDeleter{&c});
  if (c.cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return InternalError(
        fmt::format("cannot create {}: {}", file.string(),
                    c.cairo_status_to_string(c.cairo_surface_status(surface.get()))));
  }
  {
    std::unique_ptr<cairo_t, ContextDeleter> cr(c.cairo_create(surface.get()), ContextDeleter{&c});
    c.cairo_set_source_rgb(cr.get(), 1, 1, 1);
    c.cairo_paint(cr.get());
    for (std::size_t i = 0; i < charts.size(); ++i) {
      DrawChart(c, cr.get(), charts[i], kChartHeight * static_cast<double>(i));
    }
  }
  c.cairo_surface_flush(surface.get());
  if (extension == ".png") {
    const cairo_status_t written = c.cairo_surface_write_to_png(surface.get(), file.c_str());
    if (written != CAIRO_STATUS_SUCCESS) {
      return InternalError(
          fmt::format("cannot write {}: {}", file.string(), c.cairo_status_to_string(written)));
    }
  }
  c.cairo_surface_finish(surface.get());
  return Status::Ok();
}

}  // namespace kiln::plot
