// Hostile input at every way into a Kiln server: job specs, snapshot manifests and contents,
// tokens, paths and bodies, hand-written and random. Each must be refused with a 4xx that
// says what is wrong; none may answer 5xx, stop the server, or create anything (a run, a
// run directory, a snapshot, a token, a model, a datastore, a compute target).

#include <fmt/format.h>

#include <random>

#include "common/files.h"
#include "faults/fault_fixture.h"

namespace kiln::faults {
namespace {
namespace fs = std::filesystem;
using e2e::BodyOf;
using nlohmann::json;

struct Attempt {
  std::string what;
  std::string method;
  std::string path;
  std::string body;
  std::string authorization;  // empty: the test's admin token
};

class HostileInputTest : public FaultTest {
 protected:
  // Everything the server has made, as counts, to compare before and after.
  std::map<std::string, std::size_t> Inventory() {
    std::map<std::string, std::size_t> counts;
    httplib::Client http = Http();
    for (const char* list : {"runs", "models", "datastores", "compute-targets", "experiments"}) {
      const auto got = http.Get(fmt::format("/v1/{}", list).c_str());
      const json body = BodyOf(got);
      std::size_t n = 0;
      if (body.is_object()) {
        for (const auto& [key, value] : body.items()) n += value.is_array() ? value.size() : 0;
      }
      counts[list] = n;
    }
    for (const char* folder : {"runs", "snapshots"}) {
      std::size_t n = 0;
      std::error_code error;
      for (auto it = fs::recursive_directory_iterator(server_home() / folder, error);
           !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        ++n;
      }
      counts[std::string("files under ") + folder] = n;
    }
    const CapturedRun tokens = Kiln({"server", "token", "list", "--json", "--store", store_url()});
    counts["tokens"] = nlohmann::json::parse(tokens.out, nullptr, false).size();
    return counts;
  }

  // Sends it; true when the answer is a 4xx with an error message.
  bool Refused(const Attempt& attempt) {
    httplib::Client http = Http(std::string());
    httplib::Headers headers = {{"Authorization", attempt.authorization.empty()
                                                      ? "Bearer " + token()
                                                      : attempt.authorization}};
    const auto send = [&]() -> httplib::Result {
      if (attempt.method == "GET") return http.Get(attempt.path.c_str(), headers);
      if (attempt.method == "POST") {
        return http.Post(attempt.path.c_str(), headers, attempt.body, "application/json");
      }
      if (attempt.method == "PUT") {
        return http.Put(attempt.path.c_str(), headers, attempt.body, "application/octet-stream");
      }
      return http.Delete(attempt.path.c_str(), headers);
    };
    const httplib::Result result = send();
    ++tried_;
    if (!result) {
      ADD_FAILURE() << attempt.what << ": no answer (" << httplib::to_string(result.error()) << ")";
      return false;
    }
    const json body = BodyOf(result);
    const bool refused =
        result->status >= 400 && result->status < 500 && body.is_object() && body.contains("error");
    EXPECT_TRUE(refused) << attempt.what << ": " << attempt.method << " " << attempt.path
                         << " answered " << result->status << " " << result->body.substr(0, 300);
    refused_ += refused ? 1 : 0;
    return refused;
  }

