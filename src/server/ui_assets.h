#pragma once

// The files of Kiln Studio, the web UI (ui/ in the source tree), compiled into the binary:
// ui/build.mjs bundles them with esbuild and writes ui_assets.cc with their bytes, so a
// `kiln server` serves its UI with no file beside it and no network (docs/ui.md).

#include <span>
#include <string_view>

namespace kiln::server {

struct UiAsset {
  std::string_view path;          // "/index.html", "/assets/app-3F2A9C1B.js"
  std::string_view content_type;  // with its charset for text
  std::string_view body;          // compressed on the way out when the client accepts it (httplib)
  bool immutable;                 // its name holds its content's hash: cached for a year
};

// Every asset; empty when Kiln was built with -DKILN_UI=OFF.
std::span<const UiAsset> UiAssets();

}  // namespace kiln::server
