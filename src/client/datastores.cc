#include "client/datastores.h"

#include "common/files.h"
#include "data/resolver.h"

namespace kiln::client {

Status RegisterDatastore(Workspace& workspace, std::string_view name,
                         const std::filesystem::path& path) {
  if (workspace.server() == nullptr) return data::RegisterDatastore(workspace.store(), name, path);
  store::Datastore datastore;
  datastore.name = std::string(name);
  datastore.path = AbsolutePath(path).string();
  return workspace.store().RegisterDatastore(datastore);
}

}  // namespace kiln::client
