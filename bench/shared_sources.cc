// What runs of one large source cost on disk: 100 runs (`kiln submit --wait`) of a 200 MB
// source (20 files of 10 MB), and the disk the filesystem gives up for them (statvfs, before
// and after: shared blocks count once, as they do on the disk; the store's file and journal
// left out), next to the source's size, on each filesystem it can use:
//   - the filesystem of $TMPDIR (here ext4: no reflinks, each run copies its source);
//   - XFS (reflink=1) and btrfs on loop-mounted image files, when run as root with mkfs.xfs
//     and mkfs.btrfs installed (apt install xfsprogs btrfs-progs): each run's files share
//     the snapshot's blocks (snapshot/materialize.cc), so a run costs its metadata.
//
//   build/bench/shared_sources [runs [files [mb_per_file]]]

#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/strings.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;

// The store's file and journal: counted apart, so the figures are the runs' and snapshots'.
std::uint64_t StoreBytes(const fs::path& home) {
  std::uint64_t bytes = 0;
  for (const char* name : {"kiln.db", "kiln.db-wal", "kiln.db-shm"}) {
    std::error_code error;
    const std::uintmax_t size = fs::file_size(home / name, error);
    if (!error) bytes += size;
  }
  return bytes;
}

std::uint64_t UsedBytes(const fs::path& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.f_blocks - info.f_bfree) * info.f_frsize;
}

bool Run(const std::vector<std::string>& argv) {
  SpawnOptions options;
  options.argv = argv;
  const Result<CapturedRun> run = RunAndCapture(options, std::chrono::seconds(600));
  return run.ok() && run->exit.success();
}

// Submits `runs` runs of `source` with KILN_HOME under `root`; prints the figures.
void Measure(const std::string& label, const fs::path& root, const fs::path& source, int runs,
             std::uint64_t source_bytes) {
  const fs::path home = root / "kiln-home";
  fs::create_directories(home);
  ::sync();
  const std::uint64_t before = UsedBytes(root) - StoreBytes(home);
  SpawnOptions submit;
  submit.argv = {KILN_BINARY, "submit", "--source-directory", source.string(), "--entry-script",
                 "train.py",  "--wait"};
  submit.env = KilnEnvironment(home, {"KILN_SNAPSHOT_MAX_MB=100000"});
  const auto start = std::chrono::steady_clock::now();
  TimeCommand(submit);
  ::sync();
  const std::uint64_t after_first = UsedBytes(root) - StoreBytes(home);
  for (int i = 1; i < runs; ++i) TimeCommand(submit);
  ::sync();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t after = UsedBytes(root) - StoreBytes(home);
  const double per_run = static_cast<double>(after - after_first) / std::max(1, runs - 1);
  fmt::print(
      "{:<24} {} runs: disk used {} ({:.1f}x the source); the first run with the snapshot {}, "
      "each further run {} (target: a few KB); {:.1f} s\n",
      label, runs, HumanBytes(after - before),
      static_cast<double>(after - before) / static_cast<double>(source_bytes),
      HumanBytes(after_first - before), HumanBytes(static_cast<std::uint64_t>(per_run)), seconds);
  RemoveTree(home).IgnoreError();
}

// Makes a filesystem of `type` in an image file under `scratch`, mounted at a new folder;
// returns the mount point, or "" when it cannot (not root, no mkfs).
fs::path MountImage(const fs::path& scratch, const std::string& type, std::uint64_t bytes) {
  const std::string mkfs = "/usr/sbin/mkfs." + type;
  if (::geteuid() != 0 || ::access(mkfs.c_str(), X_OK) != 0) return {};
  const fs::path image = scratch / (type + ".img");
  const fs::path mount = scratch / type;
  fs::create_directories(mount);
  if (!Run({"truncate", "-s", std::to_string(bytes), image.string()})) return {};
  const std::vector<std::string> make =
      type == "xfs" ? std::vector<std::string>{mkfs, "-q", "-m", "reflink=1", image.string()}
                    : std::vector<std::string>{mkfs, "-q", image.string()};
  if (!Run(make) || !Run({"mount", "-o", "loop", image.string(), mount.string()})) return {};
  return mount;
}

int Main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 100;
  const int files = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::size_t mb = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 10;
  TestDir scratch;
  const fs::path source = scratch.path() / "source";
  fs::create_directories(source);
  const std::uint64_t source_bytes = static_cast<std::uint64_t>(files) * mb << 20;
  for (int i = 0; i < files; ++i) {
    if (!WriteDistinctFile(source / fmt::format("weights_{:03}.bin", i), mb << 20, i + 1)) {
      fmt::print(stderr, "cannot write the source\n");
      return 1;
    }
  }
  if (!WriteFileAtomically(source / "train.py", "print('ran')\n").ok()) return 1;
  fmt::print("source: {} in {} files\n", HumanBytes(source_bytes), files);

  Measure("$TMPDIR (" + scratch.path().parent_path().string() + ")", scratch.path(), source, runs,
          source_bytes);
  for (const std::string type : {"xfs", "btrfs"}) {
    const fs::path mount = MountImage(scratch.path(), type, source_bytes * 4 + (2ULL << 30));
    if (mount.empty()) {
      fmt::print("{:<24} skipped: needs root and mkfs.{}\n", type, type);
      continue;
    }
    Measure(type + " (loop image)", mount, source, runs, source_bytes);
    ::umount(mount.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) { return kiln::bench::Main(argc, argv); }
