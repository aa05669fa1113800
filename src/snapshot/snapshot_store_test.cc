#include "snapshot/snapshot_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"
#include "common/sha256.h"
#include "common/test_dir.h"
#include "snapshot/stat_cache.h"

namespace kiln::snapshot {
namespace {
namespace fs = std::filesystem;

constexpr SnapshotLimits kLimits{300'000'000, 2000};

class SnapshotStoreTest : public ::testing::Test {
 protected:
  void Write(const std::string& path, const std::string& contents) {
    ASSERT_TRUE(CreateDirectories((source() / path).parent_path()).ok());
    ASSERT_TRUE(WriteFileAtomically(source() / path, contents).ok());
  }

  Result<SnapshotInfo> Snapshot() {
    const Result<SourceScan> scan = ScanSource(source());
    if (!scan.ok()) return scan.status();
    return store_.Create(*scan);
  }

  std::size_t ObjectCount() const {
    std::size_t count = 0;
    std::error_code error;
    for (const auto& entry : fs::recursive_directory_iterator(store_.root() / "objects", error)) {
      if (entry.is_regular_file()) ++count;
    }
    return count;
  }

  fs::path source() const { return dir_.path() / "src"; }

  TestDir dir_;
  SnapshotStore store_{dir_.path() / "store"};
};

TEST_F(SnapshotStoreTest, SameContentIsStoredOnce) {
  Write("a.py", "same");
  Write("b/c.py", "same");
  Write("d.txt", "other");
  const Result<SnapshotInfo> first = Snapshot();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->file_count, 3u);
  EXPECT_EQ(first->total_bytes, 13u);
  EXPECT_EQ(first->bytes_stored, 9u);  // "same" once, "other" once
  EXPECT_EQ(ObjectCount(), 2u);
  EXPECT_EQ(first->id.size(), 64u);

  const Result<SnapshotInfo> again = Snapshot();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->bytes_stored, 0u);
  EXPECT_EQ(ObjectCount(), 2u);
}

TEST_F(SnapshotStoreTest, ChangesGiveANewIdAndKeepTheOld) {
  Write("train.py", "v1");
  const Result<SnapshotInfo> v1 = Snapshot();
  ASSERT_TRUE(v1.ok());
  Write("train.py", "v2");
  const Result<SnapshotInfo> v2 = Snapshot();
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(v1->id, v2->id);

  ASSERT_TRUE(store_.Materialize(v1->id, dir_.path() / "old").ok());
  EXPECT_EQ(*ReadFileToString(dir_.path() / "old/train.py"), "v1");
  ASSERT_TRUE(store_.Materialize(v2->id, dir_.path() / "new").ok());
  EXPECT_EQ(*ReadFileToString(dir_.path() / "new/train.py"), "v2");
}

TEST_F(SnapshotStoreTest, ModeChangeIsAChange) {
  Write("run", "#!/bin/sh\n");
  const Result<SnapshotInfo> plain = Snapshot();
  ASSERT_TRUE(plain.ok());
  ::chmod((source() / "run").c_str(), 0755);
  const Result<SnapshotInfo> executable = Snapshot();
  ASSERT_TRUE(executable.ok());
  EXPECT_NE(plain->id, executable->id);
  ASSERT_TRUE(store_.Materialize(executable->id, dir_.path() / "out").ok());
  struct stat info {};
  ASSERT_EQ(::stat((dir_.path() / "out/run").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);
}

TEST_F(SnapshotStoreTest, MaterializeRestoresFilesAndLinks) {
  Write("pkg/mod.py", "import os\n");
  Write("empty.txt", "");
  fs::create_symlink("pkg/mod.py", source() / "alias.py");
  const Result<SnapshotInfo> info = Snapshot();
  ASSERT_TRUE(info.ok());
  const fs::path out = dir_.path() / "restored";
  ASSERT_TRUE(store_.Materialize(info->id, out).ok());
  EXPECT_EQ(*ReadFileToString(out / "pkg/mod.py"), "import os\n");
  EXPECT_EQ(*ReadFileToString(out / "empty.txt"), "");
  EXPECT_EQ(fs::read_symlink(out / "alias.py"), "pkg/mod.py");
}

TEST_F(SnapshotStoreTest, MaterializeRefusesANonEmptyFolder) {
  Write("a", "a");
  const Result<SnapshotInfo> info = Snapshot();
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.path() / "busy", "x").ok());
  ASSERT_TRUE(CreateDirectories(dir_.path() / "full").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.path() / "full/x", "x").ok());
  EXPECT_EQ(store_.Materialize(info->id, dir_.path() / "full").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_.Materialize(info->id, dir_.path() / "fresh").ok());
}

