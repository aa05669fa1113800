#pragma once

// RequestContexts: what the server knows of each request in flight, namely who sent it and
// when it arrived. Authorization sets it before any route runs; routes read the caller
// (a submit records the token's name); the access log takes it when the reply is written.
//
// A connection carries one request at a time, so the peer's address and port key the
// context of the request in flight on it (the object's address would not: a route with a
// body is handed a copy of the request). A context whose reply is never logged (a
// connection that broke mid-write) is replaced by the connection's next request, or stays
// until the port is used again, so the table stays about as small as the number of open
// connections. Thread-safe.

#include <httplib.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/auth.h"

namespace kiln::server {

class RequestContexts {
 public:
  struct Context {
    std::chrono::steady_clock::time_point arrived;
    std::optional<Caller> caller;  // set once the token is checked
  };

  // Starts the request's context (replacing any left at its address).
  void Begin(const httplib::Request& request);
  void SetCaller(const httplib::Request& request, Caller caller);
  // The caller of a request whose token was checked; nullopt otherwise.
  std::optional<Caller> CallerOf(const httplib::Request& request) const;
  // Removes the request's context and returns it; nullopt for one never begun (a request
  // httplib refused before routing).
  std::optional<Context> End(const httplib::Request& request);

 private:
  mutable std::mutex mu_;
  // Guarded by mu_.
  std::unordered_map<std::string, Context> contexts_;
};

}  // namespace kiln::server
