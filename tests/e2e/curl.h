#pragma once

// The real curl binary, for tests of what a user types: curl with its own defaults
// (`curl -d @req.json` sends Content-Type application/x-www-form-urlencoded).

#include <filesystem>
#include <string>
#include <vector>

namespace kiln::e2e {

struct CurlReply {
  int exit_code = -1;  // curl's (0: a reply came; 60: the certificate was not trusted)
  int status = 0;      // the HTTP status; 0 when no reply came
  std::string body;
  std::string headers;  // the reply's header lines as sent
  std::string error;    // curl's stderr
};

// Runs `curl -sS args...` (at most 120 s), keeping the reply's body and headers in files
// under `scratch`.
CurlReply Curl(const std::filesystem::path& scratch, const std::vector<std::string>& args);

// The "message" of a {"error": {...}} body; the whole body when it is not one.
std::string ErrorMessage(const CurlReply& reply);

}  // namespace kiln::e2e
