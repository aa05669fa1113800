#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/test_dir.h"

namespace kiln {
namespace {
namespace fs = std::filesystem;

TEST(FilesTest, AtomicWriteThenRead) {
  TestDir dir;
  const fs::path file = dir.path() / "a.txt";
  ASSERT_TRUE(WriteFileAtomically(file, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(file, "two").ok());
  EXPECT_EQ(*ReadFileToString(file), "two");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(FilesTest, ReadMissingIsNotFound) {
  TestDir dir;
  const auto result = ReadFileToString(dir.path() / "missing");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
}

TEST(FilesTest, CopyKeepsModeAndRefusesToOverwrite) {
  TestDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "run.sh", "#!/bin/sh\n").ok());
  ASSERT_TRUE(CopyFileContents(dir.path() / "run.sh", dir.path() / "copy.sh", 0755).ok());
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "copy.sh").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);
  EXPECT_EQ(*ReadFileToString(dir.path() / "copy.sh"), "#!/bin/sh\n");
  EXPECT_EQ(CopyFileContents(dir.path() / "run.sh", dir.path() / "copy.sh", 0644).code(),
            StatusCode::kAlreadyExists);
}

TEST(FilesTest, CopyTreeCopiesFilesAndLinks) {
  TestDir dir;
  ASSERT_TRUE(CreateDirectories(dir.path() / "a/b").ok());
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "a/b/x", "x").ok());
  fs::create_symlink("b/x", dir.path() / "a/link");
  ASSERT_TRUE(CopyTree(dir.path() / "a", dir.path() / "c").ok());
  EXPECT_EQ(*ReadFileToString(dir.path() / "c/b/x"), "x");
  EXPECT_EQ(fs::read_symlink(dir.path() / "c/link"), "b/x");
}

TEST(FilesTest, IsWithinSeesThroughDotsAndLinks) {
  TestDir dir;
  ASSERT_TRUE(CreateDirectories(dir.path() / "root/sub").ok());
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "outside", "").ok());
  fs::create_symlink(dir.path() / "outside", dir.path() / "root/escape");
  EXPECT_TRUE(IsWithin(dir.path() / "root/sub", dir.path() / "root"));
  EXPECT_TRUE(IsWithin(dir.path() / "root", dir.path() / "root"));
  EXPECT_FALSE(IsWithin(dir.path() / "root/sub/../..", dir.path() / "root"));
  EXPECT_FALSE(IsWithin(dir.path() / "root/escape", dir.path() / "root"));
  EXPECT_FALSE(IsWithin(dir.path() / "root/missing", dir.path() / "root"));
}

}  // namespace
}  // namespace kiln
