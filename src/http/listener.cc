#include "http/listener.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/strings.h"

namespace kiln::http {

using nlohmann::json;

namespace {

// How long an idle keep-alive connection is kept. A graceful stop waits for each worker's
// connection to go idle this long (httplib does not close idle ones), so it bounds how
// long `kiln server` or `kiln ui` takes to stop after a browser's last request.
constexpr int kKeepAliveIdleSeconds = 5;

// CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH as Debian's libcpp-httplib 0.11 was built.
constexpr std::size_t kHttplibFormLimit = 8192;

}  // namespace

void ReplyError(httplib::Response& response, int http_status, const Status& status) {
  response.status = http_status;
  const json body = {
      {"error",
       {{"code", std::string(StatusCodeName(status.code()))}, {"message", status.message()}}}};
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                       "application/json");
}

Listener::~Listener() { Stop(); }

Result<std::unique_ptr<Listener>> Listener::Open(const ListenerOptions& options) {
  if (options.threads < 1) return InvalidArgumentError("an HTTP listener needs at least 1 thread");
  std::unique_ptr<Listener> listener(new Listener(options));
  KILN_RETURN_IF_ERROR(listener->Bind());
  return listener;
}

Status Listener::Bind() {
  tls_ = !options_.tls_cert.empty() || !options_.tls_key.empty();
  if (tls_) {
    if (options_.tls_cert.empty() || options_.tls_key.empty()) {
      return InvalidArgumentError("--tls-cert and --tls-key go together; give both");
    }
    for (const auto& file : {options_.tls_cert, options_.tls_key}) {
      if (!std::filesystem::is_regular_file(file)) {
        return InvalidArgumentError(fmt::format("TLS file {} does not exist", file.string()));
      }
    }
    auto ssl =
        std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
    if (!ssl->is_valid()) {
      return InvalidArgumentError(
          fmt::format("the TLS certificate {} and key {} do not load (PEM files that match)",
                      options_.tls_cert.string(), options_.tls_key.string()));
    }
    http_ = std::move(ssl);
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  const int threads = options_.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_keep_alive_max_count(options_.keep_alive_max_count);
  http_->set_keep_alive_timeout(kKeepAliveIdleSeconds);
  http_->set_tcp_nodelay(true);
  http_->set_socket_options([this](int socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_socket_ = socket;
  });
  SetErrorReplies();

  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
  } else {
    port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return UnavailableError(
        fmt::format("cannot listen on {}:{} (is it taken?)", options_.host, options_.port));
  }
  // Listening again on the bound socket only deepens its queue.
  if (listen_socket_ >= 0 && ::listen(listen_socket_, SOMAXCONN) != 0) {
    return ErrnoError("listen", errno);
  }
  const std::string reach = options_.host == "0.0.0.0" ? "127.0.0.1" : options_.host;
  url_ = fmt::format("{}://{}:{}", tls_ ? "https" : "http", reach, port_);
  return Status::Ok();
}

void Listener::ReplyTooLarge(const httplib::Request& request, httplib::Response& response) const {
  const std::string length = request.get_header_value("Content-Length");
  const std::string of = length.empty() ? "" : fmt::format(" of {} bytes", length);
  const std::string type = request.get_header_value("Content-Type");
  std::size_t declared = 0;
  const bool known =
      !length.empty() &&
      std::from_chars(length.data(), length.data() + length.size(), declared).ec == std::errc();
  if (known && declared <= options_.max_body_bytes &&
      type.starts_with("application/x-www-form-urlencoded")) {
    // Only where no route of ours took the body (an unknown path): httplib's form limit.
    ReplyError(
        response, 413,
        InvalidArgumentError(fmt::format(
            "the body{} was sent as a form (Content-Type: {}), which this server takes "
            "up to {} bytes only; no endpoint {} {} takes it as JSON{}",
            of, type, kHttplibFormLimit, request.method, request.path, options_.endpoints_hint)));
  } else {
    ReplyError(response, 413,
               InvalidArgumentError(fmt::format(
                   "the body{} is larger than the {} bytes this server takes ({} --max-body-mb "
                   "sets the limit)",
                   of, options_.max_body_bytes, options_.program)));
  }
  // What is left of the body may still be on its way: this connection ends here.
  response.set_header("Connection", "close");
}

void Listener::SetErrorReplies() {
  http_->set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;  // a route's own error reply
    if (response.status == 413) {
      ReplyTooLarge(request, response);
    } else if (response.status == 404) {
      ReplyError(response, 404,
                 NotFoundError(fmt::format("no endpoint {} {}{}", request.method, request.path,
                                           options_.endpoints_hint)));
    } else {
      const int status = response.status;
      ReplyError(response, status,
                 InvalidArgumentError(fmt::format("the request was refused ({})", status)));
    }
  });
  http_->set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: {}", request.method, request.path, what);
        ReplyError(response, 500, InternalError(fmt::format("the server failed: {}", what)));
      });
}

