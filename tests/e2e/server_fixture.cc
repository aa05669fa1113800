#include "e2e/server_fixture.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::e2e {
namespace fs = std::filesystem;

ServerTest::~ServerTest() {
  if (server_) StopServer();
}

std::string ServerTest::StartServer(const std::vector<std::string>& args) {
  EXPECT_FALSE(server_.has_value()) << "the server runs already";
  auto pipe = MakePipe();
  EXPECT_TRUE(pipe.ok());
  const fs::path log = root() / fmt::format("server-{}.log", starts_++);
  UniqueFd err(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  SpawnOptions options;
  options.argv = {KILN_BINARY, "server", "--home", server_home().string()};
  const auto given = [&](const char* flag) {
    return std::find(args.begin(), args.end(), flag) != args.end();
  };
  if (!given("--listen")) {
    options.argv.insert(options.argv.end(), {"--listen", fmt::format("127.0.0.1:{}", port_)});
  }
  if (!given("--store")) options.argv.insert(options.argv.end(), {"--store", store_url()});
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  std::vector<std::string> environment;
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("KILN_")) environment.push_back(entry);
  }
  environment.push_back("KILN_KILL_GRACE_SECONDS=2");
  options.env = environment;
  options.stdout_fd = pipe->second.get();
  options.stderr_fd = err.get();
  options.kill_with_parent = true;
  Result<Subprocess> started = RealSpawner().Spawn(options);
  EXPECT_TRUE(started.ok()) << started.status().ToString();
  if (!started.ok()) return "";
  server_.emplace(std::move(started).value());
  pipe->second.reset();

  // "kiln server listening on URL"
  const Result<std::string> line = ReadFirstLine(pipe->first.get(), std::chrono::seconds(30));
  EXPECT_TRUE(line.ok() && line->find("listening on ") != std::string::npos)
      << line.status().ToString() << ServerLog();
  if (!line.ok()) return "";
  url_ = line->substr(line->rfind(' ') + 1);
  port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  return url_;
}

void ServerTest::StopServer() {
  if (!server_) return;
  ::kill(server_->pid(), SIGTERM);
  const Result<ExitStatus> exit = server_->WaitFor(std::chrono::seconds(30));
  EXPECT_TRUE(exit.ok() && exit->code == 0 && !exit->signaled)
      << (exit.ok() ? exit->Describe() : exit.status().ToString()) << "\n"
      << ServerLog();
  if (!exit.ok()) ::kill(server_->pid(), SIGKILL);
  server_.reset();
}

void ServerTest::KillServer() {
  if (!server_) return;
  ::kill(server_->pid(), SIGKILL);
  const Result<ExitStatus> exit = server_->WaitFor(std::chrono::seconds(30));
  EXPECT_TRUE(exit.ok() && exit->signaled && exit->signal == SIGKILL)
      << (exit.ok() ? exit->Describe() : exit.status().ToString());
  server_.reset();
}

std::string ServerTest::RunToken(const std::string& run) const {
  // The launcher records its pid once it owns the run.
  std::optional<std::int64_t> pid;
  for (int i = 0; i < 600 && !pid; ++i) {
    const Result<std::string> lock =
        ReadFileToString(server_home() / "runs" / run / "launcher.lock");
    if (lock.ok()) pid = ParseInt64(TrimWhitespace(*lock));
    if (!pid) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(pid.has_value()) << "run " << run << "'s launcher never recorded its pid";
  if (!pid) return "";
  const Result<std::string> environ = ReadFileToString(fmt::format("/proc/{}/environ", *pid));
  EXPECT_TRUE(environ.ok()) << environ.status().ToString();
  for (const std::string& entry : SplitString(environ.ok() ? *environ : "", '\0')) {
    if (entry.starts_with("KILN_RUN_TOKEN=")) return entry.substr(entry.find('=') + 1);
  }
  ADD_FAILURE() << "no KILN_RUN_TOKEN in the launcher's environment";
  return "";
}

std::string ServerTest::CreateToken(const std::string& name, const std::string& role) {
  const CapturedRun created =
      Kiln({"server", "token", "create", "--name", name, "--role", role, "--store", store_url()});
  EXPECT_EQ(created.exit.code, 0) << created.err;
  return FirstLine(created.out);
}

const std::string& ServerTest::token() {
  if (token_.empty()) token_ = CreateToken("test");
  return token_;
}

CapturedRun ServerTest::Client(const std::vector<std::string>& args,
                               std::optional<std::string> token,
                               std::map<std::string, std::string> env) {
  env["KILN_SERVER"] = url_;
  env["KILN_TOKEN"] = token ? *token : this->token();
  return Kiln(args, env);
}

std::string ServerTest::ClientSubmitOk(const std::vector<std::string>& args) {
  std::vector<std::string> submit = {"submit"};
  submit.insert(submit.end(), args.begin(), args.end());
  const CapturedRun run = Client(submit);
  EXPECT_EQ(run.exit.code, 0) << run.err << ServerLog();
  return FirstLine(run.out);
}

bool ServerTest::WaitForServerStatus(const std::string& run, const std::string& status) {
  for (int i = 0; i < 600; ++i) {
    if (BodyOf(Http().Get("/v1/runs/" + run))["status"] == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

httplib::Client ServerTest::Http(const std::string& token) const {
  httplib::Client client(url_);
  if (!token.empty()) client.set_bearer_token_auth(token);
  client.set_read_timeout(std::chrono::seconds(60));
  return client;
}

std::string ServerTest::ServerLog() const {
  std::string all;
  for (int i = 0; i < starts_; ++i) {
    const Result<std::string> log = ReadFileToString(root() / fmt::format("server-{}.log", i));
    if (log.ok()) all += *log;
  }
  return all;
}

nlohmann::json BodyOf(const httplib::Result& result) {
  if (!result) return nullptr;
  const nlohmann::json parsed = nlohmann::json::parse(result->body, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

}  // namespace kiln::e2e
