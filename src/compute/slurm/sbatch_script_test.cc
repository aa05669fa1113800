#include "compute/slurm/sbatch_script.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/subprocess.h"
#include "common/test_dir.h"

namespace kiln::compute {
namespace {

launch::RunPlan TwoByTwo() {
  launch::RunPlan plan;
  plan.run_id = "fm-20261201-101500-a1b2";
  plan.ranks = {2, 2, spec::DistributedBackend::kGloo};
  return plan;
}

std::string ScriptOk(const SlurmConfig& config, const launch::RunPlan& plan,
                     const launch::RunDir& dir, const std::string& program,
                     const std::vector<std::string>& names = {"PATH"}) {
  Result<std::string> script = SbatchScript(config, plan, dir, program, names);
  EXPECT_TRUE(script.ok()) << script.status().ToString();
  return script.ok() ? *script : "";
}

TEST(SbatchScriptTest, AsksForTheRunsNodesAndTasksAndStartsTheLauncher) {
  SlurmConfig config{"debug", 4, "/shared/runs", "", ""};
  const launch::RunDir dir("/shared/runs/fm-20261201-101500-a1b2");
  const std::string script =
      ScriptOk(config, TwoByTwo(), dir, "/opt/kiln/kiln", {"KILN_RUN_TOKEN", "PATH"});
  EXPECT_TRUE(script.starts_with("#!/bin/sh\n"));
  for (const char* line :
       {"#SBATCH --job-name=kiln-fm-20261201-101500-a1b2\n", "#SBATCH --partition=debug\n",
        "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=2\n",
        "#SBATCH --output=/shared/runs/fm-20261201-101500-a1b2/launcher.log\n",
        "#SBATCH --no-requeue\n", "#SBATCH --export=KILN_RUN_TOKEN,PATH\n",
        "export SLURM_EXPORT_ENV=ALL\n",
        "exec /opt/kiln/kiln launch /shared/runs/fm-20261201-101500-a1b2\n"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line << " in\n" << script;
  }
  EXPECT_EQ(script.find("ALL\n#"), std::string::npos) << "never --export=ALL";
  EXPECT_EQ(script.find("SLURM_CONF"), std::string::npos);
  EXPECT_EQ(script.find("--gpus-per-node"), std::string::npos);
}

TEST(SbatchScriptTest, ExportsSlurmConfAndAsksForGpus) {
  SlurmConfig config{"gpu", 4, "/shared/runs", "/etc/slurm/other's.conf", ""};
  launch::RunPlan plan = TwoByTwo();
  plan.use_gpu = true;
  const std::string script = ScriptOk(config, plan, launch::RunDir("/r"), "/k");
  EXPECT_NE(script.find("export SLURM_CONF='/etc/slurm/other'\\''s.conf'\n"), std::string::npos)
      << script;
  EXPECT_NE(script.find("#SBATCH --gpus-per-node=2\n"), std::string::npos);
}

TEST(SbatchScriptTest, ExportsTheAllowListAndTheLaunchersOwnVariablesOnly) {
  const std::vector<std::string> env = {"PATH=/usr/bin",
                                        "HOME=/root",
                                        "LC_ALL=C.UTF-8",
                                        "KILN_STORE=postgresql://u:secret@h/db",
                                        "KILN_TOKEN=kiln_tok_x",
                                        "PGPASSWORD=secret",
                                        "AWS_SECRET_ACCESS_KEY=k",
                                        "KILN_RUN_TOKEN=kiln_run_y",
                                        "KILN_RUN_STORE=http://s:8470",
                                        "SLURM_JOB_ID=9",
                                        "OMPI_MCA_btl=self,tcp",
                                        "KILN_KILL_GRACE_SECONDS=3",
                                        "BAD-NAME=x"};
  EXPECT_EQ(SbatchExportNames(env),
            (std::vector<std::string>{"HOME", "KILN_KILL_GRACE_SECONDS", "KILN_RUN_STORE",
                                      "KILN_RUN_TOKEN", "LC_ALL", "OMPI_MCA_btl", "PATH"}));
}

// Hostile values stay one quoted word: sbatch (for #SBATCH lines) and sh (for the rest)
// both read them back exactly, and run nothing.
TEST(SbatchScriptTest, HostileValuesAreQuoted) {
  EXPECT_EQ(SbatchQuote("debug"), "debug");
  EXPECT_EQ(SbatchQuote("a b"), "\"a b\"");
  EXPECT_EQ(SbatchQuote("$(touch x)"), "\"\\$(touch x)\"");
  EXPECT_EQ(SbatchQuote("`id`"), "\"\\`id\\`\"");
  EXPECT_EQ(SbatchQuote("say \"hi\" it's"), "\"say \\\"hi\\\" it's\"");
  EXPECT_EQ(SbatchQuote("back\\slash #x"), "\"back\\\\slash #x\"");
  EXPECT_EQ(SbatchQuote(""), "\"\"");

  TestDir dir;
  const std::string hostile = "p $(touch " + (dir.path() / "pwned").string() + ") `id` \"q\" 'r'";
  SlurmConfig config{hostile, 4, "/shared/runs", hostile + ".conf", ""};
  const launch::RunDir run_dir(dir.path() / ("run " + hostile));
  const std::string script = ScriptOk(config, TwoByTwo(), run_dir, "/k k/kiln");
  EXPECT_NE(script.find("#SBATCH --partition=" + SbatchQuote(hostile) + "\n"), std::string::npos)
      << script;
  EXPECT_NE(script.find("#SBATCH --output=" + SbatchQuote(run_dir.launcher_log().string()) + "\n"),
            std::string::npos)
      << script;

  // The shell part: run it with `exec` replaced by echo, and read back each word.
  std::string shell = script;
  const std::size_t exec = shell.find("exec ");
  ASSERT_NE(exec, std::string::npos);
  shell.replace(exec, 5, "printf '%s\\n' \"$SLURM_CONF\" ");
  const std::filesystem::path file = dir.path() / "script.sh";
  ASSERT_TRUE(WriteFileAtomically(file, shell).ok());
  SpawnOptions options;
  options.argv = {"/bin/sh", file.string()};
  const Result<CapturedRun> run = RunAndCapture(options, std::chrono::seconds(10));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->out, hostile + ".conf\n/k k/kiln\nlaunch\n" + run_dir.root().string() + "\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "pwned"));

  // The #SBATCH part, read as sbatch does (quotes group, backslash escapes): each value
  // comes back whole.
  const auto unquote = [](std::string_view word) {
    std::string out;
    char quote = 0;
    for (std::size_t i = 0; i < word.size(); ++i) {
      const char c = word[i];
      if (c == '\\' && i + 1 < word.size()) {
        out += word[++i];
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else {
        out += c;
      }
    }
    return out;
  };
  EXPECT_EQ(unquote(SbatchQuote(hostile)), hostile);
  EXPECT_EQ(unquote(SbatchQuote("back\\slash")), "back\\slash");
}

TEST(SbatchScriptTest, ALineBreakOrNulIsRefusedNeverWritten) {
  const launch::RunDir dir("/shared/runs/r");
  for (const std::string& bad : {std::string("debug\n#SBATCH --uid=0"), std::string("debug\rx"),
                                 std::string("deb\0ug", 6)}) {
    SlurmConfig config{bad, 4, "/shared/runs", "", ""};
    const Result<std::string> script = SbatchScript(config, TwoByTwo(), dir, "/k", {"PATH"});
    ASSERT_FALSE(script.ok());
    EXPECT_EQ(script.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(script.status().message().find("the partition"), std::string::npos)
        << script.status().message();
    EXPECT_NE(script.status().message().find("line break or a NUL"), std::string::npos);
  }
  SlurmConfig config{"debug", 4, "/shared/runs", "/etc/slurm.conf\nrm -rf /", ""};
  EXPECT_EQ(SbatchScript(config, TwoByTwo(), dir, "/k", {"PATH"}).status().code(),
            StatusCode::kInvalidArgument);
  SlurmConfig plain{"debug", 4, "/shared/runs", "", ""};
  EXPECT_EQ(
      SbatchScript(plain, TwoByTwo(), launch::RunDir("/runs/a\nb"), "/k", {"PATH"}).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(SbatchScript(plain, TwoByTwo(), dir, "/k", {"PATH=/evil"}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::compute
