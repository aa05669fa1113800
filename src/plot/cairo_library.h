#pragma once

// The cairo functions the charts use, loaded with dlopen the first time a chart is drawn.
// Linking cairo would make every kiln process (each command, each run's launcher) map and
// relocate cairo's eighteen shared libraries at start, about 4 ms each time; loaded here,
// only `kiln plot` pays. The declarations come from cairo's own headers, so the types are
// checked at compile time.

#include <cairo-svg.h>
#include <cairo.h>

#include "common/result.h"

namespace kiln::plot {

// X(name) for every function used, one list for the struct and the loader.
// clang-format off
#define KILN_CAIRO_FUNCTIONS(X) \
  X(cairo_arc) \
  X(cairo_clip) \
  X(cairo_create) \
  X(cairo_destroy) \
  X(cairo_fill) \
  X(cairo_image_surface_create) \
  X(cairo_line_to) \
  X(cairo_move_to) \
  X(cairo_paint) \
  X(cairo_rectangle) \
  X(cairo_restore) \
  X(cairo_save) \
  X(cairo_select_font_face) \
  X(cairo_set_font_size) \
  X(cairo_set_line_join) \
  X(cairo_set_line_width) \
  X(cairo_set_source_rgb) \
  X(cairo_show_text) \
  X(cairo_status_to_string) \
  X(cairo_stroke) \
  X(cairo_surface_destroy) \
  X(cairo_surface_finish) \
  X(cairo_surface_flush) \
  X(cairo_surface_status) \
  X(cairo_surface_write_to_png) \
  X(cairo_svg_surface_create) \
  X(cairo_text_extents)
// clang-format on

struct CairoLibrary {
#define KILN_CAIRO_MEMBER(name) decltype(&::name) name = nullptr;
  KILN_CAIRO_FUNCTIONS(KILN_CAIRO_MEMBER)
#undef KILN_CAIRO_MEMBER
};

// Loaded once per process and kept. FailedPrecondition when libcairo.so.2 or one of its
// functions is missing, saying which package brings it.
Result<const CairoLibrary*> LoadCairo();

}  // namespace kiln::plot
