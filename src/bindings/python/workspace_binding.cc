// kiln._core.Workspace: the SDK's way into Kiln, over the same client/ calls as the kiln
// command, so a run submitted from Python is made exactly as `kiln submit` makes it.

#include <dlfcn.h>
#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "bindings/python/status_exception.h"
#include "client/artifacts.h"
#include "client/cancel.h"
#include "client/datastores.h"
#include "client/environment_registry.h"
#include "client/model_deployment.h"
#include "client/model_registry.h"
#include "client/reconcile.h"
#include "client/run_edit.h"
#include "client/run_id.h"
#include "client/run_removal.h"
#include "client/run_watch.h"
#include "client/submit.h"
#include "client/workspace.h"
#include "spec/spec_loader.h"
#include "store/record_json.h"
#include "store/wire.h"
#include "sweep/sweep_control.h"
#include "sweep/trial_ranking.h"

namespace kiln::python {
namespace py = pybind11;
namespace fs = std::filesystem;

namespace {

// JSON -> Python through the json module: exact and simple; these are small documents.
py::object ToPython(const nlohmann::json& value) {
  // Never destroyed: C++ static destruction runs after the interpreter is gone.
  static py::object* const loads = new py::object(py::module_::import("json").attr("loads"));
  // Text a run printed (a failure's log tail) may not be UTF-8: shown with U+FFFD, never a
  // UnicodeDecodeError or a C++ exception.
  return (*loads)(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// The kiln executable that starts launchers: beside this module's package in the build
// (build/python/kiln/_core.so -> build/kiln).
fs::path KilnProgram() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&KilnProgram), &info) != 0 && info.dli_fname != nullptr) {
    const fs::path candidate =
        fs::path(info.dli_fname).parent_path().parent_path().parent_path() / "kiln";
    std::error_code error;
    if (fs::exists(candidate, error)) return candidate;
  }
  return "kiln";
}

class PyWorkspace {
 public:
  PyWorkspace(std::optional<std::string> home, std::optional<std::string> server,
              std::optional<std::string> token) {
    client::WorkspaceOptions options;
    if (home) options.home = *home;
    options.server_url = std::move(server);  // KILN_SERVER when None
    if (token) options.token = *token;
    options.kiln_program = KilnProgram();
    workspace_ = ValueOrThrow(client::Workspace::Open(options));
  }

  std::string home() const { return workspace_->home().string(); }

  // `job` is a job spec as JSON text (JSON is YAML), named `label` in errors.
  py::object Submit(const std::string& job, const std::string& label, const std::string& base_dir) {
    const spec::LoadedJob loaded =
        ValueOrThrow(spec::LoadJobSpecFromText(job, label, base_dir, {}));
    const client::SubmitResult submitted = ValueOrThrow(client::Submit(*workspace_, loaded));
    return ToPython(store::ToJson(submitted.run));
  }

  // A sweep: `sweep` is its JSON form less the trial (sweep/sweep_spec.h), `trial` the
  // trial job as Submit() takes it.
  py::object SubmitSweep(const std::string& sweep, const std::string& trial,
                         const std::string& label, const std::string& base_dir) {
    spec::LoadedJob job = ValueOrThrow(spec::LoadJobSpecFromText(trial, label, base_dir, {}));
    const nlohmann::json fields = nlohmann::json::parse(sweep, nullptr, false);
    if (fields.is_discarded()) {
      ThrowIfError(InvalidArgumentError(fmt::format("{}: is not valid JSON", label)));
    }
    const sweep::LoadedSweep loaded = ValueOrThrow(sweep::LoadSweep(fields, std::move(job), label));
    return ToPython(store::ToJson(ValueOrThrow(sweep::SubmitSweep(*workspace_, loaded)).sweep));
  }

  // The sweep's trials (their runs reconciled first), best first by its primary metric
  // when `ranked`, else by index.
  py::object Trials(const std::string& id, bool ranked, bool include_failed, bool include_canceled,
                    bool discard_no_metric) {
    store::RunFilter children;
    children.parent_id = id;
    ValueOrThrow(client::ReadRuns(*workspace_, children));
    std::vector<store::Trial> trials = ValueOrThrow(workspace_->store().ListTrials(id));
    if (ranked) {
      const store::Run run = ValueOrThrow(workspace_->store().GetRun(id));
      const sweep::SweepSpec spec = ValueOrThrow(
          sweep::SweepFromJson(nlohmann::json::parse(run.spec_json, nullptr, false), id));
      trials = sweep::RankTrials(std::move(trials), spec.objective.goal,
                                 {include_failed, include_canceled, discard_no_metric});
    }
    nlohmann::json out = nlohmann::json::array();
    for (const store::Trial& trial : trials) out.push_back(store::ToJson(trial));
    return ToPython(out);
  }

