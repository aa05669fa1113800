// The Fashion-MNIST example as a Kiln job, trained briefly on a subset: it must still learn
// (the training loss falls, the test accuracy is far above chance) and leave a loadable
// TorchScript model. The full run to the accuracy bar is the slow test example_full.sh.

#include <map>
#include <thread>

#include "common/files.h"
#include "e2e/kiln_fixture.h"
#include "e2e/served_model.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

constexpr const char* kData = "/usr/share/datasets/fashion-mnist";
constexpr double kChance = 0.1;

class ExampleTest : public KilnTest {
 protected:
  // Submits an example job with --stream, briefly (2 epochs on 6000 training and 2000 test
  // images): the run must complete. Returns its output; its id is the first line.
  CapturedRun RunBriefly(const std::string& job, int batch_size) {
    const fs::path path = fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist" / job;
    return Kiln({"submit", path.string(), "--stream", "--", "--epochs", "2", "--train_limit",
                 "6000", "--test_limit", "2000", "--batch_size", std::to_string(batch_size)},
                {}, {}, std::chrono::seconds(540));
  }

  // The run's outputs/metrics.json, after checking that it learned: test accuracy far above
  // chance, the training loss well down.
  nlohmann::json ExpectLearned(const std::string& id) {
    const auto metrics =
        nlohmann::json::parse(*ReadFileToString(RunDir(id) / "outputs/metrics.json"));
    const double accuracy = metrics["test_accuracy"];
    EXPECT_GT(accuracy, 6 * kChance) << "accuracy " << accuracy;
    EXPECT_LT(metrics["last_train_loss"].get<double>(),
              0.6 * metrics["first_train_loss"].get<double>());
    return metrics;
  }
};

