// Kiln Studio at /: the UI's assets (ui_assets.h), and the security headers of every reply.

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/tunables.h"
#include "server/route_access.h"
#include "server/routes.h"
#include "server/ui_assets.h"

namespace kiln::server {
namespace {

// The UI's page: its own scripts, styles and images only, no inline script, never framed.
// Charts draw on canvases; images the page shows are blobs it fetched with its token.
constexpr std::string_view kPageSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";
// Everything else (API replies, a run's files): nothing in it may run, even if a browser
// is led to open it as a page.
constexpr std::string_view kApiSecurityPolicy =
    "default-src 'none'; frame-ancestors 'none'; sandbox";

// A file of KILN_UI_DIR (a build of ui/ on disk, for working on the UI without rebuilding
// the server), or nullopt when it has none by that name.
std::optional<std::string> ReadDevAsset(const std::filesystem::path& dir, std::string_view path) {
  const std::filesystem::path file = dir / std::filesystem::path(path).relative_path();
  if (path.find("..") != std::string_view::npos || !std::filesystem::is_regular_file(file)) {
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string_view DevContentType(std::string_view path) {
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".svg")) return "image/svg+xml";
  if (path.ends_with(".png")) return "image/png";
  return "text/html; charset=utf-8";
}

const UiAsset* FindAsset(std::string_view path) {
  for (const UiAsset& asset : UiAssets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

// Serves `path` ("/index.html" for every page of the UI); false when there is no such asset.
bool ReplyAsset(std::string_view path, httplib::Response& response) {
  const std::string dev_dir = ReadTunable(kKilnUiDir);
  const bool page = path == "/index.html";
  if (!dev_dir.empty()) {
    std::optional<std::string> bytes = ReadDevAsset(dev_dir, path);
    if (!bytes) return false;
    response.set_content(std::move(*bytes), std::string(DevContentType(path)));
    response.set_header("Cache-Control", "no-store");
  } else {
    const UiAsset* asset = FindAsset(path);
    if (asset == nullptr) return false;
    response.set_content(std::string(asset->body), std::string(asset->content_type));
    response.set_header("Cache-Control",
                        asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  }
  if (page) {
    // The page's policy replaces the API's default one: two would both apply.
    response.headers.erase("Content-Security-Policy");
    response.set_header("Content-Security-Policy", std::string(kPageSecurityPolicy));
  }
  return true;
}

void ReplyPage(httplib::Response& response) {
  if (ReplyAsset("/index.html", response)) return;
  ReplyError(response,
             NotFoundError("this kiln was built without its web UI (-DKILN_UI=OFF); the REST "
                           "API is under /v1 (docs/openapi.yaml)"));
}

}  // namespace

void SetSecurityHeaders(httplib::Server& server) {
  server.set_default_headers({
      {"Content-Security-Policy", std::string(kApiSecurityPolicy)},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  });
}

void AddUiRoutes(http::Listener& server) {
  server.Get("/",
             [](const httplib::Request&, httplib::Response& response) { ReplyPage(response); });
  server.Get(std::string(kUiPagePattern),
             [](const httplib::Request&, httplib::Response& response) { ReplyPage(response); });
  server.Get(
      R"(/assets/([^/]+))", [](const httplib::Request& request, httplib::Response& response) {
        if (ReplyAsset(request.path, response)) return;
        ReplyError(response, NotFoundError(fmt::format(
                                 "no UI asset {}; the page that asked for it is older than this "
                                 "server: reload it",
                                 request.path)));
      });
}

}  // namespace kiln::server