  py::object CancelSweep(const std::string& id, double wait_seconds) {
    Result<store::Run> run = InternalError("not canceled");
    {
      py::gil_scoped_release released;
      run = sweep::CancelSweep(
          *workspace_, id,
          std::chrono::milliseconds(static_cast<std::int64_t>(wait_seconds * 1000)));
    }
    return ToPython(store::ToJson(ValueOrThrow(std::move(run))));
  }

  py::object ResumeSweep(const std::string& id) {
    return ToPython(store::ToJson(ValueOrThrow(sweep::ResumeSweep(*workspace_, id))));
  }

  // `edit` is PATCH /v1/runs/{id}'s body as JSON text (store/wire.h).
  py::object Edit(const std::string& id, const std::string& edit) {
    const nlohmann::json body = nlohmann::json::parse(edit, nullptr, false);
    const store::RunEdit parsed = ValueOrThrow(store::wire::RunEditFromJson(body));
    return ToPython(store::ToJson(ValueOrThrow(client::EditRun(*workspace_, id, parsed))));
  }

  // Registers an environment given as the job spec's `environment` mapping in JSON; returns
  // {"name", "version", "definition", "created_at"}.
  py::object RegisterEnvironment(const std::string& definition) {
    const env::EnvironmentSpec spec = ValueOrThrow(
        spec::LoadEnvironmentFromText(definition, "Environment", std::filesystem::current_path()));
    return EnvironmentJson(ValueOrThrow(client::EnvironmentRegistry(*workspace_).Register(spec)));
  }

  // NAME or NAME:VERSION.
  py::object GetEnvironment(const std::string& reference) {
    return EnvironmentJson(ValueOrThrow(client::EnvironmentRegistry(*workspace_).Get(reference)));
  }

  // Without a name, the latest of each; with one, its versions, newest first.
  py::object ListEnvironments(const std::string& name) {
    py::list out;
    for (const client::RegisteredEnvironment& one :
         ValueOrThrow(client::EnvironmentRegistry(*workspace_).List(name))) {
      out.append(EnvironmentJson(one));
    }
    return out;
  }

  // The runs deleted (a sweep's trials first), each {"id", "folder_kept"}.
  py::object Delete(const std::string& id) {
    nlohmann::json out = nlohmann::json::array();
    for (const client::DeletedRun& one : ValueOrThrow(client::DeleteRun(*workspace_, id))) {
      out.push_back({{"id", one.run.id}, {"folder_kept", one.folder_kept}});
    }
    return ToPython(out);
  }

  // The Kiln server's URL, or None for a store of this machine.
  std::optional<std::string> ServerUrl() const {
    if (workspace_->server() == nullptr) return std::nullopt;
    return workspace_->server()->url();
  }

  std::string Resolve(const std::string& name) {
    return ValueOrThrow(client::ResolveRunId(workspace_->store(), name));
  }

  py::object GetRun(const std::string& id) {
    return ToPython(store::ToJson(ValueOrThrow(client::ReadRun(*workspace_, id))));
  }

