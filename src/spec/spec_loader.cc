#include "spec/spec_loader.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::spec {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxDisplayName = 256;
constexpr std::size_t kMaxTagKey = 128;
constexpr std::size_t kMaxNameLength = 64;

// Names Kiln gives every rank; a job may not set them (docs/job-spec.md).
constexpr std::string_view kReservedVariables[] = {
    "RANK",      "WORLD_SIZE",  "LOCAL_RANK", "LOCAL_WORLD_SIZE",
    "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"};
constexpr std::string_view kReservedPrefix = "KILN_";

// Collects every problem found, then reports them together.
class Problems {
 public:
  explicit Problems(const SpecSource& source) : source_(source) {}

  void Field(std::string_view field, std::string problem) {
    lines_.push_back(fmt::format("{}: {}", source_.Where(field), problem));
  }
  void Param(std::string_view name, std::string problem) {
    lines_.push_back(fmt::format("{}: {}", source_.WhereParam(name), problem));
  }
  void General(std::string problem) { lines_.push_back(source_.FilePrefix() + problem); }

  bool empty() const { return lines_.empty(); }
  Status ToStatus() const {
    if (lines_.empty()) return Status::Ok();
    return InvalidArgumentError(JoinStrings(lines_, "\n"));
  }

 private:
  const SpecSource& source_;
  std::vector<std::string> lines_;
};

std::string_view TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a value";
  }
}

std::optional<std::string> ReadText(const YAML::Node& node, std::string_view field,
                                    Problems& problems) {
  if (!node.IsScalar()) {
    problems.Field(field, fmt::format("must be text, got {}", TypeName(node)));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::int64_t> ReadInt(const YAML::Node& node, std::string_view field,
                                    std::int64_t min_value, Problems& problems) {
  if (!node.IsScalar()) {
    problems.Field(field, fmt::format("must be an integer, got {}", TypeName(node)));
    return std::nullopt;
  }
  const std::optional<std::int64_t> value = ParseInt64(node.Scalar());
  if (!value) {
    problems.Field(field, fmt::format("must be an integer, got '{}'", node.Scalar()));
    return std::nullopt;
  }
  if (*value < min_value) {
    problems.Field(field, fmt::format("must be >= {}, got {}", min_value, *value));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ReadBool(const YAML::Node& node, std::string_view field, Problems& problems) {
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
  }
  problems.Field(field, fmt::format("must be true or false, got {}",
                                    node.IsScalar() ? "'" + node.Scalar() + "'"
                                                    : std::string(TypeName(node))));
  return std::nullopt;
}

std::vector<std::string> ReadTextList(const YAML::Node& node, std::string_view field,
                                      Problems& problems) {
  std::vector<std::string> values;
  if (node.IsNull()) return values;
  if (!node.IsSequence()) {
    problems.Field(field, fmt::format("must be a list of text, got {}", TypeName(node)));
    return values;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar() || TrimWhitespace(node[i].Scalar()).empty()) {
      problems.Field(field, fmt::format("entry {} must be non-empty text", i + 1));
      continue;
    }
    values.push_back(std::string(TrimWhitespace(node[i].Scalar())));
  }
  return values;
}

// A mapping of text to text, in document order; a key given twice is a problem.
std::vector<std::pair<std::string, std::string>> ReadTextMap(const YAML::Node& node,
                                                             std::string_view field,
                                                             Problems& problems) {
  std::vector<std::pair<std::string, std::string>> entries;
  if (node.IsNull()) return entries;
  if (!node.IsMap()) {
    problems.Field(field,
                   fmt::format("must be a mapping of names to values, got {}", TypeName(node)));
    return entries;
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) {
      problems.Field(field, "keys must be text");
      continue;
    }
    const std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      problems.Field(field, fmt::format("'{}' is given twice", key));
      continue;
    }
    if (item.second.IsNull()) {
      entries.emplace_back(key, "");
    } else if (item.second.IsScalar()) {
      entries.emplace_back(key, item.second.Scalar());
    } else {
      problems.Field(field,
                     fmt::format("{}: must be a single value, got {}", key, TypeName(item.second)));
    }
  }
  return entries;
}

