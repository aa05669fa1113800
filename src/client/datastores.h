#pragma once

// Registering a datastore from a client. The folder must exist where the runs run: on this
// machine for the embedded store, on the server's for a Kiln server, which checks it there.

#include <filesystem>
#include <string_view>

#include "client/workspace.h"
#include "common/status.h"

namespace kiln::client {

// As data::RegisterDatastore; a relative path is taken from the current directory.
Status RegisterDatastore(Workspace& workspace, std::string_view name,
                         const std::filesystem::path& path);

}  // namespace kiln::client
