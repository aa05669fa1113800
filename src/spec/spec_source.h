#pragma once

// SpecSource: where each field of a JobSpec came from (a job file, a flag, a client's
// request), so every check words its errors the same way: "job.yaml: node_count",
// "--node-count", "job.yaml: script_params: --lr".

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace kiln::spec {

class SpecSource {
 public:
  SpecSource() = default;
  SpecSource(std::string file_label, std::set<std::string> flag_fields,
             std::set<std::string> flag_params)
      : file_label_(std::move(file_label)),
        flag_fields_(std::move(flag_fields)),
        flag_params_(std::move(flag_params)) {}

  // "job.yaml: node_count", or "--node-count" when a flag set it.
  std::string Where(std::string_view field) const;
  // "job.yaml: script_params: --data_dir", or "--script-param --data_dir".
  std::string WhereParam(std::string_view param_name) const;
  // "job.yaml: " (empty when there is no file): the prefix of a message about several
  // fields.
  std::string FilePrefix() const;

  // Paths are stored absolute; messages quote them as the user wrote them ("./proj").
  // `AsGiven` returns the text recorded for `resolved`, or `resolved` itself.
  void RecordGivenPath(std::string resolved, std::string given) {
    given_paths_[std::move(resolved)] = std::move(given);
  }
  std::string AsGiven(const std::string& resolved) const;

  const std::string& file_label() const { return file_label_; }
  const std::set<std::string>& flag_fields() const { return flag_fields_; }
  const std::set<std::string>& flag_params() const { return flag_params_; }

 private:
  std::string file_label_;
  std::set<std::string> flag_fields_;
  std::set<std::string> flag_params_;
  std::map<std::string, std::string> given_paths_;
};

// The flag that sets `field` ("node_count" -> "--node-count", "script_params" ->
// "--script-param").
std::string FlagForField(std::string_view field);

}  // namespace kiln::spec
