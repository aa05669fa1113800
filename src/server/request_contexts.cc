#include "server/request_contexts.h"

namespace kiln::server {

namespace {

// The peer's address and port. A connection carries one request at a time, so this names
// the request in flight on it, also in the copy of the request that a route with a body is
// handed (http/listener.h reads the body into a copy).
std::string KeyOf(const httplib::Request& request) {
  return request.remote_addr + " " + std::to_string(request.remote_port);
}

}  // namespace

void RequestContexts::Begin(const httplib::Request& request) {
  std::lock_guard lock(mu_);
  contexts_[KeyOf(request)] = Context{std::chrono::steady_clock::now(), std::nullopt};
}

void RequestContexts::SetCaller(const httplib::Request& request, Caller caller) {
  std::lock_guard lock(mu_);
  contexts_[KeyOf(request)].caller = std::move(caller);
}

std::optional<Caller> RequestContexts::CallerOf(const httplib::Request& request) const {
  std::lock_guard lock(mu_);
  const auto found = contexts_.find(KeyOf(request));
  if (found == contexts_.end()) return std::nullopt;
  return found->second.caller;
}

std::optional<RequestContexts::Context> RequestContexts::End(const httplib::Request& request) {
  std::lock_guard lock(mu_);
  const auto found = contexts_.find(KeyOf(request));
  if (found == contexts_.end()) return std::nullopt;
  Context context = std::move(found->second);
  contexts_.erase(found);
  return context;
}

}  // namespace kiln::server
