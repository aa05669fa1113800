#pragma once

// ApiServer: `kiln server`, the control plane over HTTP (docs/server.md, docs/openapi.yaml).
//
// It owns a store (SQLite or PostgreSQL) and a home folder (snapshots, run directories) and
// serves the REST API under /v1: submit (snapshot upload deduplicated by content hash),
// runs, status history, cancel, logs (raw, JSON, or followed as Server-Sent Events),
// metrics (ingest from launchers, queries with downsampling), artifacts, datastores,
// experiments and compute targets. Every request but GET /v1/health needs an API token
// (auth.h); a run token reaches only its own run.
//
// Launchers of runs submitted here report to the server over the same API with their run
// tokens; they are detached processes, so the server can stop and start again while runs
// go on, and the launchers' reports wait for it (launch/launcher.h).
//
// Stop() is graceful: no new connections, live streams end, requests in flight finish.

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace kiln::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                        // 0: any free port (see port())
  std::string store_url;               // KILN_STORE's value when empty
  std::filesystem::path home;          // KILN_HOME's value when empty
  std::filesystem::path kiln_program;  // runs `kiln launch`; this executable when empty
  std::filesystem::path tls_cert;      // both or neither: https with this certificate and key
  std::filesystem::path tls_key;
  // The URL launchers report to, as they reach this server (on a cluster: a name the
  // compute nodes resolve). url() when empty.
  std::string advertise_url;
  int threads = 128;                        // requests served at once (streams hold one each)
  std::size_t max_body_bytes = 512u << 20;  // larger request bodies get 413
};

class ApiServer {
 public:
  // Opens the store and binds the port. InvalidArgument for unusable options (a certificate
  // that does not load), Unavailable for a port that is taken.
  static Result<std::unique_ptr<ApiServer>> Create(const ServerOptions& options);
  ~ApiServer();

  int port() const;
  // "http://127.0.0.1:PORT" (https with TLS), as clients on this machine reach it.
  const std::string& url() const;

  // Serves until Stop(); returns once every request in flight has finished.
  Status Serve();
  // Safe from any thread, also before Serve().
  void Stop();

 private:
  class Impl;
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::server