  py::object History(const std::string& id) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::StatusChange& change :
         ValueOrThrow(workspace_->store().GetStatusHistory(id))) {
      out.push_back(store::ToJson(change));
    }
    return ToPython(out);
  }

  py::object Wait(const std::string& id, bool show_output, std::optional<double> timeout_seconds) {
    client::WaitOptions options;
    if (show_output) {
      options.on_log_line = [](const client::RunLogLine& line) {
        py::gil_scoped_acquire gil;
        py::print(line.display, py::arg("flush") = true);
      };
    }
    if (timeout_seconds) {
      options.timeout =
          std::chrono::milliseconds(static_cast<std::int64_t>(*timeout_seconds * 1000));
    }
    options.keep_waiting = [] {
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) return CancelledError("interrupted");
      return Status::Ok();
    };
    Result<store::Run> run = InternalError("not waited");
    {
      py::gil_scoped_release released;
      run = client::WaitForRun(*workspace_, id, options);
    }
    if (!run.ok() && run.status().code() == StatusCode::kCancelled && PyErr_Occurred()) {
      throw py::error_already_set();  // KeyboardInterrupt, raised by the signal check
    }
    return ToPython(store::ToJson(ValueOrThrow(std::move(run))));
  }

  py::object Cancel(const std::string& id, double wait_seconds) {
    Result<store::Run> run = InternalError("not canceled");
    {
      py::gil_scoped_release released;
      run = client::CancelRun(
          *workspace_, id,
          std::chrono::milliseconds(static_cast<std::int64_t>(wait_seconds * 1000)));
    }
    return ToPython(store::ToJson(ValueOrThrow(std::move(run))));
  }

  py::object Metrics(const std::string& id) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::MetricSummary& summary : ValueOrThrow(workspace_->store().ListMetrics(id))) {
      out.push_back(store::ToJson(summary));
    }
    return ToPython(out);
  }

  py::object Metric(const std::string& id, const std::string& name, int rank) {
    return ToPython(store::ToJson(ValueOrThrow(workspace_->store().ReadMetric(id, name, rank))));
  }

  std::vector<std::pair<std::string, std::uint64_t>> Artifacts(const std::string& id) {
    const store::Run run = ValueOrThrow(workspace_->store().GetRun(id));
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (const client::Artifact& artifact : ValueOrThrow(workspace_->files().ListArtifacts(run))) {
      out.emplace_back(artifact.name, artifact.size);
    }
    return out;
  }

  void Download(const std::string& id, const std::string& name, const std::string& destination) {
    const store::Run run = ValueOrThrow(workspace_->store().GetRun(id));
    ThrowIfError(workspace_->files().DownloadArtifact(run, name, destination));
  }

  void RegisterDatastore(const std::string& name, const std::string& path) {
    ThrowIfError(client::RegisterDatastore(*workspace_, name, path));
  }

  py::object GetDatastore(const std::string& name) {
    return ToPython(store::ToJson(ValueOrThrow(workspace_->store().GetDatastore(name))));
  }

  // `config_json`: the target's settings as JSON text (docs/compute-targets.md).
  py::object RegisterComputeTarget(const std::string& name, const std::string& type,
                                   const std::string& config_json) {
    ThrowIfError(workspace_->RegisterTarget({name, type, config_json, 0}));
    return GetComputeTarget(name);
  }

  py::object GetComputeTarget(const std::string& name) {
    return ToPython(store::ToJson(ValueOrThrow(workspace_->store().GetComputeTarget(name))));
  }

  py::object ListComputeTargets() {
    nlohmann::json out = nlohmann::json::array();
    for (const store::ComputeTargetRecord& target :
         ValueOrThrow(workspace_->store().ListComputeTargets())) {
      out.push_back(store::ToJson(target));
    }
    return ToPython(out);
  }

  void RemoveComputeTarget(const std::string& name) {
    ThrowIfError(workspace_->store().RemoveComputeTarget(name));
  }

  py::object RegisterModel(const std::string& name, const std::string& run, const std::string& path,
                           const std::string& description,
                           const std::map<std::string, std::string>& tags) {
    client::ModelRegistration request{name, run, path, description, {tags.begin(), tags.end()}};
    return ToPython(store::ToJson(ValueOrThrow(client::RegisterModel(*workspace_, request))));
  }

  // version 0: the latest.
  py::object GetModel(const std::string& name, std::int64_t version) {
    return ToPython(
        store::ToJson(ValueOrThrow(workspace_->store().GetModelVersion(name, version))));
  }

  py::object ListModels(const std::string& name) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::ModelVersion& model :
         ValueOrThrow(workspace_->store().ListModelVersions(name))) {
      out.push_back(store::ToJson(model));
    }
    return ToPython(out);
  }

  std::string DownloadModel(const std::string& name, std::int64_t version,
                            const std::string& destination) {
    const store::ModelVersion model =
        ValueOrThrow(workspace_->store().GetModelVersion(name, version));
    return ValueOrThrow(client::DownloadModel(*workspace_, model, destination)).string();
  }

  void RemoveModel(const std::string& name, std::int64_t version) {
    ThrowIfError(client::RemoveModel(*workspace_, name, version));
  }

  // version 0: the latest. `environment` empty: none.
  py::object DeployModel(const std::string& name, std::int64_t version,
                         const std::string& entry_script, const std::string& source_directory,
                         const std::string& environment) {
    client::DeploymentRequest request;
    request.model = version == 0 ? name : name + ":" + std::to_string(version);
    request.entry_script = entry_script;
    request.source_directory = source_directory;
    request.environment = environment;
    return ToPython(store::ToJson(ValueOrThrow(client::DeployModel(*workspace_, request))));
  }

  py::object UndeployModel(const std::string& name, std::int64_t version) {
    return ToPython(store::ToJson(
        ValueOrThrow(client::UndeployModel(*workspace_, name + ":" + std::to_string(version)))));
  }

  py::object ListDatastores() {
    nlohmann::json out = nlohmann::json::array();
    for (const store::Datastore& datastore : ValueOrThrow(workspace_->store().ListDatastores())) {
      out.push_back(store::ToJson(datastore));
    }
    return ToPython(out);
  }

  // A registered environment as {"name", "version", "definition", "created_at"}.
  static py::object EnvironmentJson(const client::RegisteredEnvironment& registered) {
    return ToPython(store::ToJson(store::EnvironmentVersion{
        registered.spec.name, registered.version, env::EnvironmentToJson(registered.spec).dump(),
        registered.created_at}));
  }

  // `archived` is GET /v1/runs' word: "false" (the default), "true" or "any"; `where` a query
  // (store/run_query.h).
  py::object ListRuns(std::optional<std::string> experiment, std::optional<std::string> parent,
                      const std::string& archived, const std::string& where) {
    store::RunFilter filter;
    filter.where = where;
    filter.experiment = experiment;
    filter.parent_id = parent;
    filter.archived = ValueOrThrow(store::wire::ParseArchivedRuns(archived));
    nlohmann::json out = nlohmann::json::array();
    for (const store::Run& run : ValueOrThrow(client::ReadRuns(*workspace_, filter))) {
      out.push_back(store::ToJson(run));
    }
    return ToPython(out);
  }

 private:
  std::unique_ptr<client::Workspace> workspace_;
};

}  // namespace

