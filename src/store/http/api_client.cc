#include "store/http/api_client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

#include "common/files.h"
#include "common/random.h"
#include "common/unique_fd.h"
#include "store/wire.h"

namespace kiln::store::http {

using nlohmann::json;

namespace {

constexpr std::string_view kJson = "application/json";

StatusCode CodeFromName(std::string_view name, int http_status) {
  if (const std::optional<StatusCode> code = ParseStatusCode(name)) return *code;
  switch (http_status) {
    case 400:
    case 413:
    case 415:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kFailedPrecondition;
    case 503:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

// The Status a server's error response stands for: {"error": {"code", "message"}}.
Status ErrorFromResponse(const httplib::Response& response) {
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const json& error = body["error"];
    const std::string code = error.value("code", "");
    const std::string message = error.value("message", "");
    return Status(CodeFromName(code, response.status), message);
  }
  return Status(
      CodeFromName("", response.status),
      fmt::format("the server answered {} {}", response.status, response.body.substr(0, 200)));
}

}  // namespace

class ApiClient::Impl {
 public:
  Impl(const ApiClientOptions& options) : client_(options.url), url_(options.url) {
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options.timeout);
    client_.set_connection_timeout(seconds);
    client_.set_read_timeout(seconds);
    client_.set_write_timeout(seconds);
    if (!options.token.empty()) client_.set_bearer_token_auth(options.token);
    if (!options.ca_file.empty()) client_.set_ca_cert_path(options.ca_file);
  }

  // Sends one request; a request that could not be sent on a kept-alive connection (the
  // server restarted since) is tried once more on a fresh one when `idempotent`.
  Result<httplib::Response> Send(const std::function<httplib::Result()>& request, bool idempotent) {
    for (int attempt = 0;; ++attempt) {
      httplib::Result result = request();
      if (result) {
        if (result->status >= 400) return ErrorFromResponse(*result);
        return std::move(result.value());
      }
      const httplib::Error error = result.error();
      const bool retry = attempt == 0 && idempotent &&
                         (error == httplib::Error::Read || error == httplib::Error::Write);
      if (retry) continue;
      if (error == httplib::Error::SSLServerVerification ||
          error == httplib::Error::SSLLoadingCerts) {
        return UnavailableError(fmt::format(
            "the Kiln server at {} could not be verified ({}); give its CA certificate in "
            "KILN_CA_CERT",
            url_, httplib::to_string(error)));
      }
      return UnavailableError(
          fmt::format("cannot reach the Kiln server at {}: {}; check that it is running and "
                      "that KILN_SERVER is right",
                      url_, httplib::to_string(error)));
    }
  }

  httplib::Client client_;
  std::string url_;
};

ApiClient::ApiClient(std::string url, std::unique_ptr<Impl> impl)
    : url_(std::move(url)), impl_(std::move(impl)) {}

ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Create(const ApiClientOptions& options) {
  std::string url = options.url;
  while (url.ends_with('/')) url.pop_back();
  const bool http = url.starts_with("http://") || url.starts_with("https://");
  const std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
  if (!http || rest.empty() || rest.find('/') != std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("server URL '{}' must be http://HOST:PORT or https://HOST:PORT", options.url));
  }
  ApiClientOptions cleaned = options;
  cleaned.url = url;
  auto impl = std::make_unique<Impl>(cleaned);
  if (!impl->client_.is_valid()) {
    return InvalidArgumentError(fmt::format("server URL '{}' is not usable", options.url));
  }
  return std::unique_ptr<ApiClient>(new ApiClient(url, std::move(impl)));
}

namespace {
Result<json> JsonOf(const httplib::Response& response) {
  if (response.body.empty()) return json::object();
  return wire::ParseBody(response.body);
}
}  // namespace

Result<json> ApiClient::Get(std::string_view path) {
  const std::string target(path);
  KILN_ASSIGN_OR_RETURN(const httplib::Response response,
                        impl_->Send([&] { return impl_->client_.Get(target); }, true));
  return JsonOf(response);
}