  int tried_ = 0;
  int refused_ = 0;
};

std::string RandomBytes(std::mt19937& random, std::size_t max_size) {
  std::string bytes(random() % (max_size + 1), '\0');
  for (char& c : bytes) c = static_cast<char>(random() % 256);
  return bytes;
}

TEST_F(HostileInputTest, EveryWayInRefusesAndCreatesNothing) {
  StartServer();
  // One real run, so routes that need one have it, and a valid job to spoil.
  const auto project = Project("proj", {{"train.py", "print('hi')\n"}});
  const std::string run = Submit(ViaServer(), {"--source-directory", project.string(),
                                               "--entry-script", "train.py", "--wait"});
  ASSERT_FALSE(run.empty());
  const json shown = BodyOf(Http().Get(("/v1/runs/" + run).c_str()));
  ASSERT_TRUE(shown.is_object() && shown["spec"].is_object()) << shown.dump();
  const json spec = shown["spec"];
  const std::string snapshot = shown.value("snapshot_id", "");

  const auto job_with = [&](const std::string& field, const json& value) {
    json body = {{"spec", spec}, {"snapshot_id", snapshot}};
    body["spec"][field] = value;
    return body.dump();
  };
  const std::string sha(64, 'a');
  const auto manifest_of = [](const std::string& entries) {
    return json{{"manifest", "{\"entries\":[" + entries + "],\"version\":1}"}}.dump();
  };
  std::string many_runs;
  for (int i = 0; i < 300; ++i) many_runs += fmt::format("&run=r{}", i);
  std::vector<Attempt> attempts = {
      // Job specs.
      {"experiment escaping runs/", "POST", "/v1/runs", job_with("experiment", "../../x")},
      {"newline in experiment", "POST", "/v1/runs", job_with("experiment", "a\nrm -rf /")},
      {"entry script outside the source", "POST", "/v1/runs",
       job_with("entry_script", "../../etc/passwd")},
      {"absolute entry script", "POST", "/v1/runs", job_with("entry_script", "/bin/sh")},
      {"compute target with a command", "POST", "/v1/runs",
       job_with("compute_target", "$(touch /tmp/kiln-pwned)")},
      {"node count 0", "POST", "/v1/runs", job_with("node_count", 0)},
      {"node count past int", "POST", "/v1/runs", job_with("node_count", 1e12)},
      {"negative processes", "POST", "/v1/runs", job_with("process_count_per_node", -3)},
      {"display name of 1 MB", "POST", "/v1/runs",
       job_with("display_name", std::string(1 << 20, 'x'))},
      {"tag key with a newline", "POST", "/v1/runs", job_with("tags", json{{"a\nb", "v"}})},
      {"reserved variable", "POST", "/v1/runs",
       job_with("environment_variables", json{{"KILN_TOKEN", "x"}})},
      {"script parameter past the kernel's limit", "POST", "/v1/runs",
       job_with("script_params",
                json::array({{{"name", "--x"}, {"value", std::string(200 * 1024, 'y')}}}))},
      {"spec that is text", "POST", "/v1/runs", R"({"spec": "train.py"})"},
      {"unknown snapshot", "POST", "/v1/runs", json{{"spec", spec}, {"snapshot_id", sha}}.dump()},
      {"snapshot id escaping", "POST", "/v1/runs",
       json{{"spec", spec}, {"snapshot_id", "../../etc"}}.dump()},
      {"latin-1 byte in a field", "POST", "/v1/runs", "{\"spec\": {\"experiment\": \"caf\xe9\"}}"},
      {"deeply nested body", "POST", "/v1/runs", std::string(100000, '[')},
      {"body that is not JSON", "POST", "/v1/runs", "experiment=x&entry=y"},
      // Snapshot manifests and contents.
      {"sha256 of 63 digits", "POST", "/v1/snapshots",
       manifest_of(R"({"executable":false,"path":"a.py","sha256":")" + std::string(63, 'a') +
                   R"(","size":1,"type":"file"})")},
      {"sha256 in capitals", "POST", "/v1/snapshots",
       manifest_of(R"({"executable":false,"path":"a.py","sha256":")" + std::string(64, 'A') +
                   R"(","size":1,"type":"file"})")},
      {"sha256 that is a path", "POST", "/v1/snapshots",
       manifest_of(
           R"({"executable":false,"path":"a.py","sha256":"../../../../etc/passwd","size":1,"type":"file"})")},
      {"entry path escaping", "POST", "/v1/snapshots",
       manifest_of(R"({"executable":false,"path":"../../x.py","sha256":")" + sha +
                   R"(","size":1,"type":"file"})")},
      {"absolute entry path", "POST", "/v1/snapshots",
       manifest_of(R"({"executable":false,"path":"/etc/cron.d/x","sha256":")" + sha +
                   R"(","size":1,"type":"file"})")},
      {"entry below a symlink", "POST", "/v1/snapshots",
       manifest_of(
           R"({"path":"d","target":"/etc","type":"symlink"},{"executable":false,"path":"d/x","sha256":")" +
           sha + R"(","size":1,"type":"file"})")},
      {"file past the size limit", "POST", "/v1/snapshots",
       manifest_of(R"({"executable":false,"path":"a.py","sha256":")" + sha +
                   R"(","size":99999999999999,"type":"file"})")},
      {"manifest that is not JSON", "POST", "/v1/snapshots", R"({"manifest": "{{{"})"},
      {"content that does not hash to its name", "PUT", "/v1/snapshots/objects/" + sha, "abc"},
      {"content name not a sha256", "PUT", "/v1/snapshots/objects/..%2F..%2Fx", "abc"},
      // Tokens.
      {"no token", "GET", "/v1/runs", "", "Basic a2lsbjp4"},
      {"empty bearer", "GET", "/v1/runs", "", "Bearer "},
      {"token of 64 KB", "GET", "/v1/runs", "", "Bearer kiln_" + std::string(65536, 'a')},
      {"token with a path", "GET", "/v1/runs", "", "Bearer kiln_../../x_" + sha},
      {"token not UTF-8", "GET", "/v1/runs", "", "Bearer kiln_\xff\xfe_" + sha},
      // Paths.
      {"artifact path escaping", "GET", "/v1/runs/" + run + "/artifacts/../../plan.json", ""},
      {"artifact path escaping, encoded", "GET",
       "/v1/runs/" + run + "/artifacts/%2e%2e/%2e%2e/plan.json", ""},
      {"artifact path absolute", "GET", "/v1/runs/" + run + "/artifacts//etc/passwd", ""},
      {"run id escaping", "GET", "/v1/runs/..%2F..%2Fetc/artifacts", ""},
      {"run id not UTF-8", "GET", "/v1/runs/%ff%fe", ""},
      {"rank past int", "GET", "/v1/runs/" + run + "/logs/99999999999999999999", ""},
      {"spool offset of a rank past int", "GET",
       "/v1/runs/" + run + "/spool-offsets/99999999999999999999", ""},
      {"model name escaping", "GET", "/v1/models/..%2F..%2Fetc/versions", ""},
      {"model version not a number", "GET", "/v1/models/m/versions/1e9999/file", ""},
      {"datastore with a path", "POST", "/v1/datastores", R"({"name": "../x", "path": "/etc"})"},
      {"compute target with a newline", "POST", "/v1/compute-targets",
       R"({"name": "a\nb", "type": "slurm"})"},
      {"transition to an unknown status", "POST", "/v1/runs/" + run + "/transitions",
       R"({"to": "Exploded"})"},
      {"metrics for a rank outside the world", "POST", "/v1/runs/" + run + "/metrics",
       R"({"rank": 1000000, "offset_before": 0, "offset_after": 1, "series": []})"},
      // The reads Kiln Studio makes, and its files.
      {"metric series with no name", "GET", "/v1/metric-series?run=" + run, ""},
      {"metric series of 300 runs", "GET", "/v1/metric-series?name=loss" + many_runs, ""},
      {"metric range past double", "GET", "/v1/metric-series?name=x&x_min=1e999&run=" + run, ""},
      {"metric range backwards", "GET", "/v1/runs/" + run + "/metrics/x?x_min=2&x_max=1", ""},
      {"metric axis unknown", "GET", "/v1/runs/" + run + "/metrics/x?x=epoch", ""},
      {"runs cursor not UTF-8", "GET", "/v1/runs?after=%ff%fe", ""},
      {"runs cursor without an id", "GET", "/v1/runs?after=123:", ""},
      {"snapshot read escaping", "GET", "/v1/snapshots/..%2F..%2Fkiln.db", ""},
      {"snapshot content escaping", "GET", "/v1/snapshots/objects/..%2F..%2Fkiln.db", ""},
      {"UI asset escaping", "GET", "/assets/..%2F..%2Fkiln.db", ""},
      {"UI asset that is no asset", "GET", "/assets/%00.js", ""},
  };
  // Random bytes at every route that takes a body.
  std::mt19937 random(20261206);
  for (const std::string path :
       {std::string("/v1/runs"), std::string("/v1/snapshots"), std::string("/v1/datastores"),
        std::string("/v1/models"), std::string("/v1/compute-targets"),
        "/v1/runs/" + run + "/transitions", "/v1/runs/" + run + "/metrics"}) {
    for (int i = 0; i < 20; ++i) {
      attempts.push_back(
          {fmt::format("random bytes #{}", i), "POST", path, RandomBytes(random, 4096)});
    }
  }

  const auto before = Inventory();
  for (const Attempt& attempt : attempts) Refused(attempt);
  const auto health = Http().Get("/v1/health");
  ASSERT_TRUE(health && health->status == 200) << "the server stopped answering";
  const auto after = Inventory();
  EXPECT_EQ(before, after) << "hostile input created something";
  EXPECT_FALSE(fs::exists("/tmp/kiln-pwned"));

  FaultOutcome outcome;
  outcome.fault = fmt::format("hostile inputs: {} tried, {} refused with a 4xx", tried_, refused_);
  outcome.state_right = tried_ == refused_ && before == after;
  outcome.files_left = before == after ? 0 : 1;
  RecordFault(outcome);
}

}  // namespace
}  // namespace kiln::faults
