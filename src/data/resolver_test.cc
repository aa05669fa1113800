#include "data/resolver.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/test_dir.h"
#include "store/sqlite/sqlite_store.h"

namespace kiln::data {
namespace {
namespace fs = std::filesystem;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::sqlite::SqliteStore::Open(dir_.path() / "kiln.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    data_ = dir_.path() / "data";
    ASSERT_TRUE(CreateDirectories(data_ / "train").ok());
    ASSERT_TRUE(WriteFileAtomically(data_ / "train/a.bin", "aaa").ok());
    ASSERT_TRUE(WriteFileAtomically(data_ / "labels.txt", "l").ok());
    ASSERT_TRUE(RegisterDatastore(*store_, "fm", data_).ok());
  }

  Result<ResolvedParams> Resolve(std::vector<spec::ScriptParam> params) {
    return ResolveScriptParams(params, source_, *store_, dir_.path() / "run");
  }

  TestDir dir_;
  std::unique_ptr<store::Store> store_;
  fs::path data_;
  spec::SpecSource source_{"job.yaml", {}, {}};
};

TEST_F(ResolverTest, MountIsThePathInPlace) {
  const auto resolved = Resolve({{"--data_dir", "{datastore:fm}"},
                                 {"--train", "{datastore:fm/train}"},
                                 {"--epochs", "2"},
                                 {"--verbose", std::nullopt}});
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  ASSERT_EQ(resolved->params.size(), 4u);
  EXPECT_EQ(resolved->params[0].value, "{datastore:fm}");
  EXPECT_EQ(resolved->params[0].resolved, data_.string());
  EXPECT_EQ(resolved->params[1].resolved, (data_ / "train").string());
  EXPECT_EQ(resolved->params[2].resolved, "2");
  EXPECT_FALSE(resolved->params[3].resolved.has_value());
  ASSERT_EQ(resolved->bindings.size(), 2u);
  EXPECT_EQ(resolved->bindings[0].target, data_);
}

TEST_F(ResolverTest, DownloadCopiesIntoTheRunDirectory) {
  const auto resolved = Resolve({{"--train", "{datastore:fm/train:download}"},
                                 {"--all", "{datastore:fm:download}"},
                                 {"--labels", "x={datastore:fm/labels.txt:download};"}});
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  const fs::path run = dir_.path() / "run";
  EXPECT_EQ(resolved->params[0].resolved, (run / "data/fm/train").string());
  EXPECT_EQ(resolved->params[2].resolved, "x=" + (run / "data/fm/labels.txt").string() + ";");
  ASSERT_TRUE(DownloadBindings(resolved->bindings).ok());
  EXPECT_EQ(*ReadFileToString(run / "data/fm/train/a.bin"), "aaa");
  EXPECT_EQ(*ReadFileToString(run / "data/fm/labels.txt"), "l");
  // The copy is a copy: changing the datastore afterwards leaves the run's data alone.
  ASSERT_TRUE(WriteFileAtomically(data_ / "labels.txt", "changed").ok());
  EXPECT_EQ(*ReadFileToString(run / "data/fm/labels.txt"), "l");
}

TEST_F(ResolverTest, UnknownDatastoreAndMissingPathAreReportedTogether) {
  const auto resolved = Resolve({{"--a", "{datastore:nope}"}, {"--b", "{datastore:fm/missing}"}});
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(resolved.status().message(),
            "job.yaml: script_params: --a: datastore 'nope' is not registered; register it with "
            "'kiln datastore register nope --path DIR'\n"
            "job.yaml: script_params: --b: '{datastore:fm/missing}' is " +
                (data_ / "missing").string() + ", which does not exist");
}

TEST_F(ResolverTest, MalformedReferenceNamesTheParam) {
  const auto resolved = Resolve({{"--a", "{datastore:fm:copy}"}});
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.status().message(),
            "job.yaml: script_params: --a: '{datastore:fm:copy}' asks for mode 'copy'; the modes "
            "are mount (the default) and download");
}

TEST_F(ResolverTest, RegistrationChecksNameAndFolder) {
  EXPECT_EQ(RegisterDatastore(*store_, "bad name", data_).message(),
            "datastore name 'bad name' is not valid: use 1 to 64 letters, digits, '_' or '-', "
            "starting with a letter or digit");
  EXPECT_EQ(RegisterDatastore(*store_, "x", dir_.path() / "nope").message(),
            "--path: '" + (dir_.path() / "nope").string() + "' does not exist");
  EXPECT_EQ(RegisterDatastore(*store_, "x", data_ / "labels.txt").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterDatastore(*store_, "fm", data_).code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace kiln::data