Result<json> ApiClient::Post(std::string_view path, const json& body) {
  const std::string target(path);
  const std::string text = body.dump();
  KILN_ASSIGN_OR_RETURN(
      const httplib::Response response,
      impl_->Send([&] { return impl_->client_.Post(target, text, std::string(kJson)); }, false));
  return JsonOf(response);
}

Result<json> ApiClient::Patch(std::string_view path, const json& body) {
  const std::string target(path);
  const std::string text = body.dump();
  // Kiln's PATCH bodies set values, so sending one again is safe.
  KILN_ASSIGN_OR_RETURN(
      const httplib::Response response,
      impl_->Send([&] { return impl_->client_.Patch(target, text, std::string(kJson)); }, true));
  return JsonOf(response);
}

Result<json> ApiClient::Delete(std::string_view path) {
  const std::string target(path);
  KILN_ASSIGN_OR_RETURN(const httplib::Response response,
                        impl_->Send([&] { return impl_->client_.Delete(target); }, true));
  return JsonOf(response);
}

Result<json> ApiClient::PutBytes(std::string_view path, std::string_view bytes) {
  const std::string target(path);
  KILN_ASSIGN_OR_RETURN(const httplib::Response response,
                        impl_->Send(
                            [&] {
                              return impl_->client_.Put(target, bytes.data(), bytes.size(),
                                                        "application/octet-stream");
                            },
                            true));
  return JsonOf(response);
}

Result<RawResponse> ApiClient::GetRaw(std::string_view path) {
  const std::string target(path);
  KILN_ASSIGN_OR_RETURN(httplib::Response response,
                        impl_->Send([&] { return impl_->client_.Get(target); }, true));
  RawResponse raw;
  raw.content_type = response.get_header_value("Content-Type");
  for (const auto& [name, value] : response.headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    raw.headers[lower] = value;
  }
  raw.body = std::move(response.body);
  return raw;
}

Status ApiClient::GetStream(std::string_view path,
                            const std::function<bool(std::string_view)>& on_data) {
  const std::string target(path);
  int status = 0;
  std::string error_body;
  httplib::Result result = impl_->client_.Get(
      target,
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t length) {
        if (status >= 400) {
          error_body.append(data, length);
          return true;
        }
        return on_data(std::string_view(data, length));
      });
  if (status >= 400) {
    httplib::Response response;
    response.status = status;
    response.body = std::move(error_body);
    return ErrorFromResponse(response);
  }
  if (!result && result.error() != httplib::Error::Canceled) {
    return UnavailableError(fmt::format("the stream from the Kiln server at {} broke: {}", url_,
                                        httplib::to_string(result.error())));
  }
  return Status::Ok();
}

Status ApiClient::Download(std::string_view path, const std::filesystem::path& destination) {
  std::filesystem::path temp = destination;
  temp += ".part." + RandomHex(12);
  // Nothing half-made stays behind, whichever way this ends.
  struct RemoveTemp {
    const std::filesystem::path& path;
    ~RemoveTemp() { ::unlink(path.c_str()); }
  } remove_temp{temp};
  for (int attempt = 0;; ++attempt) {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError(fmt::format("cannot create {}", temp.string()), errno);
    Status written = Status::Ok();
    std::uint64_t received = 0;
    const Status streamed = GetStream(path, [&](std::string_view data) {
      received += data.size();
      written = WriteAll(fd.get(), data, temp);
      return written.ok();
    });
    KILN_RETURN_IF_ERROR(written);
    // As Send: a kept-alive connection the server has closed since is tried once more.
    if (streamed.code() == StatusCode::kUnavailable && attempt == 0 && received == 0) continue;
    KILN_RETURN_IF_ERROR(streamed);
    if (::fsync(fd.get()) != 0) return ErrnoError(fmt::format("fsync {}", temp.string()), errno);
    if (::rename(temp.c_str(), destination.c_str()) != 0) {
      return ErrnoError(fmt::format("rename {} to {}", temp.string(), destination.string()), errno);
    }
    return Status::Ok();
  }
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace kiln::store::http
