// Changing what describes a run after submit (kiln tag / untag / edit / archive / restore,
// PATCH /v1/runs/{id}), on the embedded store and through a real server: a member edits, a
// viewer cannot, curl with its defaults gets a clear refusal, and a refused edit changes
// nothing.

#include <fmt/format.h>

#include "common/files.h"
#include "e2e/curl.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class RunEditTest : public ServerTest {
 protected:
  // `kiln submit`'s arguments for a job that prints and ends.
  std::vector<std::string> SubmitArgs(const std::string& name) {
    const fs::path project = Project(name, {{"train.py", "print('done')\n"}});
    return {"--source-directory", project.string(), "--entry-script", "train.py", "--wait"};
  }

  std::vector<std::string> ListedIds(const CapturedRun& listed) {
    std::vector<std::string> ids;
    for (const json& run : json::parse(listed.out)) ids.push_back(run["id"]);
    return ids;
  }
};

TEST_F(RunEditTest, TheCliEditsARunOnTheEmbeddedStore) {
  const std::string run = SubmitOk(SubmitArgs("p"));
  const CapturedRun tagged = Kiln({"tag", run, "owner=ana", "note=a b=c", "empty="});
  ASSERT_EQ(tagged.exit.code, 0) << tagged.err;
  EXPECT_EQ(tagged.out, run + " tags: empty= note=a b=c owner=ana\n");
  ASSERT_EQ(Kiln({"untag", run, "empty"}).exit.code, 0);
  const fs::path description = root() / "description.md";
  ASSERT_TRUE(WriteFileAtomically(description, "Baseline.\n\n\tAdam, lr 1e-3.").ok());
  const CapturedRun edited =
      Kiln({"edit", run, "--name", "baseline", "--description-file", description.string()});
  ASSERT_EQ(edited.exit.code, 0) << edited.err;
  const json shown = KilnJson({"show", run, "--json"});
  EXPECT_EQ(shown["display_name"], "baseline");
  EXPECT_EQ(shown["description"], "Baseline.\n\n\tAdam, lr 1e-3.");
  EXPECT_EQ(shown["tags"], (json{{"owner", "ana"}, {"note", "a b=c"}}));
  const CapturedRun text = Kiln({"show", run});
  EXPECT_NE(text.out.find("Description\n  Baseline.\n  \n  \tAdam, lr 1e-3.\n"), std::string::npos)
      << text.out;

  // Refusals name what is wrong and change nothing.
  for (const auto& [args, words] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"tag", run, "owner"}, "'owner' is not KEY=VALUE"},
           {{"tag", run, "bad key=1"}, "keys must be 1 to 128"},
           {{"tag", run, "k=caf\xe9"}, "not valid UTF-8"},
           {{"edit", run}, "needs --name, --description"},
           {{"edit", run, "--name", std::string(300, 'x')}, "at most 256"},
           {{"edit", run, "--description", "\x1b[2J"}, "control character (0x1b)"},
           {{"tag", "no-such-run", "a=1"}, "no-such-run"}}) {
    const CapturedRun refused = Kiln(args);
    // 2: a usage error; 3: nothing of that name (docs/cli.md, exit codes).
    EXPECT_EQ(refused.exit.code, args[1] == "no-such-run" ? 3 : 2) << args[0] << refused.err;
    EXPECT_NE(refused.err.find(words), std::string::npos) << refused.err;
  }
  EXPECT_EQ(KilnJson({"show", run, "--json"}), shown);

  // Archived runs leave the listing until asked for, and come back.
  const std::string other = SubmitOk(SubmitArgs("q"));
  ASSERT_EQ(Kiln({"archive", run}).out, run + " archived\n");
  EXPECT_EQ(ListedIds(Kiln({"runs", "--json"})), std::vector<std::string>{other});
  EXPECT_EQ(ListedIds(Kiln({"runs", "--json", "--archived"})), std::vector<std::string>{run});
  EXPECT_EQ(ListedIds(Kiln({"runs", "--json", "--include-archived"})).size(), 2u);
  EXPECT_NE(Kiln({"show", run}).out.find("Archived   "), std::string::npos);
  ASSERT_EQ(Kiln({"restore", run}).exit.code, 0);
  EXPECT_EQ(ListedIds(Kiln({"runs", "--json"})).size(), 2u);
}