void BindWorkspace(py::module_& module) {
  py::class_<PyWorkspace>(module, "Workspace")
      .def(py::init<std::optional<std::string>, std::optional<std::string>,
                    std::optional<std::string>>(),
           py::arg("home") = py::none(), py::arg("server") = py::none(),
           py::arg("token") = py::none())
      .def_property_readonly("home", &PyWorkspace::home)
      .def("submit", &PyWorkspace::Submit, py::arg("job"), py::arg("label"), py::arg("base_dir"))
      .def("submit_sweep", &PyWorkspace::SubmitSweep, py::arg("sweep"), py::arg("trial"),
           py::arg("label"), py::arg("base_dir"))
      .def("trials", &PyWorkspace::Trials, py::arg("id"), py::arg("ranked") = false,
           py::arg("include_failed") = true, py::arg("include_canceled") = true,
           py::arg("discard_no_metric") = false)
      .def("cancel_sweep", &PyWorkspace::CancelSweep, py::arg("id"), py::arg("wait") = 60.0)
      .def("resume_sweep", &PyWorkspace::ResumeSweep)
      .def("resolve", &PyWorkspace::Resolve)
      .def("run", &PyWorkspace::GetRun)
      .def("runs", &PyWorkspace::ListRuns, py::arg("experiment") = py::none(),
           py::arg("parent") = py::none(), py::arg("archived") = "false", py::arg("where") = "")
      .def("edit", &PyWorkspace::Edit, py::arg("id"), py::arg("edit"))
      .def("delete", &PyWorkspace::Delete, py::arg("id"))
      .def("register_environment", &PyWorkspace::RegisterEnvironment)
      .def("environment", &PyWorkspace::GetEnvironment)
      .def("environments", &PyWorkspace::ListEnvironments)
      .def_property_readonly("server_url", &PyWorkspace::ServerUrl)
      .def("history", &PyWorkspace::History)
      .def("wait", &PyWorkspace::Wait, py::arg("id"), py::arg("show_output") = false,
           py::arg("timeout") = py::none())
      .def("cancel", &PyWorkspace::Cancel, py::arg("id"), py::arg("wait") = 60.0)
      .def("metrics", &PyWorkspace::Metrics)
      .def("metric", &PyWorkspace::Metric, py::arg("id"), py::arg("name"), py::arg("rank") = 0)
      .def("artifacts", &PyWorkspace::Artifacts)
      .def("download", &PyWorkspace::Download)
      .def("register_datastore", &PyWorkspace::RegisterDatastore)
      .def("datastore", &PyWorkspace::GetDatastore)
      .def("datastores", &PyWorkspace::ListDatastores)
      .def("register_compute_target", &PyWorkspace::RegisterComputeTarget)
      .def("compute_target", &PyWorkspace::GetComputeTarget)
      .def("compute_targets", &PyWorkspace::ListComputeTargets)
      .def("remove_compute_target", &PyWorkspace::RemoveComputeTarget)
      .def("register_model", &PyWorkspace::RegisterModel)
      .def("model", &PyWorkspace::GetModel)
      .def("models", &PyWorkspace::ListModels)
      .def("download_model", &PyWorkspace::DownloadModel)
      .def("remove_model", &PyWorkspace::RemoveModel)
      .def("deploy_model", &PyWorkspace::DeployModel, py::arg("name"), py::arg("version"),
           py::arg("entry_script"), py::arg("source_directory"), py::arg("environment"))
      .def("undeploy_model", &PyWorkspace::UndeployModel);
}

}  // namespace kiln::python
