// /v1/sweeps and /v1/runs/{id}/resume: sweeps submitted to this server, which drives them
// (sweep/sweep_host.h). Their trials are runs: the /v1/runs routes read and cancel them.

#include <fmt/format.h>

#include "client/run_id.h"
#include "server/routes.h"
#include "sweep/sweep_control.h"
#include "sweep/sweep_file.h"

namespace kiln::server {

using nlohmann::json;

void AddSweepRoutes(http::Listener& server, ServerState& state) {
  client::Workspace& workspace = state.workspace;

  // {"sweep": the sweep's JSON form with its trial job, "snapshot_id": the trial's source,
  //  "source": where the trial job's fields came from}: as POST /v1/runs takes a job.
  server.Post(
      "/v1/sweeps",
      Json(
          [&](const httplib::Request& request) -> Result<json> {
            KILN_ASSIGN_OR_RETURN(json body, BodyJson(request));
            if (!body.is_object() || !body.contains("sweep") || !body["sweep"].is_object() ||
                !body["sweep"].contains("trial")) {
              return InvalidArgumentError(
                  "the body needs 'sweep': the sweep's JSON form with its 'trial' job "
                  "(docs/sweeps.md), and 'snapshot_id'");
            }
            json sweep = body["sweep"];
            json trial = {{"spec", sweep["trial"]}};
            if (body.contains("source")) trial["source"] = body["source"];
            KILN_ASSIGN_OR_RETURN(spec::LoadedJob job, ReceivedJob(trial));
            sweep.erase("trial");
            const std::string label =
                job.source.file_label().empty() ? "sweep" : job.source.file_label();
            KILN_ASSIGN_OR_RETURN(const sweep::LoadedSweep loaded,
                                  sweep::LoadSweep(std::move(sweep), std::move(job), label));
            if (!body.contains("snapshot_id") || !body["snapshot_id"].is_string()) {
              return InvalidArgumentError("snapshot_id: the trial's snapshot (POST /v1/snapshots)");
            }
            const std::string snapshot_id = body["snapshot_id"].get<std::string>();
            KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
            KILN_ASSIGN_OR_RETURN(
                const sweep::SweepSubmission submitted,
                sweep::SubmitSweepWith(
                    workspace, loaded,
                    [&] { return ReceivedSnapshot(state, loaded.trial, snapshot_id); },
                    caller.token_name,
                    [&](const store::Run& run) { return state.sweeps.Start(run); }));
            return store::ToJson(submitted.sweep);
          },
          201));

  // Continues a sweep: one whose driver stopped, or a Canceled or Failed one.
  server.Post(
      R"(/v1/runs/([^/]+)/resume)", Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
        KILN_ASSIGN_OR_RETURN(const std::string id,
                              client::ResolveRunId(workspace.store(), request.matches[1].str()));
        KILN_ASSIGN_OR_RETURN(const store::Run asked, workspace.store().GetRun(id));
        if (!store::IsTerminal(asked.status) && state.sweeps.Driving(asked.id)) {
          return FailedPreconditionError(
              fmt::format("sweep {} is {} and this server drives it; nothing to resume", asked.id,
                          store::RunStatusName(asked.status)));
        }
        KILN_ASSIGN_OR_RETURN(const store::Run sweep,
                              sweep::ReopenForResume(workspace, asked.id, caller.token_name));
        KILN_RETURN_IF_ERROR(state.sweeps.Start(sweep));
        return store::ToJson(sweep);
      }));
}

}  // namespace kiln::server
