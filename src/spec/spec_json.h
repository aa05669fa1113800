#pragma once

// The JSON form of a JobSpec, as stored with each run and written into plan.json.
// Field names are the job file's; docs/job-spec.md describes both forms.

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "spec/job_spec.h"

namespace kiln::spec {

nlohmann::json SpecToJson(const JobSpec& spec);

// Reads what SpecToJson wrote. A missing or mistyped field is a DataLoss error: this is
// stored data, not user input.
Result<JobSpec> SpecFromJson(const nlohmann::json& json);

}  // namespace kiln::spec
