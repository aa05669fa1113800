// Hostile manifests, written by hand as a client could send them: each is refused with the
// entry it names, by ParseManifest (shape) or CheckManifest (what the paths name).

#include "snapshot/manifest_check.h"

#include <gtest/gtest.h>

#include <limits>

#include "common/sha256.h"

namespace kiln::snapshot {
namespace {

const std::string kSha = Sha256::HexOf("x");

std::string FileEntry(const std::string& path, const std::string& sha256 = kSha,
                      const std::string& size = "1") {
  return R"({"executable":false,"path":")" + path + R"(","sha256":")" + sha256 + R"(","size":)" +
         size + R"(,"type":"file"})";
}
std::string LinkEntry(const std::string& path, const std::string& target) {
  return R"({"path":")" + path + R"(","target":")" + target + R"(","type":"symlink"})";
}
std::string ManifestText(const std::vector<std::string>& entries) {
  std::string text = R"({"entries":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) text += (i > 0 ? "," : "") + entries[i];
  return text + R"(],"version":1})";
}

// The status of parsing then checking `text`.
Status Check(const std::string& text) {
  const Result<Manifest> manifest = ParseManifest(text);
  if (!manifest.ok()) return manifest.status();
  return CheckManifest(*manifest);
}

void ExpectRefused(const std::string& text, StatusCode code, const std::string& message) {
  const Status status = Check(text);
  EXPECT_EQ(status.code(), code) << text << "\n" << status.ToString();
  EXPECT_NE(status.message().find(message), std::string::npos)
      << text << "\nwanted: " << message << "\ngot:    " << status.message();
}

TEST(ManifestCheckTest, AWellFormedManifestPasses) {
  // "a" sorts before "a-b.py", which is not below the link "a".
  EXPECT_TRUE(Check(ManifestText({LinkEntry("a", "a-b.py"), FileEntry("a-b.py"),
                                  FileEntry("lib/x.py"), LinkEntry("lib/y", "x.py")}))
                  .ok());
  EXPECT_TRUE(Check(ManifestText({})).ok());
}

TEST(ManifestCheckTest, BadHashesAreRefused) {
  const std::string upper = std::string(64, 'A');
  ExpectRefused(ManifestText({FileEntry("a.py", upper)}), StatusCode::kInvalidArgument,
                "entries[0] 'a.py': sha256 '" + upper + "' is not 64 lowercase hex digits");
  ExpectRefused(ManifestText({FileEntry("a.py", "abc")}), StatusCode::kInvalidArgument,
                "sha256 'abc' is not 64 lowercase hex digits");
  // A hash names an object file in the store: it must never be a path.
  ExpectRefused(ManifestText({FileEntry("a.py", "../../../../etc/passwd")}),
                StatusCode::kInvalidArgument, "is not 64 lowercase hex digits");
  ExpectRefused(ManifestText({FileEntry("a.py", std::string(63, 'a') + "g")}),
                StatusCode::kInvalidArgument, "is not 64 lowercase hex digits");
}

TEST(ManifestCheckTest, PathsThatLeaveTheSnapshotAreRefused) {
  ExpectRefused(ManifestText({FileEntry("../escape.py")}), StatusCode::kInvalidArgument,
                "entries[0] '../escape.py': it has a '..' component");
  ExpectRefused(ManifestText({FileEntry("a/../../b")}), StatusCode::kInvalidArgument,
                "entries[0] 'a/../../b': it has a '..' component");
  ExpectRefused(ManifestText({FileEntry("/etc/cron.d/x")}), StatusCode::kInvalidArgument,
                "entries[0] '/etc/cron.d/x': it is absolute");
  ExpectRefused(ManifestText({FileEntry("a//b")}), StatusCode::kInvalidArgument,
                "entries[0] 'a//b': it has an empty component");
  ExpectRefused(ManifestText({FileEntry("")}), StatusCode::kInvalidArgument,
                "entries[0] '': it is empty");
  ExpectRefused(ManifestText({FileEntry("a\\u0000b")}), StatusCode::kInvalidArgument,
                "entries[0] 'a\\x00b': it holds the control character 0x00 at offset 1");
  ExpectRefused(ManifestText({FileEntry("a\\nb")}), StatusCode::kInvalidArgument,
                "entries[0] 'a\\x0Ab': it holds the control character 0x0A");
  ExpectRefused(ManifestText({FileEntry("outputs/model.pt")}), StatusCode::kInvalidArgument,
                "entries[0] 'outputs/model.pt': 'outputs' at the top is the run's artifact folder");
  ExpectRefused(ManifestText({LinkEntry("outputs", "/")}), StatusCode::kInvalidArgument,
                "entries[0] 'outputs': 'outputs' at the top");
}

TEST(ManifestCheckTest, NothingMayLieBelowALinkOrAFile) {
  // Below a link pointing out, a file would be written outside the destination.
  ExpectRefused(ManifestText({LinkEntry("lib", "/etc"), FileEntry("lib/cron")}),
                StatusCode::kInvalidArgument,
                "entries[1] 'lib/cron': lies below the symlink 'lib'; nothing is written through "
                "a link");
  // Sorted order puts "lib-x" between "lib" and "lib/..."; the check is not fooled.
  ExpectRefused(ManifestText({LinkEntry("lib", "../.."), FileEntry("lib-x"), FileEntry("lib/a/b")}),
                StatusCode::kInvalidArgument, "entries[2] 'lib/a/b': lies below the symlink 'lib'");
  ExpectRefused(ManifestText({FileEntry("a"), FileEntry("a/b")}), StatusCode::kInvalidArgument,
                "entries[1] 'a/b': lies below the file 'a'");
  ExpectRefused(ManifestText({LinkEntry("a", "b"), LinkEntry("a/c", "d")}),
                StatusCode::kInvalidArgument, "entries[1] 'a/c': lies below the symlink 'a'");
}

// A link's target may point anywhere (a data folder beside the code): it is recreated as a
// link and never followed (materialize_test.cc). Its text must still be sane.
TEST(ManifestCheckTest, LinkTargetsAreTextButMayPointOutside) {
  EXPECT_TRUE(Check(ManifestText({LinkEntry("data", "/datasets/x")})).ok());
  EXPECT_TRUE(Check(ManifestText({LinkEntry("up", "../../../etc/passwd")})).ok());
  ExpectRefused(ManifestText({LinkEntry("data", "")}), StatusCode::kInvalidArgument,
                "entries[0] 'data': the link's target is empty");
  ExpectRefused(ManifestText({LinkEntry("data", "/x\\u0000y")}), StatusCode::kInvalidArgument,
                "entries[0] 'data': the link's target: it holds the control character 0x00");
  ExpectRefused(ManifestText({LinkEntry("data", std::string(5000, 'x'))}),
                StatusCode::kInvalidArgument, "the link's target is 5000 bytes long");
}

TEST(ManifestCheckTest, DuplicatesAndDisorderAreRefused) {
  ExpectRefused(ManifestText({FileEntry("a.py"), FileEntry("a.py")}), StatusCode::kInvalidArgument,
                "entries[1] 'a.py': the path appears twice");
  ExpectRefused(ManifestText({FileEntry("a.py"), LinkEntry("a.py", "b")}),
                StatusCode::kInvalidArgument, "entries[1] 'a.py': the path appears twice");
  ExpectRefused(ManifestText({FileEntry("b.py"), FileEntry("a.py")}), StatusCode::kInvalidArgument,
                "entries[1] 'a.py': comes after 'b.py'; entries are sorted by path");
}

TEST(ManifestCheckTest, ShapeErrorsNameTheEntry) {
  ExpectRefused(ManifestText({FileEntry("a.py", kSha, "-1")}), StatusCode::kDataLoss,
                "entries[0] 'a.py': needs 'size': a whole number of bytes, 0 or more (got -1)");
  ExpectRefused(ManifestText({FileEntry("a.py", kSha, "1.5")}), StatusCode::kDataLoss, "(got 1.5)");
  ExpectRefused(ManifestText({FileEntry("a.py", kSha, "\"1\"")}), StatusCode::kDataLoss,
                "(got \"1\")");
  ExpectRefused(ManifestText({FileEntry("a.py", kSha, "18446744073709551616")}),
                StatusCode::kDataLoss, "needs 'size'");
  // Modes are not the client's to choose: a file is 0644, or 0755 when executable.
  ExpectRefused(ManifestText({R"({"executable":false,"mode":3565,"path":"a","sha256":")" + kSha +
                              R"(","size":1,"type":"file"})"}),
                StatusCode::kDataLoss, "entries[0] 'a': a file entry has no 'mode'");
  ExpectRefused(ManifestText({R"({"executable":"yes","path":"a","sha256":")" + kSha +
                              R"(","size":1,"type":"file"})"}),
                StatusCode::kDataLoss, "entries[0] 'a': needs 'executable': true or false");
  ExpectRefused(ManifestText({R"({"path":"d","type":"directory"})"}), StatusCode::kDataLoss,
                "entries[0] 'd': has type 'directory'");
  ExpectRefused(ManifestText({R"({"path":"l","type":"symlink","target":"x","size":9})"}),
                StatusCode::kDataLoss, "entries[0] 'l': a symlink entry has no 'size'");
  ExpectRefused(ManifestText({R"({"type":"file"})"}), StatusCode::kDataLoss,
                "entries[0]: needs a string 'path'");
  ExpectRefused(ManifestText({"3"}), StatusCode::kDataLoss, "entries[0]: is not an object");
  ExpectRefused(R"({"entries":[],"version":2})", StatusCode::kDataLoss, "has version 2");
  ExpectRefused(R"({"entries":{},"version":1})", StatusCode::kDataLoss, "needs an 'entries' list");
  ExpectRefused(R"({"entries":[],"version":1,"extra":0})", StatusCode::kDataLoss,
                "unknown key 'extra'");
  ExpectRefused("[1]", StatusCode::kDataLoss, "is not a JSON object");
  // Raw bytes that are not UTF-8 do not parse as JSON at all.
  ExpectRefused(ManifestText({FileEntry("caf\xE9")}), StatusCode::kDataLoss,
                "is not JSON (or not UTF-8)");
}