TEST_F(ExampleTest, LearnsOnASubset) {
  ASSERT_TRUE(fs::exists(kData)) << "install dataset-fashion-mnist (scripts/setup.sh)";
  ASSERT_EQ(Kiln({"datastore", "register", "fashion_mnist", "--path", kData}).exit.code, 0);
  const CapturedRun run = RunBriefly("job.yaml", 64);
  ASSERT_EQ(run.exit.code, 0) << run.out << run.err;
  const std::string id = FirstLine(run.out);
  EXPECT_NE(run.out.find("epoch 2/2"), std::string::npos) << run.out;
  const nlohmann::json metrics = ExpectLearned(id);
  EXPECT_EQ(metrics["train_images"], 6000);

  // What the script logged through the Run API is in the store.
  const nlohmann::json logged = KilnJson({"metrics", id, "--format", "json"});
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& summary : logged) by_name[summary["name"]] = summary;
  EXPECT_EQ(by_name["loss"]["count"], 2 * 94);  // 6000 / 64 rounded up, per epoch
  EXPECT_EQ(by_name["test_accuracy"]["count"], 2);
  EXPECT_EQ(by_name["test_accuracy"]["last"], metrics["test_accuracy"].get<double>());
  EXPECT_EQ(by_name["lr"]["count"], 2);
  EXPECT_EQ(by_name["confusion_matrix"]["kind"], "image");
  EXPECT_TRUE(
      ReadFileToString(RunDir(id) / "outputs/images/confusion_matrix.png")->starts_with("\x89PNG"));

  SpawnOptions load;
  load.argv = {"/usr/bin/python3", "-c",
               "import sys, torch; m = torch.jit.load(sys.argv[1]); "
               "print(tuple(m(torch.zeros(3, 1, 28, 28)).shape))",
               (RunDir(id) / "outputs/model.pt").string()};
  const Result<CapturedRun> loaded = RunAndCapture(load, std::chrono::seconds(120));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->out, "(3, 10)\n") << loaded->err;

  // The ONNX model it exported, registered and served, predicts what PyTorch predicts.
  const auto parity =
      nlohmann::json::parse(*ReadFileToString(RunDir(id) / "outputs/model.onnx.parity.json"));
  EXPECT_LT(parity["max_abs_diff"].get<double>(), 1e-4);
  ASSERT_EQ(Kiln({"model", "register", "fashion-mnist", "--run", id}).exit.code, 0);
  ServedModel served(home(), "fashion-mnist");
  ASSERT_FALSE(served.url().empty());
  SpawnOptions score;
  score.argv = {
      "/usr/bin/python3", (fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist/score.py").string(),
      served.url(),       RunDir(id).string(),
      "--limit",          "2000"};
  score.env = CurrentEnvironment();
  score.env->push_back("PYTHONPATH=" + (fs::path(KILN_BINARY).parent_path() / "python").string());
  const Result<CapturedRun> scored = RunAndCapture(score, std::chrono::seconds(120));
  ASSERT_TRUE(scored.ok());
  EXPECT_TRUE(scored->exit.success()) << scored->out << scored->err;
  EXPECT_NE(scored->out.find("Scored 2000 test images"), std::string::npos) << scored->out;

  // The state_dict it saved, served by the example's scoring script as docs/serving.md shows,
  // predicts what PyTorch predicts too.
  ASSERT_EQ(Kiln({"model", "register", "fashion-mnist-weights", "--run", id, "--path",
                  "outputs/model_state.pt"})
                .exit.code,
            0);
  EXPECT_EQ(KilnJson({"model", "show", "fashion-mnist-weights", "--json"})["format"], "state_dict");
  const CapturedRun deployed =
      Kiln({"model", "deploy", "fashion-mnist-weights", "--source-directory",
            (fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist").string(), "--entry-script",
            "scoring/score.py"});
  ASSERT_EQ(deployed.exit.code, 0) << deployed.err;
  ServedModel by_script(home(), "fashion-mnist-weights");
  ASSERT_FALSE(by_script.url().empty());
  score.argv[2] = by_script.url();
  score.argv.insert(score.argv.end(), {"--json"});
  score.argv[5] = "500";
  const Result<CapturedRun> scripted = RunAndCapture(score, std::chrono::seconds(120));
  ASSERT_TRUE(scripted.ok());
  EXPECT_TRUE(scripted->exit.success()) << scripted->out << scripted->err;
  EXPECT_NE(scripted->out.find("Scored 500 test images"), std::string::npos) << scripted->out;
}

// The DDP example on 2 ranks, started by Kiln (gloo) and by mpirun (mpi), trained briefly:
// both learn, rank 0 alone logs, and every rank's log is there.
// examples/fashion-mnist/sweep.yaml, made smaller (4 trials of 2 epochs on 2000 images):
// every trial is the example's CNN with a sampled learning rate, batch size and dropout,
// and the best of them learns.
TEST_F(ExampleTest, TheSweepTunesTheCnnOnASubset) {
  ASSERT_TRUE(fs::exists(kData)) << "install dataset-fashion-mnist (scripts/setup.sh)";
  ASSERT_EQ(Kiln({"datastore", "register", "fashion_mnist", "--path", kData}).exit.code, 0);
  const fs::path example = fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist";
  std::string text = *ReadFileToString(example / "sweep.yaml");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"source_directory: .", "source_directory: " + example.string()},
           {"--epochs: 3", "--epochs: 2"},
           {"--train_limit: 6000", "--train_limit: 2000"},
           {"max_total_trials: 8", "max_total_trials: 4"},
           {"startup_trials: 4", "startup_trials: 2"}}) {
    const std::size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }
  const fs::path file = root() / "sweep.yaml";
  ASSERT_TRUE(WriteFileAtomically(file, text).ok());
  const CapturedRun submitted = Kiln({"sweep", "submit", file.string()});
  ASSERT_EQ(submitted.exit.code, 0) << submitted.err;
  const std::string id = FirstLine(submitted.out);
  nlohmann::json shown;
  for (int i = 0; i < 2400; ++i) {
    shown = KilnJson({"sweep", "show", id, "--json"});
    if (shown["status"] != "Running" && shown["status"] != "Queued" &&
        shown["status"] != "Preparing") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(shown["status"], "Completed") << shown.dump(2);
  ASSERT_EQ(shown["trials"].size(), 4u);
  for (const nlohmann::json& trial : shown["trials"]) {
    const nlohmann::json& params = trial["params"];
    EXPECT_GE(params["--dropout"].get<double>(), 0.0);
    EXPECT_LE(params["--dropout"].get<double>(), 0.5);
    EXPECT_TRUE(params["--batch_size"] == 32 || params["--batch_size"] == 64 ||
                params["--batch_size"] == 128);
    if (trial["status"] == "Canceled") {
      EXPECT_EQ(trial["stop_reason"].get<std::string>().rfind("stopped early by BanditPolicy", 0),
                0u);
    } else {
      EXPECT_EQ(trial["status"], "Completed") << trial.dump();
    }
  }
  // Ranked best first; the best learned and ran with its sampled values.
  const nlohmann::json& best = shown["trials"][0];
  EXPECT_GT(best["best"].get<double>(), 6 * kChance) << best.dump();
  const nlohmann::json run = KilnJson({"show", best["run_id"], "--json"});
  std::map<std::string, std::string> params;
  for (const nlohmann::json& param : run["params"]) params[param["name"]] = param["value"];
  EXPECT_EQ(params["--dropout"], best["params"]["--dropout"].dump());
  EXPECT_EQ(params["--epochs"], "2");
}

