#include "server/request_contexts.h"

namespace kiln::server {

void RequestContexts::Begin(const httplib::Request& request) {
  std::lock_guard lock(mu_);
  contexts_[&request] = Context{std::chrono::steady_clock::now(), std::nullopt};
}

void RequestContexts::SetCaller(const httplib::Request& request, Caller caller) {
  std::lock_guard lock(mu_);
  contexts_[&request].caller = std::move(caller);
}

std::optional<Caller> RequestContexts::CallerOf(const httplib::Request& request) const {
  std::lock_guard lock(mu_);
  const auto found = contexts_.find(&request);
  if (found == contexts_.end()) return std::nullopt;
  return found->second.caller;
}

std::optional<RequestContexts::Context> RequestContexts::End(const httplib::Request& request) {
  std::lock_guard lock(mu_);
  const auto found = contexts_.find(&request);
  if (found == contexts_.end()) return std::nullopt;
  Context context = std::move(found->second);
  contexts_.erase(found);
  return context;
}

}  // namespace kiln::server