// Replies written outside the Listener's routes (the auth check's 401 and 403, the error
// handler's 404) are small JSON; httplib may still compress those with brotli, at no real
// cost. This leans on httplib choosing the encoding from the request after the handler.
void AcceptNoBrotli(const httplib::Request& request) {
  // The request is the server's own object for this exchange, passed const to handlers
  // only by convention: rewriting one of its headers before the reply is written is safe.
  httplib::Headers& headers = const_cast<httplib::Request&>(request).headers;
  const auto found = headers.find("Accept-Encoding");
  if (found == headers.end()) return;
  std::vector<std::string> kept;
  for (const std::string& part : SplitString(found->second, ',')) {
    const std::string coding(TrimWhitespace(part.substr(0, part.find(';'))));
    if (coding != "br" && !coding.empty()) kept.push_back(std::string(TrimWhitespace(part)));
  }
  found->second = JoinStrings(kept, ", ");
}

void Listener::AddBodyRoute(const std::string& method, const std::string& pattern,
                            httplib::Server::Handler handler) {
  httplib::Server::HandlerWithContentReader whole_body = [this, handler](
                                                             const httplib::Request& request,
                                                             httplib::Response& response,
                                                             const httplib::ContentReader& reader) {
    AcceptNoBrotli(request);
    const std::size_t limit = options_.max_body_bytes;
    if (request.is_multipart_form_data()) {
      // Read and dropped, so that the connection stays in step.
      std::size_t seen = 0;
      const bool read = reader([](const httplib::MultipartFormData&) { return true; },
                               [&](const char*, std::size_t size) {
                                 seen += size;
                                 return seen <= limit;
                               });
      if (!read && (response.status == 413 || seen > limit)) {
        return ReplyTooLarge(request, response);
      }
      return ReplyError(
          response, 415,
          InvalidArgumentError(
              "a multipart/form-data body (curl -F) is not taken: send the request itself "
              "as the body (curl --data-binary @req.json -H 'Content-Type: "
              "application/json')"));
    }
    // A copy whose body is the whole body; its path matches still point into `request`.
    httplib::Request whole = request;
    const std::string length = request.get_header_value("Content-Length");
    std::size_t declared = 0;
    if (std::from_chars(length.data(), length.data() + length.size(), declared).ec == std::errc() &&
        declared <= limit) {
      whole.body.reserve(declared);
    }
    bool too_large = false;
    const bool read = reader([&](const char* data, std::size_t size) {
      if (whole.body.size() + size > limit) {
        too_large = true;
        return false;
      }
      whole.body.append(data, size);
      return true;
    });
    if (!read) {
      if (too_large || response.status == 413) return ReplyTooLarge(request, response);
      response.set_header("Connection", "close");
      return ReplyError(response, 400,
                        InvalidArgumentError("the request body could not be read: it ended "
                                             "before its length, or its encoding is broken"));
    }
    handler(whole, response);
  };
  // The plain handler serves the same route when httplib expects no body (a DELETE
  // without one, in some httplib versions).
  if (method == "POST") {
    http_->Post(pattern, std::move(whole_body));
    http_->Post(pattern, std::move(handler));
  } else if (method == "PUT") {
    http_->Put(pattern, std::move(whole_body));
    http_->Put(pattern, std::move(handler));
  } else if (method == "PATCH") {
    http_->Patch(pattern, std::move(whole_body));
    http_->Patch(pattern, std::move(handler));
  } else {
    http_->Delete(pattern, std::move(whole_body));
    http_->Delete(pattern, std::move(handler));
  }
}

void Listener::Get(const std::string& pattern, httplib::Server::Handler handler) {
  http_->Get(pattern, [handler = std::move(handler)](const httplib::Request& request,
                                                     httplib::Response& response) {
    AcceptNoBrotli(request);
    handler(request, response);
  });
}
void Listener::Post(const std::string& pattern, httplib::Server::Handler handler) {
  AddBodyRoute("POST", pattern, std::move(handler));
}
void Listener::Put(const std::string& pattern, httplib::Server::Handler handler) {
  AddBodyRoute("PUT", pattern, std::move(handler));
}
void Listener::Patch(const std::string& pattern, httplib::Server::Handler handler) {
  AddBodyRoute("PATCH", pattern, std::move(handler));
}
void Listener::Delete(const std::string& pattern, httplib::Server::Handler handler) {
  AddBodyRoute("DELETE", pattern, std::move(handler));
}

Status Listener::Serve() {
  if (stopping_) return Status::Ok();
  if (!http_->listen_after_bind() && !stopping_) {
    return InternalError(fmt::format("the server on port {} stopped serving", port_));
  }
  return Status::Ok();
}

void Listener::Stop() {
  stopping_ = true;
  if (http_) http_->stop();
}

}  // namespace kiln::http