// Replaces the entry with the same name, or appends.
template <typename Entry, typename NameOf>
void MergeByName(std::vector<Entry>& into, const std::vector<Entry>& from, NameOf name_of) {
  for (const Entry& entry : from) {
    auto it = std::find_if(into.begin(), into.end(),
                           [&](const Entry& e) { return name_of(e) == name_of(entry); });
    if (it != into.end()) {
      *it = entry;
    } else {
      into.push_back(entry);
    }
  }
}

bool IsValidName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]*");
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::regex_match(name.begin(), name.end(), kPattern);
}

bool IsValidVariableName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(name.begin(), name.end(), kPattern);
}

bool IsExecutableFile(const fs::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// Everything the loader gathered before reading fields.
struct Document {
  std::map<std::string, YAML::Node> fields;
  std::set<std::string> flag_fields;
  fs::path file_dir;  // where relative paths of file fields resolve
};

class Reader {
 public:
  Reader(const Document& document, const SpecOverrides& overrides, const SpecSource& source)
      : document_(document), overrides_(overrides), problems_source_(source), problems_(source) {}

  // An environment file (`kiln env register`): the `environment` field alone.
  Result<env::EnvironmentSpec> ReadEnvironmentDefinition() {
    JobSpec spec;
    ReadEnvironmentField(spec);
    KILN_RETURN_IF_ERROR(problems_.ToStatus());
    if (!spec.environment) {
      return InvalidArgumentError(problems_source_.FilePrefix() +
                                  "must be a mapping of an environment's fields (name, "
                                  "pip_packages, ...)");
    }
    return *spec.environment;
  }

  Result<JobSpec> Read() {
    JobSpec spec;
    ReadVersion();
    ReadSource(spec);
    ReadScriptParams(spec);
    if (const YAML::Node* node = Find("compute_target")) {
      if (auto text = ReadText(*node, "compute_target", problems_)) {
        if (TrimWhitespace(*text).empty()) {
          problems_.Field("compute_target", "must not be empty");
        } else {
          spec.compute_target = std::string(TrimWhitespace(*text));
        }
      }
    }
    spec.conda_packages = ReadPackages("conda_packages", overrides_.conda_packages);
    spec.pip_packages = ReadPackages("pip_packages", overrides_.pip_packages);
    if (const YAML::Node* node = Find("use_gpu")) {
      spec.use_gpu = ReadBool(*node, "use_gpu", problems_).value_or(false);
    }
    const bool node_count_ok = ReadCount("node_count", spec.node_count);
    const bool process_count_ok = ReadCount("process_count_per_node", spec.process_count_per_node);
    const bool backend_ok = ReadBackend(spec);
    ReadNames(spec);
    ReadTags(spec);
    ReadEnvironment(spec);
    if (const YAML::Node* node = Find("max_run_duration_seconds")) {
      if (!node->IsNull()) {
        spec.max_run_duration_seconds = ReadInt(*node, "max_run_duration_seconds", 1, problems_);
      }
    }
    ReadPython(spec);
    ReadEnvironmentField(spec);

    // A GPU job of several ranks talks over NCCL unless it asks for something else.
    if (backend_ok && Find("distributed_backend") == nullptr && spec.use_gpu &&
        spec.world_size() > 1) {
      spec.distributed_backend = DistributedBackend::kNccl;
    }
    if (node_count_ok && process_count_ok && backend_ok &&
        spec.distributed_backend == DistributedBackend::kNone) {
      if (spec.node_count > 1) {
        problems_.General(
            fmt::format("node_count is {} but distributed_backend is none; set mpi, gloo or nccl",
                        spec.node_count));
      } else if (spec.process_count_per_node > 1) {
        problems_.General(fmt::format(
            "process_count_per_node is {} but distributed_backend is none; set mpi, gloo or "
            "nccl",
            spec.process_count_per_node));
      }
    }
    if (!problems_.empty()) return problems_.ToStatus();
    return spec;
  }

 private:
  const YAML::Node* Find(const std::string& field) const {
    auto it = document_.fields.find(field);
    return it == document_.fields.end() ? nullptr : &it->second;
  }
  fs::path BaseDir(const std::string& field) const {
    return document_.flag_fields.contains(field) ? overrides_.base_dir : document_.file_dir;
  }

  void ReadVersion() {
    const YAML::Node* node = Find("version");
    if (node == nullptr) return;
    const std::optional<std::int64_t> version = ReadInt(*node, "version", 1, problems_);
    if (version && *version != kJobSpecVersion) {
      problems_.Field("version", fmt::format("this Kiln reads job files of version {}, got {}",
                                             kJobSpecVersion, *version));
    }
  }

  void ReadSource(JobSpec& spec) {
    std::string source_text = ".";
    if (const YAML::Node* node = Find("source_directory")) {
      const std::optional<std::string> text = ReadText(*node, "source_directory", problems_);
      if (!text) return;
      source_text = *text;
    }
    const fs::path source = AbsolutePath(BaseDir("source_directory") / source_text);
    std::error_code error;
    if (!fs::exists(source, error)) {
      problems_.Field("source_directory", fmt::format("'{}' does not exist", source_text));
      return;
    }
    if (!fs::is_directory(source, error)) {
      problems_.Field("source_directory", fmt::format("'{}' is not a directory", source_text));
      return;
    }
    spec.source_directory = source;

    const YAML::Node* entry_node = Find("entry_script");
    if (entry_node == nullptr) {
      problems_.Field("entry_script",
                      "is required: the script or program to run, relative to source_directory");
      return;
    }
    const std::optional<std::string> entry_text = ReadText(*entry_node, "entry_script", problems_);
    if (!entry_text) return;
    const fs::path entry = fs::path(*entry_text).lexically_normal();
    if (entry_text->empty()) {
      problems_.Field("entry_script", "must not be empty");
      return;
    }
    if (entry.is_absolute() || entry.begin()->string() == "..") {
      problems_.Field("entry_script",
                      fmt::format("must be a path inside source_directory '{}', got '{}'",
                                  source_text, *entry_text));
      return;
    }
    const fs::path entry_path = source / entry;
    if (!fs::is_regular_file(entry_path, error)) {
      problems_.Field("entry_script", fmt::format("'{}' not found in source_directory '{}'",
                                                  *entry_text, source_text));
      return;
    }
    spec.entry_script = entry.generic_string();
    if (!spec.entry_is_python() && ::access(entry_path.c_str(), X_OK) != 0) {
      problems_.Field("entry_script",
                      fmt::format("'{}' is not a .py script and is not executable; make it "
                                  "executable (chmod +x) or name a .py script",
                                  *entry_text));
    }
  }

  void ReadScriptParams(JobSpec& spec) {
    if (const YAML::Node* node = Find("script_params"); node != nullptr && !node->IsNull()) {
      if (!node->IsMap()) {
        problems_.Field("script_params",
                        fmt::format("must be a mapping of arguments to values (--epochs: 2), "
                                    "got {}",
                                    TypeName(*node)));
      } else {
        std::set<std::string> seen;
        for (const auto& item : *node) {
          if (!item.first.IsScalar() || item.first.Scalar().empty()) {
            problems_.Field("script_params", "argument names must be non-empty text");
            continue;
          }
          const std::string name = item.first.Scalar();
          if (!seen.insert(name).second) {
            problems_.Param(name, "is given twice");
            continue;
          }
          ScriptParam param{name, std::nullopt};
          if (item.second.IsScalar()) {
            if (!item.second.Scalar().empty()) param.value = item.second.Scalar();
          } else if (!item.second.IsNull()) {
            problems_.Param(name, fmt::format("must be a single value (text, a number or a "
                                              "datastore reference), got {}",
                                              TypeName(item.second)));
            continue;
          }
          spec.script_params.push_back(std::move(param));
        }
      }
    }
    std::vector<ScriptParam> flags = overrides_.script_params;
    for (ScriptParam& param : flags) {
      if (param.value && param.value->empty()) param.value.reset();
      if (param.name.empty()) problems_.Param(param.name, "argument names must be non-empty");
    }
    MergeByName(spec.script_params, flags, [](const ScriptParam& p) { return p.name; });
  }

  std::vector<std::string> ReadPackages(const std::string& field,
                                        const std::vector<std::string>& extra) {
    std::vector<std::string> packages;
    if (const YAML::Node* node = Find(field)) packages = ReadTextList(*node, field, problems_);
    for (const std::string& package : extra) {
      if (TrimWhitespace(package).empty()) {
        problems_.Field(field, "package names must be non-empty");
      } else {
        packages.push_back(std::string(TrimWhitespace(package)));
      }
    }
    return packages;
  }

  bool ReadCount(const std::string& field, int& out) {
    constexpr std::int64_t kMaxCount = 100000;
    const YAML::Node* node = Find(field);
    if (node == nullptr) return true;
    const std::optional<std::int64_t> value = ReadInt(*node, field, 1, problems_);
    if (!value) return false;
    if (*value > kMaxCount) {
      problems_.Field(field, fmt::format("must be <= {}, got {}", kMaxCount, *value));
      return false;
    }
    out = static_cast<int>(*value);
    return true;
  }

  bool ReadBackend(JobSpec& spec) {
    const YAML::Node* node = Find("distributed_backend");
    if (node == nullptr || node->IsNull()) return true;
    const std::optional<std::string> text = ReadText(*node, "distributed_backend", problems_);
    if (!text) return false;
    const std::optional<DistributedBackend> backend = ParseBackend(*text);
    if (!backend) {
      problems_.Field("distributed_backend",
                      fmt::format("must be one of none, mpi, gloo, nccl; got '{}'", *text));
      return false;
    }
    spec.distributed_backend = *backend;
    return true;
  }

  void ReadNames(JobSpec& spec) {
    if (const YAML::Node* node = Find("experiment")) {
      if (auto text = ReadText(*node, "experiment", problems_)) {
        if (!IsValidName(*text)) {
          problems_.Field("experiment",
                          fmt::format("must be 1 to {} letters, digits, '.', '_' or '-', "
                                      "starting with a letter or digit; got '{}'",
                                      kMaxNameLength, *text));
        } else {
          spec.experiment = *text;
        }
      }
    }
    if (const YAML::Node* node = Find("display_name")) {
      if (auto text = ReadText(*node, "display_name", problems_)) {
        if (text->size() > kMaxDisplayName) {
          problems_.Field("display_name", fmt::format("must be at most {} characters, got {}",
                                                      kMaxDisplayName, text->size()));
        } else {
          spec.display_name = *text;
        }
      }
    }
  }

  void ReadTags(JobSpec& spec) {
    std::vector<std::pair<std::string, std::string>> tags;
    if (const YAML::Node* node = Find("tags")) tags = ReadTextMap(*node, "tags", problems_);
    MergeByName(tags, overrides_.tags, [](const auto& t) { return t.first; });
    for (auto& [key, value] : tags) {
      if (key.empty() || key.size() > kMaxTagKey) {
        problems_.Field("tags",
                        fmt::format("keys must be 1 to {} characters, got '{}'", kMaxTagKey, key));
        continue;
      }
      spec.tags[key] = value;
    }
  }

  void ReadEnvironment(JobSpec& spec) {
    std::vector<std::pair<std::string, std::string>> variables;
    if (const YAML::Node* node = Find("environment_variables")) {
      variables = ReadTextMap(*node, "environment_variables", problems_);
    }
    MergeByName(variables, overrides_.environment_variables, [](const auto& v) { return v.first; });
    spec.environment_variables = CheckVariables(variables, "environment_variables");
  }

  // Variables a rank may be given: valid names, none that Kiln sets itself.
  std::vector<std::pair<std::string, std::string>> CheckVariables(
      const std::vector<std::pair<std::string, std::string>>& variables, const std::string& field) {
    std::vector<std::pair<std::string, std::string>> valid;
    for (const auto& [name, value] : variables) {
      if (!IsValidVariableName(name)) {
        problems_.Field(field,
                        fmt::format("'{}' is not a valid variable name (letters, digits and "
                                    "'_', not starting with a digit)",
                                    name));
        continue;
      }
      const bool reserved = name.starts_with(kReservedPrefix) ||
                            std::find(std::begin(kReservedVariables), std::end(kReservedVariables),
                                      name) != std::end(kReservedVariables);
      if (reserved) {
        problems_.Field(field,
                        fmt::format("{} is set by Kiln for every rank and cannot be set by "
                                    "the job",
                                    name));
        continue;
      }
      valid.emplace_back(name, value);
    }
    return valid;
  }

  // `environment`: a registered environment's name, or a definition (docs/environments.md).
  void ReadEnvironmentField(JobSpec& spec) {
    const YAML::Node* node = Find("environment");
    if (node == nullptr || node->IsNull()) return;
    if (node->IsScalar()) {
      const std::string name(TrimWhitespace(node->Scalar()));
      if (!IsValidName(name)) {
        problems_.Field("environment",
                        fmt::format("'{}' is not an environment name (letters, digits, '.', '_' "
                                    "and '-', up to {} characters)",
                                    name, kMaxNameLength));
        return;
      }
      spec.environment_name = name;
      return;
    }
    if (!node->IsMap()) {
      problems_.Field("environment", fmt::format("must be a registered environment's name or a "
                                                 "mapping that defines one, got {}",
                                                 TypeName(*node)));
      return;
    }
    static const std::vector<std::string_view> kKeys = {
        "name", "python", "pip_packages", "conda_packages", "pip_index_url", "pip_find_links",
        "environment_variables", "system_site_packages"};
    env::EnvironmentSpec environment;
    environment.python.clear();  // submit fills in the job's interpreter when none is given
    for (const auto& item : *node) {
      const std::string key = item.first.IsScalar() ? item.first.Scalar() : "";
      const std::string field = "environment: " + key;
      const YAML::Node& value = item.second;
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        problems_.Field("environment", fmt::format("unknown field '{}'; the fields are {}", key,
                                                   JoinStrings(std::vector<std::string>(
                                                                   kKeys.begin(), kKeys.end()),
                                                               ", ")));
      } else if (key == "name") {
        if (auto text = ReadText(value, field, problems_)) {
          if (!IsValidName(*text)) {
            problems_.Field(field, fmt::format("'{}' is not an environment name", *text));
          }
          environment.name = *text;
        }
      } else if (key == "python") {
        if (auto text = ReadText(value, field, problems_)) {
          // A bare name ("python3.11") is looked up in PATH at submit.
          fs::path python = *text;
          if (python.is_relative() && text->find('/') != std::string::npos) {
            python = AbsolutePath(BaseDir("environment") / python);
          }
          if (python.is_absolute() && !IsExecutableFile(python)) {
            problems_.Field(field, fmt::format("'{}' is not an executable file", *text));
          }
          environment.python = python.string();
        }
      } else if (key == "pip_packages") {
        environment.pip_packages = ReadTextList(value, field, problems_);
      } else if (key == "conda_packages") {
        environment.conda_packages = ReadTextList(value, field, problems_);
      } else if (key == "pip_index_url") {
        if (auto text = ReadText(value, field, problems_)) environment.pip_index_url = *text;
      } else if (key == "pip_find_links") {
        for (std::string link : ReadTextList(value, field, problems_)) {
          if (link.find("://") == std::string::npos) {
            const fs::path folder = AbsolutePath(BaseDir("environment") / link);
            std::error_code error;
            if (!fs::is_directory(folder, error)) {
              problems_.Field(field, fmt::format("'{}' is not a folder", link));
            }
            link = folder.string();
          }
          environment.pip_find_links.push_back(link);
        }
      } else if (key == "environment_variables") {
        environment.environment_variables =
            CheckVariables(ReadTextMap(value, field, problems_), field);
      } else if (key == "system_site_packages") {
        environment.system_site_packages = ReadBool(value, field, problems_).value_or(true);
      }
    }
    spec.environment = std::move(environment);
  }

  void ReadPython(JobSpec& spec) {
    const YAML::Node* node = Find("python");
    if (node == nullptr || node->IsNull()) return;
    const std::optional<std::string> text = ReadText(*node, "python", problems_);
    if (!text || text->empty()) return;
    fs::path interpreter = *text;
    if (interpreter.is_relative() && text->find('/') != std::string::npos) {
      interpreter = AbsolutePath(BaseDir("python") / interpreter);
    }
    if (interpreter.is_absolute() && !IsExecutableFile(interpreter)) {
      problems_.Field("python", fmt::format("'{}' is not an executable file", *text));
      return;
    }
    spec.python = interpreter.string();
  }

  const Document& document_;
  const SpecOverrides& overrides_;
  const SpecSource& problems_source_;
  Problems problems_;
};

