// Materializing never writes through a symbolic link: not one the manifest holds, not one
// planted in the destination, not the destination itself.

#include "snapshot/materialize.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/sha256.h"
#include "common/test_dir.h"
#include "common/unique_fd.h"
#include "snapshot/manifest_check.h"

namespace kiln::snapshot {
namespace {
namespace fs = std::filesystem;

class MaterializeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CreateDirectories(outside()).ok());
    ASSERT_TRUE(CreateDirectories(destination()).ok());
    ASSERT_TRUE(store_.PutObject(Sha256::HexOf(kBytes), kBytes).ok());
  }

  static ManifestEntry File(const std::string& path, bool executable = false) {
    return {path, EntryKind::kFile, executable, kBytes.size(), Sha256::HexOf(kBytes), ""};
  }
  static ManifestEntry Link(const std::string& path, const std::string& target) {
    return {path, EntryKind::kSymlink, false, 0, "", target};
  }

  Status MaterializeInto(const Manifest& manifest) {
    UniqueFd fd(::open(destination().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(static_cast<bool>(fd));
    return MaterializeAt(store_, manifest, fd.get(), destination());
  }

  // The id of `manifest` once stored by hand, as if the store's files had been edited.
  std::string StoreByHand(const Manifest& manifest) {
    const std::string text = SerializeManifest(manifest);
    const std::string id = ManifestId(text);
    EXPECT_TRUE(CreateDirectories(store_.ManifestPath(id).parent_path()).ok());
    EXPECT_TRUE(WriteFileAtomically(store_.ManifestPath(id), text).ok());
    return id;
  }

  fs::path outside() const { return dir_.path() / "outside"; }
  fs::path destination() const { return dir_.path() / "run/src"; }

  static constexpr std::string_view kBytes = "print('hi')\n";
  TestDir dir_;
  SnapshotStore store_{dir_.path() / "store"};
};

TEST_F(MaterializeTest, WritesFilesFoldersAndLinks) {
  const Manifest manifest{{Link("data", "/datasets/x"), File("pkg/a/mod.py"),
                           File("pkg/b.py", true), File("train.py")}};
  ASSERT_TRUE(CheckManifest(manifest).ok());
  const mode_t old_umask = ::umask(077);
  const Status status = MaterializeInto(manifest);
  ::umask(old_umask);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(*ReadFileToString(destination() / "pkg/a/mod.py"), kBytes);
  EXPECT_EQ(fs::read_symlink(destination() / "data"), "/datasets/x");
  struct stat info {};
  ASSERT_EQ(::stat((destination() / "pkg/b.py").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((destination() / "train.py").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
}

// Another process makes a link where a folder of the snapshot goes: the files of that
// folder are not written through it.
TEST_F(MaterializeTest, APlantedLinkToAFolderIsNotFollowed) {
  ASSERT_EQ(::symlink(outside().c_str(), (destination() / "pkg").c_str()), 0);
  const Status status = MaterializeInto(Manifest{{File("pkg/mod.py")}});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), (destination() / "pkg").string() +
                                  " is a symbolic link or a file, not a folder; a snapshot is "
                                  "never written through a link");
  EXPECT_TRUE(fs::is_empty(outside()));

  // Deeper down too.
  ASSERT_TRUE(CreateDirectories(destination() / "lib/sub").ok());
  ASSERT_EQ(::symlink(outside().c_str(), (destination() / "lib/sub/deep").c_str()), 0);
  EXPECT_EQ(MaterializeInto(Manifest{{File("lib/sub/deep/x/y.py")}}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::is_empty(outside()));
}

// A link where a file of the snapshot goes: the file is neither written through it nor
// replaced.
TEST_F(MaterializeTest, APlantedLinkToAFileIsNotFollowed) {
  const fs::path victim = outside() / "victim";
  ASSERT_TRUE(WriteFileAtomically(victim, "precious").ok());
  ASSERT_EQ(::symlink(victim.c_str(), (destination() / "train.py").c_str()), 0);
  const Status status = MaterializeInto(Manifest{{File("train.py")}});
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), (destination() / "train.py").string() + " exists already");
  EXPECT_EQ(*ReadFileToString(victim), "precious");
  // A dangling link is no way out either.
  ASSERT_EQ(::symlink((outside() / "new").c_str(), (destination() / "new.py").c_str()), 0);
  EXPECT_EQ(MaterializeInto(Manifest{{File("new.py")}}).code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(outside() / "new"));
}

TEST_F(MaterializeTest, ADestinationThatIsALinkIsRefused) {
  const fs::path link = dir_.path() / "link";
  ASSERT_EQ(::symlink(outside().c_str(), link.c_str()), 0);
  const std::string id = StoreByHand(Manifest{{File("train.py")}});
  const Status status = store_.Materialize(id, link);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            link.string() + " is a symbolic link or a file; choose a new or empty folder");
  EXPECT_TRUE(fs::is_empty(outside()));
}

// A manifest whose file lies below its own link, put in the store by hand (one sent by a
// client is refused on the way in): refused before anything is made.
TEST_F(MaterializeTest, AnEntryBelowALinkInTheStoreIsRefused) {
  const std::string id = StoreByHand(Manifest{{Link("lib", outside().string()), File("lib/x.py")}});
  const fs::path out = dir_.path() / "out";
  const Status status = store_.Materialize(id, out);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("entries[1] 'lib/x.py': lies below the symlink 'lib'"),
            std::string::npos)
      << status.message();
  EXPECT_FALSE(fs::exists(fs::symlink_status(out)));
  EXPECT_TRUE(fs::is_empty(outside()));

  const std::string climbs = StoreByHand(Manifest{{File("../../x.py")}});
  EXPECT_EQ(store_.Materialize(climbs, out).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_.path() / "x.py"));
}

// A failure part way removes what was written, and only that: links are removed, never
// followed.
TEST_F(MaterializeTest, AFailureLeavesTheDestinationAsItWas) {
  const std::string id =
      StoreByHand(Manifest{{Link("a", outside().string()), File("b.py"), File("c.py", false)}});
  Manifest damaged = *store_.ReadManifest(id);
  damaged.entries[2].sha256 = Sha256::HexOf("not stored");
  const std::string broken = StoreByHand(damaged);
  const fs::path out = dir_.path() / "empty";
  ASSERT_TRUE(CreateDirectories(out).ok());
  ASSERT_TRUE(WriteFileAtomically(outside() / "keep", "k").ok());
  EXPECT_EQ(store_.Materialize(broken, out).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out));
  EXPECT_EQ(*ReadFileToString(outside() / "keep"), "k");
}

}  // namespace
}  // namespace kiln::snapshot