TEST_F(SnapshotStoreTest, MissingObjectIsDataLossAndLeavesNothing) {
  Write("a", "aaa");
  Write("b", "bbb");
  const Result<SnapshotInfo> info = Snapshot();
  ASSERT_TRUE(info.ok());
  const Result<Manifest> manifest = store_.ReadManifest(info->id);
  ASSERT_TRUE(manifest.ok());
  fs::remove(store_.ObjectPath(manifest->entries[1].sha256));
  const fs::path out = dir_.path() / "out";
  EXPECT_EQ(store_.Materialize(info->id, out).code(), StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(SnapshotStoreTest, DamagedManifestIsDetected) {
  Write("a", "a");
  const Result<SnapshotInfo> info = Snapshot();
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(WriteFileAtomically(store_.ManifestPath(info->id), "{\"version\":1}").ok());
  EXPECT_EQ(store_.ReadManifest(info->id).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_.ReadManifest(std::string(64, '0')).status().code(), StatusCode::kNotFound);
  // An id is a hash, never a path.
  EXPECT_EQ(store_.ReadManifest("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.ReadManifest(std::string(64, 'A')).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(SnapshotStoreTest, UnchangedOldFilesAreNotReadAgain) {
  Write("a.py", "a");
  Write("b.py", "b");
  // Files as fresh as the scan are "racy" and always re-read; wait them out once.
  std::this_thread::sleep_for(std::chrono::nanoseconds(StatCache::kRacyWindowNanos) +
                              std::chrono::milliseconds(100));
  const Result<SnapshotInfo> first = Snapshot();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->files_hashed, 2u);
  const Result<SnapshotInfo> second = Snapshot();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->files_hashed, 0u);
  EXPECT_EQ(second->id, first->id);

  // Same size, new bytes: the identity changed, so the file is read again.
  Write("a.py", "z");
  const Result<SnapshotInfo> third = Snapshot();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->files_hashed, 1u);
  EXPECT_NE(third->id, first->id);
}

TEST_F(SnapshotStoreTest, RecentFilesAreAlwaysReadAgain) {
  Write("a.py", "a");
  ASSERT_TRUE(Snapshot().ok());
  const Result<SnapshotInfo> second = Snapshot();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->files_hashed, 1u);
}

TEST_F(SnapshotStoreTest, ConcurrentSnapshotsAgree) {
  for (int i = 0; i < 50; ++i) Write("f" + std::to_string(i), std::string(1000, 'a' + i % 26));
  std::vector<std::string> ids(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const Result<SnapshotInfo> info = Snapshot();
      ids[t] = info.ok() ? info->id : info.status().ToString();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(ObjectCount(), 26u);
  EXPECT_TRUE(fs::is_empty(store_.root() / "tmp"));
}

// A snapshot taken in one store and sent to another, as a client sends it to a server.
TEST_F(SnapshotStoreTest, ReceivedSnapshotNeedsOnlyMissingObjects) {
  Write("train.py", "print(1)\n");
  Write("lib/a.py", "a = 1\n");
  Write("lib/b.py", "a = 1\n");  // same contents as a.py: one object
  const Result<SnapshotInfo> taken = Snapshot();
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  const Result<Manifest> manifest = store_.ReadManifest(taken->id);
  ASSERT_TRUE(manifest.ok());
  const std::string text = SerializeManifest(*manifest);

  SnapshotStore server(dir_.path() / "server");
  std::vector<std::string> missing = server.MissingObjects(*manifest);
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(server.AddManifest(text, kLimits).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(server.PutObject(missing[0], "not the contents").code(), StatusCode::kInvalidArgument);
  for (const std::string& sha256 : missing) {
    const Result<std::string> bytes = ReadFileToString(store_.ObjectPath(sha256));
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(server.PutObject(sha256, *bytes).ok());
  }
  EXPECT_TRUE(server.MissingObjects(*manifest).empty());
  const Result<std::string> id = server.AddManifest(text, kLimits);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, taken->id);
  ASSERT_TRUE(server.Materialize(*id, dir_.path() / "out").ok());
  EXPECT_EQ(*ReadFileToString(dir_.path() / "out" / "lib/b.py"), "a = 1\n");
}

TEST_F(SnapshotStoreTest, ReceivedManifestCannotClimbOut) {
  SnapshotStore server(dir_.path() / "server");
  ASSERT_TRUE(server.PutObject(Sha256::HexOf("x"), "x").ok());
  for (const char* path : {"../escape.py", "/etc/passwd", "a/../../b"}) {
    Manifest manifest;
    manifest.entries.push_back({path, EntryKind::kFile, false, 1, Sha256::HexOf("x"), ""});
    const Result<std::string> id = server.AddManifest(SerializeManifest(manifest), kLimits);
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument) << path;
  }
}

TEST_F(SnapshotStoreTest, ReceivedSizesMustMatchTheirContents) {
  SnapshotStore server(dir_.path() / "server");
  ASSERT_TRUE(server.PutObject(Sha256::HexOf("x"), "x").ok());
  Manifest manifest;
  manifest.entries.push_back({"a.py", EntryKind::kFile, false, 5, Sha256::HexOf("x"), ""});
  const Result<std::string> id = server.AddManifest(SerializeManifest(manifest), kLimits);
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(),
            "snapshot manifest entries[0] 'a.py': its size is 5, but its "
            "contents (" +
                Sha256::HexOf("x") + ") are 1 bytes");
  manifest.entries[0] = {"a.py", EntryKind::kFile, false, 1, Sha256::HexOf("y"), ""};
  EXPECT_NE(server.AddManifest(SerializeManifest(manifest), kLimits)
                .status()
                .message()
                .find("entries[0] 'a.py': its contents (" + Sha256::HexOf("y") +
                      ") are not in the store; send them first"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(server.root() / "manifests"));
}

}  // namespace
}  // namespace kiln::snapshot
