#include "data/resolver.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::data {
namespace fs = std::filesystem;

Result<ResolvedParams> ResolveScriptParams(const std::vector<spec::ScriptParam>& params,
                                           const spec::SpecSource& source, store::Store& store,
                                           const fs::path& run_dir) {
  ResolvedParams resolved;
  std::vector<std::string> problems;
  for (const spec::ScriptParam& param : params) {
    store::RunParam run_param{param.name, param.value, param.value};
    if (!param.value) {
      resolved.params.push_back(std::move(run_param));
      continue;
    }
    const std::string where = source.WhereParam(param.name);
    const Result<std::vector<DatastoreRef>> refs = FindReferences(*param.value);
    if (!refs.ok()) {
      problems.push_back(fmt::format("{}: {}", where, refs.status().message()));
      continue;
    }
    std::string value;
    std::size_t copied_up_to = 0;
    for (const DatastoreRef& ref : *refs) {
      value += param.value->substr(copied_up_to, ref.begin - copied_up_to);
      copied_up_to = ref.end;
      const std::string written = param.value->substr(ref.begin, ref.end - ref.begin);
      const Result<store::Datastore> datastore = store.GetDatastore(ref.datastore);
      if (!datastore.ok()) {
        if (datastore.status().code() != StatusCode::kNotFound) return datastore.status();
        problems.push_back(fmt::format(
            "{}: datastore '{}' is not registered; register it with 'kiln datastore register {} "
            "--path DIR'",
            where, ref.datastore, ref.datastore));
        continue;
      }
      DataBinding binding;
      binding.param = param.name;
      binding.datastore = ref.datastore;
      binding.sub_path = ref.sub_path;
      binding.mode = ref.mode;
      binding.source = fs::path(datastore->path);
      if (!ref.sub_path.empty()) binding.source /= ref.sub_path;
      std::error_code error;
      if (!fs::exists(binding.source, error)) {
        problems.push_back(fmt::format("{}: '{}' is {}, which does not exist", where, written,
                                       binding.source.string()));
        continue;
      }
      binding.target = binding.source;
      if (ref.mode == DataMode::kDownload) {
        binding.target = run_dir / "data" / ref.datastore;
        if (!ref.sub_path.empty()) binding.target /= ref.sub_path;
      }
      value += binding.target.string();
      resolved.bindings.push_back(std::move(binding));
    }
    value += param.value->substr(copied_up_to);
    run_param.resolved = std::move(value);
    resolved.params.push_back(std::move(run_param));
  }
  if (!problems.empty()) return InvalidArgumentError(JoinStrings(problems, "\n"));
  return resolved;
}

Status DownloadBindings(const std::vector<DataBinding>& bindings) {
  std::vector<const DataBinding*> downloads;
  for (const DataBinding& binding : bindings) {
    if (binding.mode == DataMode::kDownload) downloads.push_back(&binding);
  }
  // Shortest targets first, so a folder is copied before anything inside it is considered.
  std::sort(downloads.begin(), downloads.end(), [](const DataBinding* a, const DataBinding* b) {
    return a->target.string().size() < b->target.string().size();
  });
  std::vector<fs::path> done;
  for (const DataBinding* binding : downloads) {
    const std::string target = binding->target.string();
    const bool covered = std::any_of(done.begin(), done.end(), [&](const fs::path& copied) {
      const std::string prefix = copied.string();
      return target == prefix || target.starts_with(prefix + "/");
    });
    if (covered) continue;
    KILN_RETURN_IF_ERROR(CreateDirectories(binding->target.parent_path()));
    Status copied = CopyTree(binding->source, binding->target);
    if (!copied.ok()) {
      return copied.WithPrefix(fmt::format("downloading datastore '{}' ({}) for {}",
                                           binding->datastore, binding->source.string(),
                                           binding->param));
    }
    done.push_back(binding->target);
  }
  return Status::Ok();
}

Status RegisterDatastore(store::Store& store, std::string_view name, const fs::path& path) {
  if (!IsValidDatastoreName(name)) {
    return InvalidArgumentError(fmt::format(
        "datastore name '{}' is not valid: use 1 to 64 letters, digits, '_' or '-', starting "
        "with a letter or digit",
        name));
  }
  const fs::path absolute = AbsolutePath(path);
  std::error_code error;
  if (!fs::exists(absolute, error)) {
    return InvalidArgumentError(fmt::format("--path: '{}' does not exist", path.string()));
  }
  if (!fs::is_directory(absolute, error)) {
    return InvalidArgumentError(fmt::format("--path: '{}' is not a folder", path.string()));
  }
  store::Datastore datastore;
  datastore.name = std::string(name);
  datastore.path = absolute.string();
  return store.RegisterDatastore(datastore);
}

}  // namespace kiln::data