std::string FieldList() {
  std::vector<std::string> names(KnownFields().begin(), KnownFields().end());
  return JoinStrings(names, ", ");
}

Result<LoadedJob> Load(const YAML::Node* root, std::string_view label,
                       const std::optional<fs::path>& job_file, const fs::path& file_dir,
                       const SpecOverrides& overrides) {
  Document document;
  document.file_dir = file_dir;
  std::vector<std::string> structure_problems;
  const std::string prefix = label.empty() ? "" : std::string(label) + ": ";

  if (root != nullptr && !root->IsNull()) {
    if (!root->IsMap()) {
      return InvalidArgumentError(fmt::format(
          "{}must be a mapping of fields (source_directory: ..., entry_script: ...), got {}",
          prefix, TypeName(*root)));
    }
    for (const auto& item : *root) {
      if (!item.first.IsScalar()) {
        structure_problems.push_back(prefix + "field names must be text");
        continue;
      }
      const std::string key = item.first.Scalar();
      const auto& known = KnownFields();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        const std::optional<std::string> suggestion = ClosestMatch(key, known);
        structure_problems.push_back(
            suggestion
                ? fmt::format("{}unknown field '{}'; did you mean '{}'?", prefix, key, *suggestion)
                : fmt::format("{}unknown field '{}'; the fields are: {}", prefix, key,
                              FieldList()));
        continue;
      }
      if (!document.fields.emplace(key, item.second).second) {
        structure_problems.push_back(fmt::format("{}{}: is given twice", prefix, key));
      }
    }
  }
  for (const auto& [field, text] : overrides.scalars) {
    const auto& known = KnownFields();
    if (std::find(known.begin(), known.end(), field) == known.end()) {
      return InternalError(fmt::format("flag override for unknown field '{}'", field));
    }
    document.fields[field] = YAML::Node(text);
    document.flag_fields.insert(field);
  }
  std::set<std::string> flag_params;
  for (const ScriptParam& param : overrides.script_params) flag_params.insert(param.name);
  if (!overrides.script_params.empty() && !document.fields.contains("script_params")) {
    document.flag_fields.insert("script_params");
  }
  const auto mark_flagged = [&](std::string_view field, bool given) {
    if (given && !document.fields.contains(std::string(field))) {
      document.flag_fields.insert(std::string(field));
    }
  };
  mark_flagged("tags", !overrides.tags.empty());
  mark_flagged("environment_variables", !overrides.environment_variables.empty());
  mark_flagged("conda_packages", !overrides.conda_packages.empty());
  mark_flagged("pip_packages", !overrides.pip_packages.empty());

  LoadedJob loaded;
  loaded.job_file = job_file;
  loaded.source = SpecSource(std::string(label), document.flag_fields, flag_params);
  Reader reader(document, overrides, loaded.source);
  Result<JobSpec> spec = reader.Read();
  if (!structure_problems.empty()) {
    std::string message = JoinStrings(structure_problems, "\n");
    if (!spec.ok()) message += "\n" + spec.status().message();
    return InvalidArgumentError(std::move(message));
  }
  if (!spec.ok()) return std::move(spec).status();
  loaded.spec = std::move(spec).value();
  return loaded;
}

