#pragma once

// ServerTest: a real `kiln server` for each test, in a home of its own (its store, its
// snapshots, its run directories), and the test's KilnTest home as a client's. The server
// is stopped with SIGTERM when the test ends (and dies with the test process if it
// crashes).

#include <httplib.h>

#include <optional>

#include "common/subprocess.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {

class ServerTest : public KilnTest {
 protected:
  ~ServerTest() override;

  // Starts `kiln server --home <server home> --listen 127.0.0.1:PORT --store <store_url()>
  // args...` (args may give their own --listen or --store); PORT is a free one the first
  // time and the same one afterwards (a restart). Returns the URL.
  std::string StartServer(const std::vector<std::string>& args = {});
  // SIGTERM, then waits for a clean exit (the test fails otherwise).
  void StopServer();
  // SIGKILL, as a crash would: no clean-up of any kind.
  void KillServer();

  // `kiln server token create --role ROLE` on the server's store; returns the secret.
  std::string CreateToken(const std::string& name, const std::string& role = "admin");
  // kiln with KILN_SERVER and KILN_TOKEN set (token() unless `token` is given).
  CapturedRun Client(const std::vector<std::string>& args,
                     std::optional<std::string> token = std::nullopt,
                     std::map<std::string, std::string> env = {});
  std::string ClientSubmitOk(const std::vector<std::string>& args);
  // Polls the run over the API (60 s at most) until it has `status`; whether it did.
  bool WaitForServerStatus(const std::string& run, const std::string& status);

  // A raw client of the API, with `token` as its bearer token when not empty.
  httplib::Client Http(const std::string& token) const;
  httplib::Client Http() { return Http(token()); }

  std::filesystem::path server_home() const { return root() / "server-home"; }
  std::string store_url() const { return "sqlite://" + (server_home() / "kiln.db").string(); }
  const std::string& url() const { return url_; }
  // An admin token made once per test.
  const std::string& token();
  const std::string& token() const { return token_; }
  // The run token of a run whose launcher is alive, read from the launcher's environment
  // (KILN_RUN_TOKEN; it is never written into plan.json). Fails the test otherwise.
  std::string RunToken(const std::string& run) const;
  // The server's stderr so far.
  std::string ServerLog() const;

 private:
  std::optional<Subprocess> server_;
  std::string url_;
  int port_ = 0;
  std::string token_;
  int starts_ = 0;
};

// The JSON of a response body (null when it is not JSON).
nlohmann::json BodyOf(const httplib::Result& result);

}  // namespace kiln::e2e
