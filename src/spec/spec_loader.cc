#include "spec/spec_loader.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>

#include "common/files.h"
#include "common/strings.h"
#include "spec/text_checks.h"
#include "spec/validate.h"

namespace kiln::spec {
namespace fs = std::filesystem;

namespace {

// Collects every problem of the text, then reports them together with Validate's.
class Problems {
 public:
  explicit Problems(const SpecSource& source) : source_(source) {}

  // `field` could not be read at all: the spec holds its default, which Validate's
  // problems about it would wrongly describe.
  void Field(std::string_view field, std::string problem) {
    unread_.insert(std::string(field));
    Entry(field, std::move(problem));
  }
  // One entry of a list or mapping could not be read; the others were.
  void Entry(std::string_view field, std::string problem) {
    lines_.push_back(fmt::format("{}: {}", source_.Where(field), problem));
  }
  void Param(std::string_view name, std::string problem) {
    lines_.push_back(fmt::format("{}: {}", source_.WhereParam(name), problem));
  }

  // Adds Validate's problems, except those about fields that could not be read.
  void Add(const std::vector<Problem>& problems) {
    for (const Problem& problem : problems) {
      if (!unread_.contains(problem.field)) lines_.push_back(problem.line);
    }
  }

  bool empty() const { return lines_.empty(); }
  Status ToStatus() const {
    if (lines_.empty()) return Status::Ok();
    return InvalidArgumentError(JoinStrings(lines_, "\n"));
  }

