// UiAssets() of a Kiln built with -DKILN_UI=OFF: no UI, and `GET /` says so.

#include "server/ui_assets.h"

namespace kiln::server {

std::span<const UiAsset> UiAssets() { return {}; }

}  // namespace kiln::server
