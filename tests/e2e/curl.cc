#include "e2e/curl.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/subprocess.h"

namespace kiln::e2e {

CurlReply Curl(const std::filesystem::path& scratch, const std::vector<std::string>& args) {
  static std::atomic<int> calls{0};
  const int call = calls++;
  const std::filesystem::path body = scratch / ("curl-body-" + std::to_string(call));
  const std::filesystem::path headers = scratch / ("curl-headers-" + std::to_string(call));
  SpawnOptions options;
  options.argv = {"curl",        "-sS", "--max-time",     "100", "-o",
                  body.string(), "-D",  headers.string(), "-w",  "%{http_code}"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  // curl is not Kiln's: the sanitizer runtime the ASan tests preload into Kiln's processes
  // is kept out of it (with it, curl hung).
  std::vector<std::string> env;
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("LD_PRELOAD=")) env.push_back(entry);
  }
  options.env = env;
  const Result<CapturedRun> ran = RunAndCapture(options, std::chrono::seconds(120));
  CurlReply reply;
  EXPECT_TRUE(ran.ok()) << (ran.ok() ? "" : ran.status().message());
  if (!ran.ok()) return reply;
  reply.exit_code = ran->exit.code;
  reply.error = ran->err;
  reply.status = std::atoi(ran->out.c_str());
  const Result<std::string> body_text = ReadFileToString(body);
  const Result<std::string> header_text = ReadFileToString(headers);
  reply.body = body_text.ok() ? *body_text : "";
  reply.headers = header_text.ok() ? *header_text : "";
  return reply;
}

std::string ErrorMessage(const CurlReply& reply) {
  const nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].contains("message")) {
    return body["error"]["message"].get<std::string>();
  }
  return reply.body;
}

}  // namespace kiln::e2e