 private:
  const SpecSource& source_;
  std::vector<std::string> lines_;
  std::set<std::string> unread_;
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
                                    Problems& problems) {
  if (!node.IsScalar()) {
    problems.Field(field, fmt::format("must be an integer, got {}", TypeName(node)));
    return std::nullopt;
  }
  const std::optional<std::int64_t> value = ParseInt64(node.Scalar());
  if (!value) {
    problems.Field(field, fmt::format("must be an integer, got '{}'", node.Scalar()));
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
      problems.Entry(field, fmt::format("entry {} must be non-empty text", i + 1));
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
      problems.Entry(field, "keys must be text");
      continue;
    }
    const std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      problems.Entry(field, fmt::format("'{}' is given twice", key));
      continue;
    }
    if (item.second.IsNull()) {
      entries.emplace_back(key, "");
    } else if (item.second.IsScalar()) {
      entries.emplace_back(key, item.second.Scalar());
    } else {
      problems.Entry(field,
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

// Everything the loader gathered before reading fields.
struct Document {
  std::map<std::string, YAML::Node> fields;
  std::set<std::string> flag_fields;
  fs::path file_dir;  // where relative paths of file fields resolve
};

class Reader {
 public:
  Reader(const Document& document, const SpecOverrides& overrides, SpecSource& source)
      : document_(document), overrides_(overrides), source_(source), problems_(source) {}

  // An environment file (`kiln env register`): the `environment` field alone.
  Result<env::EnvironmentSpec> ReadEnvironmentDefinition() {
    JobSpec spec;
    ReadEnvironmentField(spec);
    if (spec.environment) problems_.Add(FindEnvironmentProblems(*spec.environment, source_));
    KILN_RETURN_IF_ERROR(problems_.ToStatus());
    if (!spec.environment) {
      return InvalidArgumentError(source_.FilePrefix() +
                                  "must be a mapping of an environment's fields (name, "
                                  "pip_packages, ...)");
    }
    return *spec.environment;
  }

  // Reads every field, then checks the values with Validate's rules.
  Result<JobSpec> Read() {
    JobSpec spec;
    ReadVersion();
    ReadSource(spec);
    ReadScriptParams(spec);
    if (const YAML::Node* node = Find("compute_target")) {
      if (auto text = ReadText(*node, "compute_target", problems_)) {
        spec.compute_target = std::string(TrimWhitespace(*text));
      }
    }
    spec.conda_packages = ReadPackages("conda_packages", overrides_.conda_packages);
    spec.pip_packages = ReadPackages("pip_packages", overrides_.pip_packages);
    if (const YAML::Node* node = Find("use_gpu")) {
      spec.use_gpu = ReadBool(*node, "use_gpu", problems_).value_or(false);
    }
    ReadCount("node_count", spec.node_count);
    ReadCount("process_count_per_node", spec.process_count_per_node);
    ReadCount("slots_per_rank", spec.slots_per_rank);
    const bool backend_ok = ReadBackend(spec);
    ReadNames(spec);
    ReadTags(spec);
    ReadEnvironment(spec);
    if (const YAML::Node* node = Find("max_run_duration_seconds")) {
      if (!node->IsNull()) {
        spec.max_run_duration_seconds = ReadInt(*node, "max_run_duration_seconds", problems_);
      }
    }
    ReadPython(spec);
    ReadEnvironmentField(spec);

    // A GPU job of several ranks talks over NCCL unless it asks for something else.
    if (backend_ok && Find("distributed_backend") == nullptr && spec.use_gpu &&
        spec.world_size() > 1) {
      spec.distributed_backend = DistributedBackend::kNccl;
    }
    problems_.Add(FindProblems(spec, source_));
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
  // `text` resolved against the folder of `field`'s origin, remembered as written.
  fs::path ResolvePath(const std::string& field, const std::string& text) {
    const fs::path resolved = AbsolutePath(BaseDir(field) / text);
    source_.RecordGivenPath(resolved.string(), text);
    return resolved;
  }

  void ReadVersion() {
    const YAML::Node* node = Find("version");
    if (node == nullptr) return;
    const std::optional<std::int64_t> version = ReadInt(*node, "version", problems_);
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
    spec.source_directory = ResolvePath("source_directory", source_text);

    const YAML::Node* entry_node = Find("entry_script");
    if (entry_node == nullptr) return;
    const std::optional<std::string> entry_text = ReadText(*entry_node, "entry_script", problems_);
    if (!entry_text || entry_text->empty()) return;
    // "./train.py" is stored as "train.py"; a path that leaves the folder stays as written,
    // for the message that refuses it.
    const fs::path entry = fs::path(*entry_text).lexically_normal();
    const bool escapes = entry.is_absolute() || entry.begin()->string() == "..";
    spec.entry_script = escapes ? *entry_text : entry.generic_string();
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
            problems_.Entry("script_params", "argument names must be non-empty text");
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
    }
    MergeByName(spec.script_params, flags, [](const ScriptParam& p) { return p.name; });
  }

  std::vector<std::string> ReadPackages(const std::string& field,
                                        const std::vector<std::string>& extra) {
    std::vector<std::string> packages;
    if (const YAML::Node* node = Find(field)) packages = ReadTextList(*node, field, problems_);
    for (const std::string& package : extra) {
      if (TrimWhitespace(package).empty()) {
        problems_.Entry(field, "package names must be non-empty");
      } else {
        packages.push_back(std::string(TrimWhitespace(package)));
      }
    }
    return packages;
  }

  // A count as written; Validate checks its bounds. One past an int's range is refused
  // here, in Validate's words.
  void ReadCount(const std::string& field, int& out) {
    const YAML::Node* node = Find(field);
    if (node == nullptr) return;
    const std::optional<std::int64_t> value = ReadInt(*node, field, problems_);
    if (!value) return;
    if (*value < std::numeric_limits<int>::min() || *value > std::numeric_limits<int>::max()) {
      problems_.Field(field, CountProblem(*value).value_or("is out of range"));
      return;
    }
    out = static_cast<int>(*value);
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
      if (auto text = ReadText(*node, "experiment", problems_)) spec.experiment = *text;
    }
    if (const YAML::Node* node = Find("display_name")) {
      if (auto text = ReadText(*node, "display_name", problems_)) spec.display_name = *text;
    }
  }

  void ReadTags(JobSpec& spec) {
    std::vector<std::pair<std::string, std::string>> tags;
    if (const YAML::Node* node = Find("tags")) tags = ReadTextMap(*node, "tags", problems_);
    MergeByName(tags, overrides_.tags, [](const auto& t) { return t.first; });
    for (auto& [key, value] : tags) spec.tags[key] = value;
  }

  void ReadEnvironment(JobSpec& spec) {
    std::vector<std::pair<std::string, std::string>> variables;
    if (const YAML::Node* node = Find("environment_variables")) {
      variables = ReadTextMap(*node, "environment_variables", problems_);
    }
    MergeByName(variables, overrides_.environment_variables, [](const auto& v) { return v.first; });
    spec.environment_variables = std::move(variables);
  }

  // An interpreter as written: a bare name ("python3.11") is looked up in PATH at submit;
  // a relative path is resolved against the folder of its origin.
  std::string ReadInterpreter(const std::string& field, const std::string& text) {
    if (fs::path(text).is_relative() && text.find('/') != std::string::npos) {
      return ResolvePath(field, text).string();
    }
    return text;
  }

  // `environment`: a registered environment's name, or a definition (docs/environments.md).
  void ReadEnvironmentField(JobSpec& spec) {
    const YAML::Node* node = Find("environment");
    if (node == nullptr || node->IsNull()) return;
    if (node->IsScalar()) {
      spec.environment_name = std::string(TrimWhitespace(node->Scalar()));
      if (spec.environment_name.empty()) {
        problems_.Field("environment",
                        "'' is not an environment name (letters, digits, '.', "
                        "'_' and '-', up to 64 characters)");
      }
      return;
    }
    if (!node->IsMap()) {
      problems_.Field("environment", fmt::format("must be a registered environment's name or a "
                                                 "mapping that defines one, got {}",
                                                 TypeName(*node)));
      return;
    }
    static const std::vector<std::string_view> kKeys = {
        "name",          "python",         "pip_packages",          "conda_packages",
        "pip_index_url", "pip_find_links", "environment_variables", "system_site_packages"};
    env::EnvironmentSpec environment;
    environment.python.clear();  // submit fills in the job's interpreter when none is given
    for (const auto& item : *node) {
      const std::string key = item.first.IsScalar() ? item.first.Scalar() : "";
      const std::string field = "environment: " + key;
      const YAML::Node& value = item.second;
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        problems_.Entry(
            "environment",
            fmt::format("unknown field '{}'; the fields are {}", key,
                        JoinStrings(std::vector<std::string>(kKeys.begin(), kKeys.end()), ", ")));
      } else if (key == "name") {
        if (auto text = ReadText(value, field, problems_)) environment.name = *text;
      } else if (key == "python") {
        if (auto text = ReadText(value, field, problems_)) {
          environment.python = ReadInterpreter("environment", *text);
        }
      } else if (key == "pip_packages") {
        environment.pip_packages = ReadTextList(value, field, problems_);
      } else if (key == "conda_packages") {
        environment.conda_packages = ReadTextList(value, field, problems_);
      } else if (key == "pip_index_url") {
        if (auto text = ReadText(value, field, problems_)) environment.pip_index_url = *text;
      } else if (key == "pip_find_links") {
        for (const std::string& link : ReadTextList(value, field, problems_)) {
          environment.pip_find_links.push_back(link.find("://") == std::string::npos
                                                   ? ResolvePath("environment", link).string()
                                                   : link);
        }
      } else if (key == "environment_variables") {
        environment.environment_variables = ReadTextMap(value, field, problems_);
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
    spec.python = ReadInterpreter("python", *text);
  }

  const Document& document_;
  const SpecOverrides& overrides_;
  SpecSource& source_;
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

// A file that is not UTF-8 is refused whole, naming the byte, its line and the top-level
// field it is in (the last line above it that starts a field).
Status CheckUtf8(std::string_view text, std::string_view label) {
  const std::optional<std::size_t> bad = FirstInvalidUtf8(text);
  if (!bad) return Status::Ok();
  const std::vector<std::string> lines = SplitString(text, '\n');
  const std::size_t line_index =
      static_cast<std::size_t>(std::count(text.begin(), text.begin() + *bad, '\n'));
  std::string field;
  for (std::size_t i = line_index + 1; i-- > 0;) {
    const std::string& line = lines[i];
    const std::size_t colon = line.find(':');
    if (!line.empty() && std::string_view(" \t#-").find(line[0]) == std::string_view::npos &&
        colon != std::string::npos) {
      field = Printable(line.substr(0, colon)) + ": ";
      break;
    }
  }
  return InvalidArgumentError(fmt::format(
      "{}: {}byte offset {} (line {}) is not valid UTF-8 (0x{:02x}); save the file as UTF-8", label,
      field, *bad, line_index + 1, static_cast<unsigned char>(text[*bad])));
}

Result<YAML::Node> ParseYaml(std::string_view text, std::string_view label) {
  KILN_RETURN_IF_ERROR(CheckUtf8(text, label));
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& error) {
    return InvalidArgumentError(fmt::format("{}:{}:{}: not valid YAML: {}", label,
                                            error.mark.line + 1, error.mark.column + 1, error.msg));
  }
}

}  // namespace

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
                                                        "slots_per_rank",
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
  SpecSource source(label, {}, {});
  const SpecOverrides overrides;
  Reader reader(document, overrides, source);
  return reader.ReadEnvironmentDefinition();
}

Result<env::EnvironmentSpec> LoadEnvironmentFromText(std::string_view yaml_text,
                                                     std::string_view label,
                                                     const fs::path& base_dir) {
  KILN_ASSIGN_OR_RETURN(const YAML::Node root, ParseYaml(yaml_text, label));
  Document document;
  document.file_dir = base_dir;
  document.fields["environment"] = root;
  SpecSource source(std::string(label), {}, {});
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
