#include "e2e/served_model.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace kiln::e2e {

ServedModel::ServedModel(const std::filesystem::path& home, const std::string& model,
                         const std::vector<std::string>& args,
                         const std::vector<std::string>& env) {
  auto pipe = MakePipe();
  EXPECT_TRUE(pipe.ok());
  if (!pipe.ok()) return;
  SpawnOptions options;
  options.argv = {KILN_BINARY, "serve", model, "--port", "0"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  std::vector<std::string> environment = CurrentEnvironment();
  environment.push_back("KILN_HOME=" + home.string());
  environment.insert(environment.end(), env.begin(), env.end());
  options.env = environment;
  options.stdout_fd = pipe->second.get();
  options.kill_with_parent = true;
  Result<Subprocess> started = RealSpawner().Spawn(options);
  EXPECT_TRUE(started.ok()) << started.status().message();
  if (!started.ok()) return;
  process_.emplace(std::move(started).value());
  pipe->second.reset();
  // "kiln serve: NAME:VERSION listening on URL"
  // A scoring script's workers run init() first, after building an environment if need be.
  const Result<std::string> line = ReadFirstLine(pipe->first.get(), std::chrono::seconds(120));
  EXPECT_TRUE(line.ok() && line->find("listening on ") != std::string::npos)
      << (line.ok() ? *line : line.status().message());
  if (line.ok()) url_ = line->substr(line->rfind(' ') + 1);
}

void ServedModel::Stop() {
  if (!process_) return;
  ::kill(process_->pid(), SIGTERM);
  const Result<ExitStatus> exit = process_->WaitFor(std::chrono::seconds(30));
  EXPECT_TRUE(exit.ok() && exit->success()) << (exit.ok() ? exit->Describe() : "no exit");
  if (!exit.ok()) ::kill(process_->pid(), SIGKILL);
  process_.reset();
}

}  // namespace kiln::e2e