TEST_F(RunEditTest, AMemberEditsThroughTheServerAndAViewerCannot) {
  StartServer();
  const std::string member = CreateToken("mia", "member");
  const std::string viewer = CreateToken("vic", "viewer");
  std::vector<std::string> submit = SubmitArgs("p");
  submit.insert(submit.begin(), "submit");
  const CapturedRun submitted = Client(submit, member);
  ASSERT_EQ(submitted.exit.code, 0) << submitted.err << ServerLog();
  const std::string run = FirstLine(submitted.out);
  const std::string path = "/v1/runs/" + run;

  // The CLI against the server (its HttpStore), then the API itself.
  const CapturedRun tagged = Client({"tag", run, "owner=mia"}, member);
  ASSERT_EQ(tagged.exit.code, 0) << tagged.err << ServerLog();
  const auto patched = Http(member).Patch(
      path, R"({"display_name": "tuned", "description": "x\ny", "remove_tags": ["none"]})",
      "application/json");
  ASSERT_EQ(patched->status, 200) << patched->body;
  EXPECT_EQ(BodyOf(patched)["display_name"], "tuned");
  EXPECT_EQ(BodyOf(patched)["tags"], (json{{"owner", "mia"}}));
  const json before = BodyOf(Http(viewer).Get(path));

  // A viewer reads and cannot edit, by the CLI or the API.
  const CapturedRun denied = Client({"tag", run, "owner=vic"}, viewer);
  EXPECT_NE(denied.exit.code, 0);
  EXPECT_NE(denied.err.find("needs the member role"), std::string::npos) << denied.err;
  EXPECT_EQ(Http(viewer).Patch(path, R"({"archived": true})", "application/json")->status, 403);

  // curl with its defaults (a form content type) and bodies nobody here wrote.
  const fs::path body = root() / "edit.json";
  for (const auto& [text, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"display_name": "caf)"
            "\xe9"
            R"("})",
            "JSON"},
           {R"({"status": "Completed"})", "'status' cannot be changed"},
           {R"({"tags": {"a\nb": "v"}})", "keys must be 1 to 128"},
           {R"({"tags": {"ok": "v"}, "remove_tags": ["ok"]})", "both set and removed"},
           {R"({})", "changes nothing"},
           {R"({"archived": "yes"})", "archived"},
           {"[1, 2]", "expected a JSON object"}}) {
    ASSERT_TRUE(WriteFileAtomically(body, text).ok());
    const CurlReply reply = Curl(root(), {"-X", "PATCH", "-H", "Authorization: Bearer " + member,
                                          "-d", "@" + body.string(), url() + path});
    EXPECT_EQ(reply.status, 400) << text << " " << reply.body;
    EXPECT_NE(ErrorMessage(reply).find(words), std::string::npos) << ErrorMessage(reply);
  }
  EXPECT_EQ(BodyOf(Http(viewer).Get(path)), before);

  // Archiving through the server hides the run from listings until asked for.
  ASSERT_EQ(Client({"archive", run}, member).exit.code, 0);
  EXPECT_EQ(BodyOf(Http(viewer).Get("/v1/runs"))["runs"].size(), 0u);
  EXPECT_EQ(BodyOf(Http(viewer).Get("/v1/runs?archived=true"))["runs"].size(), 1u);
  EXPECT_EQ(ListedIds(Client({"runs", "--json", "--include-archived"}, viewer)),
            std::vector<std::string>{run});
  const auto bad = Http(viewer).Get("/v1/runs?archived=maybe");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("archived: 'maybe' is not false"), std::string::npos) << bad->body;
}

}  // namespace
}  // namespace kiln::e2e
