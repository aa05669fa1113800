#include "serve/serve_listener.h"

#include "common/sha256.h"
#include "common/strings.h"

namespace kiln::serve {

Status CheckBearer(std::string_view authorization, std::string_view token_sha256) {
  if (authorization.empty()) {
    return UnauthenticatedError(
        "this server needs the header Authorization: Bearer <token> (the token in the file "
        "given to kiln serve --token-file)");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    return UnauthenticatedError("the Authorization header must read 'Bearer <token>'");
  }
  if (Sha256::HexOf(TrimWhitespace(authorization.substr(kBearer.size()))) != token_sha256) {
    return UnauthenticatedError("the bearer token is not this server's");
  }
  return Status::Ok();
}

void RequireBearerToken(http::Listener& listener, const std::string& token) {
  if (token.empty()) return;
  listener.server().set_pre_routing_handler(
      [token_sha256 = Sha256::HexOf(token)](const httplib::Request& request,
                                            httplib::Response& response) {
        if (request.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
        const Status allowed = CheckBearer(request.get_header_value("Authorization"), token_sha256);
        if (allowed.ok()) return httplib::Server::HandlerResponse::Unhandled;
        http::ReplyError(response, 401, allowed);
        response.set_header("WWW-Authenticate", "Bearer realm=\"kiln serve\"");
        // The body, if any, is not read: this connection ends with the reply.
        response.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      });
}

Result<std::unique_ptr<http::Listener>> OpenServeListener(const ScoringServerOptions& options) {
  http::ListenerOptions listen;
  listen.host = options.host;
  listen.port = options.port;
  listen.threads = options.http_threads;
  listen.max_body_bytes = options.max_body_bytes;
  listen.tls_cert = options.tls_cert;
  listen.tls_key = options.tls_key;
  listen.keep_alive_max_count = 100000;
  listen.program = "kiln serve";
  listen.endpoints_hint = ": POST /score, GET /health, GET /metadata";
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<http::Listener> listener, http::Listener::Open(listen));
  RequireBearerToken(*listener, options.token);
  return listener;
}

}  // namespace kiln::serve