Result<YAML::Node> ParseYaml(std::string_view text, std::string_view label) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& error) {
    return InvalidArgumentError(fmt::format("{}:{}:{}: not valid YAML: {}", label,
                                            error.mark.line + 1, error.mark.column + 1, error.msg));
  }
}

}  // namespace

std::string SpecSource::Where(std::string_view field) const {
  if (flag_fields_.contains(std::string(field)) || file_label_.empty()) {
    return FlagForField(field);
  }
  return fmt::format("{}: {}", file_label_, field);
}

std::string SpecSource::WhereParam(std::string_view param_name) const {
  if (flag_params_.contains(std::string(param_name)) || file_label_.empty()) {
    return fmt::format("--script-param {}", param_name);
  }
  return fmt::format("{}: script_params: {}", file_label_, param_name);
}

std::string SpecSource::FilePrefix() const { return file_label_.empty() ? "" : file_label_ + ": "; }

std::string FlagForField(std::string_view field) {
  if (field == "script_params") return "--script-param";
  if (field == "conda_packages") return "--conda-package";
  if (field == "pip_packages") return "--pip-package";
  if (field == "tags") return "--tag";
  if (field == "environment_variables") return "--env";
  std::string flag = "--";
  for (char c : field) flag += c == '_' ? '-' : c;
  return flag;
}

