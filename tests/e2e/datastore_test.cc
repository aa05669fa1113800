// Datastores end to end: registration, mount and download in script params, and the
// errors that stop a submit before anything is made.

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

class DatastoreTest : public KilnTest {
 protected:
  void SetUp() override {
    data_ = Project("data", {{"train/a.txt", "alpha"}, {"labels.txt", "labels"}});
    const CapturedRun registered = Kiln({"datastore", "register", "fm", "--path", data_.string()});
    ASSERT_EQ(registered.exit.code, 0) << registered.err;
    EXPECT_EQ(registered.out, "fm " + data_.string() + "\n");
  }
  fs::path data_;
};

constexpr const char* kReader = R"(import sys, os
for path in sys.argv[2::2]:
    print(path, open(os.path.join(path, 'a.txt') if os.path.isdir(path) else path).read())
)";

TEST_F(DatastoreTest, ListAndRemove) {
  const nlohmann::json listed = KilnJson({"datastore", "list", "--json"});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "fm");
  EXPECT_EQ(listed[0]["path"], data_.string());
  EXPECT_NE(Kiln({"datastore", "list"}).out.find(data_.string()), std::string::npos);
  const CapturedRun twice = Kiln({"datastore", "register", "fm", "--path", data_.string()});
  EXPECT_EQ(twice.exit.code, 5);
  EXPECT_EQ(twice.err, "error: datastore 'fm' is registered already\n");
  const CapturedRun bad =
      Kiln({"datastore", "register", "x", "--path", (root() / "nope").string()});
  EXPECT_EQ(bad.exit.code, 2);
  EXPECT_EQ(Kiln({"datastore", "remove", "fm"}).exit.code, 0);
  EXPECT_TRUE(KilnJson({"datastore", "list", "--json"}).empty());
  EXPECT_EQ(Kiln({"datastore", "remove", "fm"}).exit.code, 3);
}

TEST_F(DatastoreTest, MountIsThePathInPlaceAndDownloadIsACopy) {
  const auto project = Project("proj", {{"train.py", kReader},
                                        {"job.yaml",
                                         "entry_script: train.py\n"
                                         "script_params:\n"
                                         "  --mounted: '{datastore:fm/train}'\n"
                                         "  --copied: '{datastore:fm/train:download}'\n"}});
  const CapturedRun run = Kiln({"submit", (project / "job.yaml").string(), "--stream"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  const std::string id = FirstLine(run.out);
  const fs::path copy = RunDir(id) / "data/fm/train";
  EXPECT_NE(run.out.find((data_ / "train").string() + " alpha"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(copy.string() + " alpha"), std::string::npos) << run.out;
  EXPECT_EQ(*ReadFileToString(copy / "a.txt"), "alpha");

  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["params"][0]["value"], "{datastore:fm/train}");
  EXPECT_EQ(shown["params"][0]["resolved"], (data_ / "train").string());
  EXPECT_EQ(shown["params"][1]["resolved"], copy.string());
}

TEST_F(DatastoreTest, MissingDatastoreOrPathFailsTheSubmit) {
  const auto project =
      Project("proj", {{"train.py", kReader},
                       {"job.yaml",
                        "entry_script: train.py\nscript_params:\n"
                        "  --a: '{datastore:nope}'\n  --b: '{datastore:fm/missing}'\n"}});
  const CapturedRun run = Kiln({"submit", "job.yaml"}, {}, project);
  EXPECT_EQ(run.exit.code, 2);
  EXPECT_EQ(run.err,
            "error: job.yaml: script_params: --a: datastore 'nope' is not registered; register it "
            "with 'kiln datastore register nope --path DIR'\n"
            "job.yaml: script_params: --b: '{datastore:fm/missing}' is " +
                (data_ / "missing").string() + ", which does not exist\n");
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
}

}  // namespace
}  // namespace kiln::e2e