TEST_F(ExampleTest, DistributedDataParallelLearnsOnASubset) {
  ASSERT_EQ(Kiln({"datastore", "register", "fashion_mnist", "--path", kData}).exit.code, 0);
  for (const char* job : {"job-ddp.yaml", "job-mpi.yaml"}) {
    SCOPED_TRACE(job);
    const CapturedRun run = RunBriefly(job, 64);
    ASSERT_EQ(run.exit.code, 0) << run.out << run.err;
    const std::string id = FirstLine(run.out);
    EXPECT_NE(run.out.find("[rank 0] 2 ranks; train 6000 images"), std::string::npos) << run.out;
    EXPECT_EQ(ExpectLearned(id)["ranks"], 2);

    const nlohmann::json logged = KilnJson({"metrics", id, "--rank", "all", "--format", "json"});
    std::map<std::string, int> ranks_by_name;
    for (const auto& summary : logged) {
      EXPECT_EQ(summary["rank"], 0) << summary.dump();
      ranks_by_name[summary["name"]] = summary["count"];
    }
    EXPECT_EQ(ranks_by_name["loss"], 2 * 94);  // 3000 images a rank, 32 a step: 94 steps
    EXPECT_EQ(ranks_by_name["test_accuracy"], 2);
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_TRUE(fs::exists(RunDir(id) / "logs" / ("rank-" + std::to_string(rank) + ".log")));
    }
  }
}

// submit_src.py: the example submitted as later Azure ML v1 code does, ScriptRunConfig with
// an MpiConfiguration in a registered Environment, trained briefly on 2 ranks.
TEST_F(ExampleTest, ScriptRunConfigWithMpiLearnsOnASubset) {
  SpawnOptions submit;
  submit.argv = {"/usr/bin/python3",
                 (fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist/submit_src.py").string(),
                 "--epochs",
                 "2",
                 "--run-id-file",
                 (root() / "run-id").string(),
                 "--train_limit",
                 "6000",
                 "--test_limit",
                 "1000",
                 "--batch_size",
                 "64"};
  submit.env.emplace();
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("KILN_")) submit.env->push_back(entry);
  }
  submit.env->push_back("KILN_HOME=" + home().string());
  submit.env->push_back("PYTHONPATH=" + (fs::path(KILN_BINARY).parent_path() / "python").string());
  const Result<CapturedRun> ran = RunAndCapture(submit, std::chrono::seconds(600));
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  ASSERT_EQ(ran->exit.code, 0) << ran->out << ran->err;
  EXPECT_NE(ran->out.find("Ran train_ddp.py on 2 ranks (Mpi) in environment fashion-mnist-env:1"),
            std::string::npos)
      << ran->out;
  const std::string id = *ReadFileToString(root() / "run-id");
  EXPECT_EQ(ExpectLearned(id)["ranks"], 2);
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["spec"]["distributed_backend"], "mpi");
  EXPECT_EQ(shown["spec"]["environment"]["environment_variables"],
            nlohmann::json::parse(R"([["OMP_NUM_THREADS", "1"]])"));
}

// The Horovod-style example (train_hvd.py: import horovod.torch as hvd) and the libtorch
// one (train.cpp on kiln::hvd) on 2 ranks as Kiln jobs, on Kiln's runtime over Open MPI
// (mpi) and over its TCP ring (gloo), trained briefly.
TEST_F(ExampleTest, HorovodStyleJobsLearnOnKilnsRuntime) {
  ASSERT_EQ(Kiln({"datastore", "register", "fashion_mnist", "--path", kData}).exit.code, 0);
  for (const auto& [job, plane] :
       {std::pair{"job-hvd-mpi.yaml", "mpi"}, std::pair{"job-hvd-gloo.yaml", "tcp"},
        std::pair{"job-cpp-mpi.yaml", "mpi"}, std::pair{"job-cpp-gloo.yaml", "tcp"}}) {
    SCOPED_TRACE(job);
    const CapturedRun run = RunBriefly(job, 32);
    ASSERT_EQ(run.exit.code, 0) << run.out << run.err;
    const std::string id = FirstLine(run.out);
    for (int rank = 0; rank < 2; ++rank) {
      const std::string r = std::to_string(rank);
      EXPECT_NE(run.out.find("[rank " + r + "] rank " + r + " of 2"), std::string::npos) << run.out;
    }
    EXPECT_NE(run.out.find(std::string("(") + plane + " data plane)"), std::string::npos);
    EXPECT_EQ(ExpectLearned(id)["ranks"], 2);
  }
}

}  // namespace
}  // namespace kiln::e2e