TEST(ManifestCheckTest, LimitsCountFilesAndBytes) {
  const SnapshotLimits limits{1000, 3};
  Manifest manifest;
  for (const char* path : {"a", "b", "c"}) {
    manifest.entries.push_back({path, EntryKind::kFile, false, 100, kSha, ""});
  }
  EXPECT_TRUE(CheckManifestLimits(manifest, limits).ok());
  manifest.entries.push_back({"d", EntryKind::kSymlink, false, 0, "", "a"});
  Status over = CheckManifestLimits(manifest, limits);
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("the snapshot holds 300 B in 4 files (the largest 'a', 100 B); "
                                "the limit is 1.0 KB and 3 files (KILN_SNAPSHOT_MAX_MB and "
                                "KILN_SNAPSHOT_MAX_FILES where the snapshot is received)"),
            std::string::npos)
      << over.message();

  // Sizes that would wrap a 64-bit sum back under the limit do not.
  Manifest huge;
  const std::uint64_t half = std::numeric_limits<std::uint64_t>::max() / 2 + 1;
  huge.entries.push_back({"a", EntryKind::kFile, false, half, kSha, ""});
  huge.entries.push_back({"b", EntryKind::kFile, false, half, kSha, ""});
  EXPECT_EQ(CheckManifestLimits(huge, limits).code(), StatusCode::kResourceExhausted);

  Manifest many;
  for (int i = 0; i < 2001; ++i) {
    many.entries.push_back({"f" + std::to_string(i), EntryKind::kSymlink, false, 0, "", "x"});
  }
  over = CheckManifestLimits(many, SnapshotLimits{300'000'000, 2000});
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("in 2,001 files"), std::string::npos) << over.message();
}

}  // namespace
}  // namespace kiln::snapshot
