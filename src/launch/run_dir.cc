#include "launch/run_dir.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/files.h"

namespace kiln::launch {

Status RunDir::Create() const {
  KILN_RETURN_IF_ERROR(CreateDirectories(root_.parent_path()));
  // 0700: plan.json, logs and outputs are the owner's alone.
  if (::mkdir(root_.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      return AlreadyExistsError(fmt::format("run directory {} exists already", root_.string()));
    }
    return ErrnoError(fmt::format("cannot create run directory {}", root_.string()), errno);
  }
  for (const std::filesystem::path& folder : {logs(), outputs(), script_logs(), metrics()}) {
    KILN_RETURN_IF_ERROR(CreateDirectories(folder));
  }
  return Status::Ok();
}

}  // namespace kiln::launch
