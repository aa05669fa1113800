#pragma once

// Resolving datastore references in a job's script parameters against the registry, and
// copying the `download` ones into a run directory.
//
// Resolution happens at submit, before anything is created: an unregistered datastore or a
// path that does not exist fails the submit. Copies happen in the launcher (Preparing),
// where the run's files live.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "data/datastore_ref.h"
#include "spec/job_spec.h"
#include "spec/spec_loader.h"
#include "store/records.h"
#include "store/store.h"

namespace kiln::data {

// One reference, resolved.
struct DataBinding {
  std::string param;  // the script parameter holding it
  std::string datastore;
  std::string sub_path;
  DataMode mode = DataMode::kMount;
  std::filesystem::path source;  // on the datastore
  std::filesystem::path target;  // what the run sees: `source` when mounted
};

struct ResolvedParams {
  std::vector<store::RunParam> params;  // value as written and as resolved
  std::vector<DataBinding> bindings;
};

// Download targets go under `run_dir`/data/<datastore>/<sub path>. Errors are
// InvalidArgument, worded with `source` ("job.yaml: script_params: --data_dir: ...").
Result<ResolvedParams> ResolveScriptParams(const std::vector<spec::ScriptParam>& params,
                                           const spec::SpecSource& source, store::Store& store,
                                           const std::filesystem::path& run_dir);

// Copies each download binding's source to its target; a target inside another one that
// is copied is skipped. Internal/NotFound errors name the datastore and path.
Status DownloadBindings(const std::vector<DataBinding>& bindings);

// Registers a local folder as a datastore. InvalidArgument for a bad name or a path that
// is not an existing folder; AlreadyExists when the name is taken.
Status RegisterDatastore(store::Store& store, std::string_view name,
                         const std::filesystem::path& path);

}  // namespace kiln::data
