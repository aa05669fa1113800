#pragma once

// PostgresTestServer: a real PostgreSQL server for tests, started in a scratch directory
// and stopped (with everything it wrote) when the object goes. It listens on 127.0.0.1 at
// a free port and on a Unix socket inside its directory, trusts local connections as the
// superuser `kiln`, and runs with fsync off (test data need not survive a power loss).
// PostgreSQL refuses to run as root, so when the tests are root the server runs as the
// `postgres` user that Debian's package creates.
//
// pg_ctl runs the server as a daemon, which would outlive a test that crashes; so a
// watchdog process holds a pipe from this one and, when the pipe closes however this
// process ended, stops the server and removes its directory.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/test_dir.h"
#include "common/unique_fd.h"

namespace kiln::store::postgres {

class PostgresTestServer {
 public:
  // Runs initdb and starts the server; the error says what failed and prints its log.
  static Result<std::unique_ptr<PostgresTestServer>> Start();
  ~PostgresTestServer();

  // Creates a new, empty database and returns its URL.
  Result<std::string> CreateDatabase();
  int port() const { return port_; }
  // Stops the server (every connection drops; with synchronous_commit off only a clean
  // stop keeps the last commits) and starts it again on the same port.
  Status Restart();

 private:
  PostgresTestServer() = default;
  Result<std::string> RunTool(const std::string& tool, std::vector<std::string> args) const;

  Status StartWatchdog();
  // pg_ctl start or restart with the test's settings.
  Status Run(const std::string& action);

  TestDir scratch_;
  UniqueFd watchdog_;  // the write end of the watchdog's pipe
  std::filesystem::path bin_;
  std::filesystem::path data_;
  int port_ = 0;
  int databases_ = 0;
  bool started_ = false;
};

}  // namespace kiln::store::postgres