const std::vector<std::string_view>& KnownFields() {
  static const std::vector<std::string_view> kFields = {"version",
                                                        "source_directory",
                                                        "entry_script",
                                                        "script_params",
                                                        "compute_target",
                                                        "conda_packages",
                                                        "pip_packages",
                                                        "use_gpu",
                                                        "node_count",
                                                        "process_count_per_node",
                                                        "distributed_backend",
                                                        "experiment",
                                                        "display_name",
                                                        "tags",
                                                        "environment_variables",
                                                        "max_run_duration_seconds",
                                                        "python",
                                                        "environment"};
  return kFields;
}

Result<LoadedJob> LoadJobSpec(const std::optional<fs::path>& job_file,
                              const SpecOverrides& overrides) {
  if (!job_file) return Load(nullptr, "", std::nullopt, overrides.base_dir, overrides);
  const std::string label = job_file->string();
  const Result<std::string> text = ReadFileToString(*job_file);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return InvalidArgumentError(fmt::format("{}: job file does not exist", label));
    }
    return text.status().WithPrefix(label);
  }
  const fs::path absolute = AbsolutePath(*job_file);
  KILN_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(*text, label));
  return Load(&root, label, absolute, absolute.parent_path(), overrides);
}

Result<env::EnvironmentSpec> LoadEnvironmentFile(const fs::path& file) {
  const std::string label = file.string();
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(file));
  KILN_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(text, label));
  Document document;
  document.file_dir = AbsolutePath(file).parent_path();
  document.fields["environment"] = root;
  const SpecSource source(label, {}, {});
  const SpecOverrides overrides;
  Reader reader(document, overrides, source);
  return reader.ReadEnvironmentDefinition();
}

Result<LoadedJob> LoadJobSpecFromText(std::string_view yaml_text, std::string_view label,
                                      const fs::path& base_dir, const SpecOverrides& overrides) {
  KILN_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(yaml_text, label));
  return Load(&root, label, std::nullopt, base_dir, overrides);
}

}  // namespace kiln::spec
