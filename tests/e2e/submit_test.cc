// kiln submit end to end: lifecycle, failure reasons, validation that leaves nothing behind,
// flags, and entries that are not Python.

#include <fmt/format.h>
#include <unistd.h>

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

class SubmitTest : public KilnTest {};

constexpr const char* kHello = R"(import os, sys
print("hello", sys.argv[1:])
print("warning", file=sys.stderr)
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write(os.environ["KILN_RUN_ID"])
)";

TEST_F(SubmitTest, StreamFollowsTheRunAndExitsWithItsResult) {
  const fs::path project = Project("proj", {{"train.py", kHello},
                                            {"job.yaml",
                                             "entry_script: train.py\n"
                                             "experiment: hello\n"
                                             "script_params: {--epochs: 2, --verbose: }\n"}});
  const CapturedRun run = Kiln({"submit", (project / "job.yaml").string(), "--stream"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  const std::string id = FirstLine(run.out);
  EXPECT_TRUE(id.starts_with("hello_")) << id;
  EXPECT_NE(run.out.find("hello ['--epochs', '2', '--verbose']"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("warning"), std::string::npos);
  EXPECT_NE(run.err.find("Completed"), std::string::npos) << run.err;

  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["status"], "Completed");
  EXPECT_EQ(shown["exit_code"], 0);
  EXPECT_EQ(shown["experiment"], "hello");
  std::vector<std::string> history;
  for (const auto& change : shown["history"]) history.push_back(change["status"]);
  EXPECT_EQ(history, (std::vector<std::string>{"Queued", "Preparing", "Running", "Finalizing",
                                               "Completed"}));
  EXPECT_EQ(*ReadFileToString(RunDir(id) / "outputs/result.txt"), id);

  const nlohmann::json runs = KilnJson({"runs", "--json"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["id"], id);
  const CapturedRun table = Kiln({"runs"});
  EXPECT_NE(table.out.find(id), std::string::npos);
  EXPECT_NE(table.out.find("Completed"), std::string::npos);
  const nlohmann::json experiments = KilnJson({"experiments", "--json"});
  ASSERT_EQ(experiments.size(), 1u);
  EXPECT_EQ(experiments[0]["run_count"], 1);
}

TEST_F(SubmitTest, FailedRunKeepsReasonExitCodeAndTail) {
  const fs::path project = Project(
      "proj", {{"train.py", "for i in range(30): print('line', i)\nraise SystemExit(7)\n"}});
  const CapturedRun run = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  EXPECT_EQ(run.exit.code, 1) << run.err;
  EXPECT_NE(run.err.find("rank 0 exited with code 7"), std::string::npos) << run.err;
  const nlohmann::json shown = KilnJson({"show", FirstLine(run.out), "--json"});
  EXPECT_EQ(shown["status"], "Failed");
  EXPECT_EQ(shown["exit_code"], 7);
  EXPECT_EQ(shown["failure_reason"], "rank 0 exited with code 7");
  ASSERT_EQ(shown["failure_log_tail"].size(), 20u);
  EXPECT_EQ(shown["failure_log_tail"].back(), "line 29");
}

TEST_F(SubmitTest, PythonTracebackIsInTheTail) {
  const fs::path project =
      Project("proj", {{"train.py", "def f():\n  raise ValueError('bad lr')\nf()\n"}});
  const CapturedRun run = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  EXPECT_EQ(run.exit.code, 1);
  const nlohmann::json shown = KilnJson({"show", FirstLine(run.out), "--json"});
  EXPECT_EQ(shown["failure_log_tail"].back(), "ValueError: bad lr");
}

TEST_F(SubmitTest, InvalidSpecIsRefusedAndLeavesNothing) {
  const fs::path project =
      Project("proj", {{"train.py", "print(1)\n"},
                       {"job.yaml", "source_directory: .\nentry_script: train.py\nnode_count: 0\n"},
                       {"typo.yaml", "entry_script: train.py\nnode_cout: 2\n"},
                       {"multi.yaml", "entry_script: train.py\nnode_count: 2\n"},
                       {"missing.yaml", "source_directory: ./proj\nentry_script: train.py\n"}});
  const CapturedRun zero = Kiln({"submit", "job.yaml"}, {}, project);
  EXPECT_EQ(zero.exit.code, 2);
  EXPECT_EQ(zero.err, "error: job.yaml: node_count: must be >= 1, got 0\n");
  EXPECT_EQ(zero.out, "");

  const CapturedRun typo = Kiln({"submit", "typo.yaml"}, {}, project);
  EXPECT_EQ(typo.exit.code, 2);
  EXPECT_EQ(typo.err, "error: typo.yaml: unknown field 'node_cout'; did you mean 'node_count'?\n");

  const CapturedRun multi = Kiln({"submit", "multi.yaml"}, {}, project);
  EXPECT_EQ(multi.exit.code, 2);
  EXPECT_EQ(multi.err,
            "error: multi.yaml: node_count is 2 but distributed_backend is none; set mpi, gloo or "
            "nccl\n");

  const CapturedRun missing = Kiln({"submit", "missing.yaml"}, {}, project);
  EXPECT_EQ(missing.exit.code, 2);
  EXPECT_EQ(missing.err, "error: missing.yaml: source_directory: './proj' does not exist\n");

  const CapturedRun flag =
      Kiln({"submit", "job.yaml", "--node-count", "1", "--experiment", "a b"}, {}, project);
  EXPECT_EQ(flag.exit.code, 2);
  EXPECT_NE(flag.err.find("--experiment: must be 1 to 64 letters"), std::string::npos) << flag.err;

  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
}

TEST_F(SubmitTest, InputThatIsNotUtf8IsRefusedAndLeavesNothing) {
  const fs::path project =
      Project("proj", {{"train.py", "print(1)\n"},
                       {"job.yaml", "entry_script: train.py\ndisplay_name: caf\xe9\n"}});
  const CapturedRun file = Kiln({"submit", "job.yaml"}, {}, project);
  EXPECT_EQ(file.exit.code, 2);
  EXPECT_EQ(file.err,
            "error: job.yaml: display_name: byte offset 40 (line 2) is not valid UTF-8 (0xe9); "
            "save the file as UTF-8\n");

  const std::vector<std::string> base = {"submit", "--source-directory", project.string(),
                                         "--entry-script", "train.py"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Kiln(args);
  };
  const CapturedRun passthrough = with({"--", "--city", "K\xf6ln"});
  EXPECT_EQ(passthrough.exit.code, 2);
  EXPECT_EQ(passthrough.err,
            "error: --script-param --city: the value's byte offset 1 is not valid UTF-8 (0xf6)\n");
  const CapturedRun flags =
      with({"--tag", "owner=caf\xe9", "--env", "MODE=\xff", "--display-name", "\xe9"});
  EXPECT_EQ(flags.exit.code, 2);
  EXPECT_EQ(flags.err,
            "error: --display-name: byte offset 0 is not valid UTF-8 (0xe9)\n"
            "--tag: owner: the value's byte offset 3 is not valid UTF-8 (0xe9)\n"
            "--env: MODE: the value's byte offset 0 is not valid UTF-8 (0xff)\n");
  const CapturedRun newline = with({"--experiment", "a\nb"});
  EXPECT_EQ(newline.exit.code, 2);
  EXPECT_EQ(newline.err,
            "error: --experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit; got 'a\\nb'\n");

  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
}

TEST_F(SubmitTest, ArgumentsPastTheKernelsLimitsAreRefusedAtSubmit) {
  std::string many = "entry_script: train.py\nscript_params:\n";
  for (int i = 0; i < 40; ++i) many += fmt::format("  --p{}: {}\n", i, std::string(120 << 10, 'x'));
  const fs::path project =
      Project("proj", {{"train.py", "print(1)\n"},
                       {"one.yaml", "entry_script: train.py\nscript_params:\n  --blob: " +
                                        std::string(200 << 10, 'x') + "\n"},
                       {"many.yaml", many}});
  const CapturedRun one = Kiln({"submit", "one.yaml"}, {}, project);
  EXPECT_EQ(one.exit.code, 2);
  EXPECT_EQ(one.err,
            "error: one.yaml: script_params: --blob: the value is 204800 bytes; one argument may "
            "hold at most 131071 (the kernel's MAX_ARG_STRLEN); pass long values in a file\n");
  const CapturedRun all = Kiln({"submit", "many.yaml"}, {}, project);
  EXPECT_EQ(all.exit.code, 2);
  EXPECT_TRUE(
      all.err.starts_with("error: many.yaml: script_params: the ranks' command line and "
                          "environment_variables take "))
      << all.err;
  EXPECT_NE(all.err.find("(ARG_MAX less its environment)"), std::string::npos) << all.err;
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
}

TEST_F(SubmitTest, ShowShortensLongValues) {
  const fs::path project = Project("proj", {{"train.py", "print(1)\n"}});
  const std::string note(5000, 'n');
  const std::string id = SubmitOk({"--source-directory", project.string(), "--entry-script",
                                   "train.py", "--script-param", "--note=" + note});
  const CapturedRun shown = Kiln({"show", id});
  ASSERT_EQ(shown.exit.code, 0) << shown.err;
  EXPECT_EQ(shown.out.find(note), std::string::npos);
  EXPECT_NE(shown.out.find(std::string(200, 'n') + "... (5,000 bytes in all)"), std::string::npos)
      << shown.out;
  EXPECT_EQ(KilnJson({"show", id, "--json"})["params"][0]["value"], note);
}

TEST_F(SubmitTest, FieldsTheMachineCannotHonourAreRefused) {
  const fs::path project = Project("proj", {{"train.py", "print(1)\n"}});
  const std::vector<std::string> base = {"submit", "--source-directory", project.string(),
                                         "--entry-script", "train.py"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Kiln(args);
  };
  const CapturedRun environment = with({"--environment", "no-such-env"});
  EXPECT_EQ(environment.exit.code, 3);
  EXPECT_NE(environment.err.find("--environment: no environment named 'no-such-env'"),
            std::string::npos)
      << environment.err;
  const CapturedRun target = with({"--compute-target", "gpu-cluster"});
  EXPECT_EQ(target.exit.code, 2);
  EXPECT_EQ(target.err,
            "error: --compute-target: unknown compute target 'gpu-cluster'; the targets are: "
            "local (kiln compute add registers more)\n");
  const CapturedRun python = with({"--python", "/usr/bin/no-such-python"});
  EXPECT_EQ(python.exit.code, 2);
  EXPECT_EQ(python.err, "error: --python: '/usr/bin/no-such-python' is not an executable file\n");
  const CapturedRun interpreter = Kiln(base, {{"KILN_PYTHON", "/nope/python"}});
  EXPECT_EQ(interpreter.exit.code, 2);
  EXPECT_NE(interpreter.err.find("KILN_PYTHON: '/nope/python' is not an executable file"),
            std::string::npos);
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
}

TEST_F(SubmitTest, FlagsAndPassthroughArgumentsBecomeScriptParams) {
  const fs::path project = Project(
      "proj", {{"train.py", "import sys\nprint(sys.argv[1:])\n"},
               {"job.yaml", "entry_script: train.py\nscript_params: {--epochs: 5, --lr: 0.1}\n"}});
  const CapturedRun run =
      Kiln({"submit", (project / "job.yaml").string(), "--stream", "--script-param", "--lr=0.5",
            "--tag", "owner=ana", "--", "--epochs", "1", "--verbose", "--seed=3", "data.csv"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  EXPECT_NE(
      run.out.find("['--epochs', '1', '--lr', '0.5', '--verbose', '--seed', '3', 'data.csv']"),
      std::string::npos)
      << run.out;
  const nlohmann::json shown = KilnJson({"show", FirstLine(run.out), "--json"});
  EXPECT_EQ(shown["tags"]["owner"], "ana");
  EXPECT_EQ(shown["params"][1]["value"], "0.5");
}

TEST_F(SubmitTest, EnvironmentVariablesReachTheRank) {
  const fs::path project =
      Project("proj", {{"train.py",
                        "import os\nprint(os.environ['MY_VAR'], os.environ['RANK'], "
                        "os.environ['WORLD_SIZE'], os.getcwd().endswith('/src'))\n"}});
  const CapturedRun run = Kiln({"submit", "--source-directory", project.string(), "--entry-script",
                                "train.py", "--env", "MY_VAR=forty two", "--stream"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  EXPECT_NE(run.out.find("forty two 0 1 True"), std::string::npos) << run.out;
}

TEST_F(SubmitTest, CompiledProgramIsAValidEntry) {
  const fs::path project = Project("proj", {{"main.cc",
                                             "#include <cstdio>\nint main(int c, char** v) "
                                             "{ std::printf(\"native %s\\n\", v[1]); }\n"}});
  SpawnOptions compile;
  compile.argv = {"g++", "-O1", "-o", (project / "train").string(), (project / "main.cc").string()};
  const Result<CapturedRun> compiled = RunAndCapture(compile, std::chrono::seconds(120));
  ASSERT_TRUE(compiled.ok() && compiled->exit.success()) << "g++ failed";
  const CapturedRun run = Kiln({"submit", "--source-directory", project.string(), "--entry-script",
                                "train", "--script-param", "hello", "--stream"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  EXPECT_NE(run.out.find("native hello"), std::string::npos) << run.out;
}

TEST_F(SubmitTest, DurationLimitEndsAHangingRun) {
  const fs::path project =
      Project("proj", {{"train.py", "import time\nprint('hang')\ntime.sleep(600)\n"}});
  const CapturedRun run = Kiln({"submit", "--source-directory", project.string(), "--entry-script",
                                "train.py", "--max-run-duration-seconds", "1", "--wait"});
  EXPECT_EQ(run.exit.code, 1);
  const std::string id = FirstLine(run.out);
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["failure_reason"],
            "the run exceeded max_run_duration_seconds (1 s) and was stopped");
  EXPECT_EQ(RunProcessCount(id), 0u);
}

TEST_F(SubmitTest, LogsCanBeReadAndFollowed) {
  const fs::path project = Project(
      "proj",
      {{"train.py", "import time\nfor i in range(5):\n  print('step', i)\n  time.sleep(0.1)\n"}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  const CapturedRun follow = Kiln({"logs", id, "-f"});
  EXPECT_EQ(follow.exit.code, 0);
  EXPECT_EQ(follow.out, "step 0\nstep 1\nstep 2\nstep 3\nstep 4\n");
  const CapturedRun stamped = Kiln({"logs", id, "--timestamps"});
  EXPECT_TRUE(stamped.out.starts_with("20")) << stamped.out;
  const CapturedRun json = Kiln({"logs", id, "--json"});
  const nlohmann::json first = nlohmann::json::parse(FirstLine(json.out));
  EXPECT_EQ(first["text"], "step 0");
  EXPECT_EQ(first["stream"], "out");
  // The run's last 8 hex digits name it too.
  EXPECT_EQ(Kiln({"logs", id.substr(id.rfind('_') + 1)}).out, follow.out);
}

TEST_F(SubmitTest, UnknownRunsAreNotFound) {
  const CapturedRun show = Kiln({"show", "nope_1_deadbeef"});
  EXPECT_EQ(show.exit.code, 3);
  EXPECT_EQ(show.err, "error: run 'nope_1_deadbeef' does not exist (see 'kiln runs')\n");
  EXPECT_EQ(Kiln({"logs", "deadbeef"}).exit.code, 3);
  EXPECT_EQ(Kiln({"cancel", "deadbeef"}).exit.code, 3);
}

// A KILN_HOME this user cannot write (here: bind-mounted read-only in a mount namespace of
// the test's own): every command that writes says which file or folder and what to do,
// exits 5, and leaves nothing behind; commands that only read still work.
TEST_F(SubmitTest, AReadOnlyHomeIsRefusedByNameWithWhatToDo) {
  if (::geteuid() != 0) GTEST_SKIP() << "a read-only bind mount needs root";
  ASSERT_EQ(Kiln({"datastore", "list"}).exit.code, 0);  // creates the store
  const fs::path project = Project("proj", {{"train.py", "print(1)\n"}});
  const std::string readonly =
      fmt::format("mount --bind -o ro {0} {0} && exec \"$@\"", home().string());
  const auto in_readonly_home = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"unshare", "--mount", "--propagation", "private", "sh", "-c",
                                     readonly,  "sh",      KILN_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions options;
    options.argv = argv;
    options.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KILN_HOME=" + home().string()};
    return RunAndCapture(options, std::chrono::seconds(60)).value();
  };

  const CapturedRun registered = in_readonly_home({"datastore", "register", "d", "--path", "/tmp"});
  EXPECT_EQ(registered.exit.code, 5) << registered.err;
  EXPECT_EQ(
      registered.err,
      fmt::format("error: the store {}/kiln.db cannot be written (attempt to write a readonly "
                  "database): make it and its folder writable for this user, or set "
                  "KILN_HOME or KILN_STORE to a store this user may write\n",
                  home().string()));

  // The snapshot store's folders missing (a new home), then there (a used one).
  for (const bool folders_exist : {false, true}) {
    SCOPED_TRACE(folders_exist ? "folders exist" : "no folders");
    fs::remove_all(home() / "snapshots");
    if (folders_exist) {
      for (const char* folder : {"tmp", "manifests", "cache"}) {
        fs::create_directories(home() / "snapshots" / folder);
      }
    }
    const CapturedRun submitted = in_readonly_home(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py"});
    EXPECT_EQ(submitted.exit.code, 5) << submitted.err;
    EXPECT_EQ(submitted.err,
              fmt::format("error: the snapshot store {}/snapshots cannot be written: Read-only "
                          "file system; make it writable for this user, or set KILN_HOME to a "
                          "folder this user may write\n",
                          home().string()));
  }
  fs::remove_all(home() / "snapshots");

  const CapturedRun listed = in_readonly_home({"runs"});
  EXPECT_EQ(listed.exit.code, 0) << listed.err;
  EXPECT_EQ(KilnJson({"runs", "--json"}).size(), 0u);
  EXPECT_EQ(KilnJson({"datastore", "list", "--json"}).size(), 0u);
  EXPECT_FALSE(fs::exists(home() / "snapshots"));
}

}  // namespace
}  // namespace kiln::e2e
