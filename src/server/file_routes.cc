// /v1/runs/{id}/logs and /v1/runs/{id}/artifacts: files of the run directory, never a path
// outside outputs/ or logs/.

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "client/artifacts.h"
#include "client/reconcile.h"
#include "client/run_log_follower.h"
#include "server/file_reply.h"
#include "server/routes.h"

namespace kiln::server {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxLogRead = 4u << 20;
constexpr auto kFollowPoll = std::chrono::milliseconds(200);
// The most lines one page of GET /v1/runs/{id}/logs holds (its `limit`); the default is
// client::kLogPageLines. A page also stops at about client::kLogPageBytes of text.
constexpr std::int64_t kMaxLogPageLines = 10'000;

json LineJson(const client::RunLogLine& line) {
  return {{"rank", line.rank},
          {"time", line.line.at},
          {"stream", line.line.stream == launch::Stream::kErr ? "stderr" : "stdout"},
          {"text", line.line.text},
          {"display", line.display}};
}

// An event; `id`, when given, is the cursor after it (the SSE event id): a client that
// reconnects with ?cursor=<it> goes on from the next line.
std::string Event(std::string_view name, const json& data, std::string_view id = {}) {
  // Log text is valid UTF-8 already (LogFollower); replacing is the last line of defence
  // against an exception inside the stream.
  return fmt::format("event: {}\ndata: {}\n{}\n", name,
                     data.dump(-1, ' ', false, json::error_handler_t::replace),
                     id.empty() ? "" : fmt::format("id: {}\n", id));
}

Result<std::optional<int>> RankOf(const httplib::Request& request, const store::Run& run) {
  if (!request.has_param("rank")) return std::optional<int>();
  KILN_ASSIGN_OR_RETURN(const std::int64_t rank, QueryInt(request, "rank", 0, 0));
  if (rank >= client::RunWorldSize(run)) {
    return InvalidArgumentError(fmt::format("query parameter rank: run {} has ranks 0 to {}",
                                            run.id, client::RunWorldSize(run) - 1));
  }
  return std::optional<int>(static_cast<int>(rank));
}

// What a follower streams: new lines as "line" events, until the run has ended and its
// logs are read to the end ("end", with the run's status), or the server stops ("end",
// status null).
class LogStream {
 public:
  LogStream(ServerState& state, store::Run run, std::optional<int> rank)
      : state_(state), run_(run), follower_(state.workspace.files(), run, rank) {}

  // Starts after the line a cursor (a page's next_cursor, an event's id) points past.
  Status Seek(std::string_view cursor) { return follower_.Seek(cursor); }

  bool Next(httplib::DataSink& sink) {
    while (true) {
      if (state_.stopping) return End(sink, json(nullptr));
      // Read the status first: lines written before the run ended are read after it.
      const Result<store::Run> run = state_.workspace.store().GetRun(run_.id);
      const bool ended = run.ok() && store::IsTerminal(run->status);
      const Result<std::vector<client::RunLogLine>> lines = follower_.ReadNew();
      if (!lines.ok()) return End(sink, json(nullptr));
      std::string events;
      for (std::size_t i = 0; i < lines->size(); ++i) {
        const bool last = i + 1 == lines->size();
        events += Event("line", LineJson((*lines)[i]), last ? follower_.cursor() : "");
      }
      if (!events.empty() && !sink.write(events.data(), events.size())) return false;
      // One page per call: the rest of a long log comes in the next ones.
      if (follower_.more()) return true;
      if (ended) return End(sink, std::string(store::RunStatusName(run->status)));
      if (!events.empty()) return true;
      if (!sink.is_writable()) return false;
      std::this_thread::sleep_for(kFollowPoll);
    }
  }

 private:
  bool End(httplib::DataSink& sink, const json& status) {
    const std::string end = Event("end", {{"status", status}});
    sink.write(end.data(), end.size());
    sink.done();
    return true;
  }

  ServerState& state_;
  store::Run run_;
  client::RunLogFollower follower_;
};

}  // namespace

