#pragma once

// Changing what describes a run after submit: its display name, description and tags, and
// archiving it (kiln tag / untag / edit / archive / restore, PATCH /v1/runs/{id},
// Run.tag() and friends in the Python SDK). The same rules as a job spec's fields
// (spec/run_labels.h).

#include <string_view>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

// InvalidArgument naming the member and the value when the edit breaks a rule, changes
// nothing, or both sets and removes one tag.
Status CheckRunEdit(const store::RunEdit& edit);

// Checks the edit, then applies it in one transaction; returns the run as it is afterwards.
Result<store::Run> EditRun(Workspace& workspace, std::string_view run_id,
                           const store::RunEdit& edit);

}  // namespace kiln::client
