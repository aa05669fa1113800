#pragma once

// ApiClient: requests to a Kiln server's REST API (docs/server.md, docs/openapi.yaml), the
// one place clients speak HTTP. It adds the API token, checks TLS against a CA file when
// one is given, and turns the server's error bodies back into the Status they came from,
// so a caller sees NotFound, FailedPrecondition, ... exactly as from the embedded store.
// A server that cannot be reached is Unavailable, naming the URL (never the token).
//
// Thread-safe: requests from several threads share one keep-alive connection in turn.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::store::http {

struct ApiClientOptions {
  std::string url;      // http://host:port or https://host:port
  std::string token;    // sent as "Authorization: Bearer <token>"; none when empty
  std::string ca_file;  // https: the CA certificates to trust; the system's when empty
  std::chrono::milliseconds timeout{30'000};
};

struct RawResponse {
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // lower-case names
};

class ApiClient {
 public:
  // InvalidArgument for a URL that is not http(s)://host:port.
  static Result<std::unique_ptr<ApiClient>> Create(const ApiClientOptions& options);
  ~ApiClient();

  const std::string& url() const { return url_; }

  // `path` starts with "/v1/"; query strings are part of it (see Query()).
  Result<nlohmann::json> Get(std::string_view path);
  Result<nlohmann::json> Post(std::string_view path, const nlohmann::json& body);
  Result<nlohmann::json> Patch(std::string_view path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(std::string_view path);
  Result<nlohmann::json> PutBytes(std::string_view path, std::string_view bytes);
  Result<RawResponse> GetRaw(std::string_view path);
  // Streams a response body to `on_data` as it arrives; `on_data` returns false to stop.
  Status GetStream(std::string_view path, const std::function<bool(std::string_view)>& on_data);
  // GETs `path` into the file `destination`, written as the bytes arrive (never whole in
  // memory) to a temporary file beside it, synced and renamed into place once complete: a
  // download that fails (an error reply, a broken or short transfer, a full disk) leaves
  // `destination` as it was. The server's errors come back as Get's do.
  Status Download(std::string_view path, const std::filesystem::path& destination);

 private:
  class Impl;
  ApiClient(std::string url, std::unique_ptr<Impl> impl);

  std::string url_;
  std::unique_ptr<Impl> impl_;
};

// "%"-encodes one path segment or query value.
std::string UrlEncode(std::string_view text);

}  // namespace kiln::store::http