void AddFileRoutes(http::Listener& server, ServerState& state) {
  client::Workspace& workspace = state.workspace;

  // Raw bytes of one rank's log from ?offset= (what `kiln logs` reads through).
  server.Get(R"(/v1/runs/([^/]+)/logs/(\d+|environment))", [&](const httplib::Request& request,
                                                               httplib::Response& response) {
    const auto reply = [&]() -> Status {
      KILN_ASSIGN_OR_RETURN(const store::Run run,
                            workspace.store().GetRun(request.matches[1].str()));
      int rank = client::kEnvironmentLog;
      if (request.matches[2].str() != "environment") {
        KILN_ASSIGN_OR_RETURN(rank, PathRank(request, 2));
      }
      if (rank >= client::RunWorldSize(run)) {
        return NotFoundError(fmt::format("run {} has no rank {}", run.id, rank));
      }
      KILN_ASSIGN_OR_RETURN(const std::int64_t offset, QueryInt(request, "offset", 0, 0));
      KILN_ASSIGN_OR_RETURN(
          const std::int64_t max_bytes,
          QueryInt(request, "max_bytes", static_cast<std::int64_t>(kMaxLogRead), 1));
      KILN_ASSIGN_OR_RETURN(
          const std::string bytes,
          workspace.files().ReadLog(run, rank, static_cast<std::uint64_t>(offset),
                                    std::min(static_cast<std::size_t>(max_bytes), kMaxLogRead)));
      response.set_header("X-Kiln-Next-Offset",
                          std::to_string(static_cast<std::uint64_t>(offset) + bytes.size()));
      response.set_content(bytes, "application/octet-stream");
      return Status::Ok();
    };
    if (Status status = reply(); !status.ok()) ReplyError(response, status);
  });

  // Every rank's lines merged in time order: JSON a page at a time (?limit=, ?cursor= from
  // the last page's next_cursor), or with ?follow=true a stream of Server-Sent Events until
  // the run ends (from ?cursor= too: each batch's last line carries the cursor as its id).
  server.Get(R"(/v1/runs/([^/]+)/logs)", [&](const httplib::Request& request,
                                             httplib::Response& response) {
    const auto reply = [&]() -> Status {
      KILN_ASSIGN_OR_RETURN(const store::Run run,
                            client::ReadRun(workspace, request.matches[1].str()));
      KILN_ASSIGN_OR_RETURN(const std::optional<int> rank, RankOf(request, run));
      if (request.get_param_value("follow") == "true") {
        auto stream = std::make_shared<LogStream>(state, run, rank);
        if (request.has_param("cursor")) {
          KILN_RETURN_IF_ERROR(stream->Seek(request.get_param_value("cursor")));
        }
        response.set_header("Cache-Control", "no-cache");
        response.set_chunked_content_provider(
            "text/event-stream",
            [stream](std::size_t, httplib::DataSink& sink) { return stream->Next(sink); });
        return Status::Ok();
      }
      KILN_ASSIGN_OR_RETURN(
          const std::int64_t limit,
          QueryInt(request, "limit", static_cast<std::int64_t>(client::kLogPageLines), 1));
      if (limit > kMaxLogPageLines) {
        return InvalidArgumentError(fmt::format(
            "query parameter limit: at most {} lines a page, got {}", kMaxLogPageLines, limit));
      }
      client::RunLogFollower follower(workspace.files(), run, rank);
      if (request.has_param("cursor")) {
        KILN_RETURN_IF_ERROR(follower.Seek(request.get_param_value("cursor")));
      }
      KILN_ASSIGN_OR_RETURN(const std::vector<client::RunLogLine> lines,
                            follower.ReadNew(static_cast<std::size_t>(limit)));
      json out = json::array();
      for (const client::RunLogLine& line : lines) out.push_back(LineJson(line));
      ReplyJson(response, {{"lines", std::move(out)},
                           {"next_cursor", follower.cursor()},
                           {"more", follower.more()}});
      return Status::Ok();
    };
    if (Status status = reply(); !status.ok()) ReplyError(response, status);
  });

  server.Get(R"(/v1/runs/([^/]+)/artifacts)",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const store::Run run,
                                     workspace.store().GetRun(request.matches[1].str()));
               KILN_ASSIGN_OR_RETURN(const std::vector<client::Artifact> artifacts,
                                     workspace.files().ListArtifacts(run));
               json out = json::array();
               for (const client::Artifact& artifact : artifacts) {
                 out.push_back({{"name", artifact.name}, {"size", artifact.size}});
               }
               return json{{"artifacts", std::move(out)}};
             }));

  // One artifact file. The name is checked as `kiln download` checks it: under outputs/,
  // and no link leading out of it.
  server.Get(R"(/v1/runs/([^/]+)/artifacts/(.+))",
             [&](const httplib::Request& request, httplib::Response& response) {
               const auto reply = [&]() -> Status {
                 KILN_ASSIGN_OR_RETURN(const store::Run run,
                                       workspace.store().GetRun(request.matches[1].str()));
                 KILN_ASSIGN_OR_RETURN(const std::filesystem::path file,
                                       client::ArtifactFile(run, request.matches[2].str()));
                 return ReplyFile(response, file);
               };
               if (Status status = reply(); !status.ok()) ReplyError(response, status);
             });
}

}  // namespace kiln::server
