// Registered environments with versions, end to end: on the embedded store (including the
// definitions an older Kiln kept as files) and through a server, where the server's store
// holds them for every client; a job runs in the version it names.

#include <fmt/format.h>

#include <fstream>

#include "common/files.h"
#include "e2e/curl.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class EnvironmentVersionsTest : public ServerTest {
 protected:
  fs::path Definition(const std::string& mode) {
    const fs::path file = root() / ("env-" + mode + ".yaml");
    std::ofstream(file) << "name: modes\nenvironment_variables: {MODE: " << mode << "}\n";
    return file;
  }
  fs::path project() {
    return Project("p", {{"train.py", "import os\nprint('mode', os.environ.get('MODE'))\n"}});
  }
};

TEST_F(EnvironmentVersionsTest, VersionsOnTheEmbeddedStoreAndFilesOfAnOlderKiln) {
  // A definition an older Kiln kept as a file becomes version 1.
  fs::create_directories(home() / "environments");
  ASSERT_TRUE(WriteFileAtomically(home() / "environments/old.json",
                                  R"({"name": "old", "python": "/usr/bin/python3",
                                      "pip_packages": [], "conda_packages": [],
                                      "pip_index_url": "", "pip_find_links": [],
                                      "environment_variables": [["MODE", "old"]],
                                      "system_site_packages": true})")
                  .ok());
  EXPECT_EQ(Kiln({"env", "register", Definition("one").string()}).out, "modes:1 -\n");
  EXPECT_EQ(Kiln({"env", "register", Definition("one").string()}).out, "modes:1 -\n");
  EXPECT_EQ(Kiln({"env", "register", Definition("two").string()}).out, "modes:2 -\n");
  const json listed = KilnJson({"env", "list", "--json"});
  ASSERT_EQ(listed["registered"].size(), 2u) << listed.dump();
  EXPECT_EQ(listed["registered"][0]["name"], "modes");
  EXPECT_EQ(listed["registered"][0]["version"], 2);
  EXPECT_EQ(listed["registered"][1]["name"], "old");
  EXPECT_EQ(KilnJson({"env", "list", "modes", "--json"})["registered"].size(), 2u);
  EXPECT_EQ(KilnJson({"env", "show", "modes:1"})["environment_variables"],
            json::parse(R"([["MODE", "one"]])"));

  const fs::path source = project();
  for (const auto& [environment, mode] :
       {std::pair{"modes:1", "one"}, std::pair{"modes", "two"}, std::pair{"old", "old"}}) {
    const std::string run = SubmitOk({"--source-directory", source.string(), "--entry-script",
                                      "train.py", "--environment", environment, "--wait"});
    EXPECT_EQ(Kiln({"logs", run}).out, fmt::format("mode {}\n", mode)) << environment;
  }
  const CapturedRun missing = Kiln({"submit", "--source-directory", source.string(),
                                    "--entry-script", "train.py", "--environment", "modes:3"});
  EXPECT_EQ(missing.exit.code, 3) << missing.err;
  EXPECT_NE(missing.err.find("--environment: environment 'modes' has no version 3; it has "
                             "versions 1 to 2"),
            std::string::npos)
      << missing.err;
}

TEST_F(EnvironmentVersionsTest, AServerKeepsThemForEveryClient) {
  StartServer();
  const std::string member = CreateToken("mia", "member");
  const std::string viewer = CreateToken("vic", "viewer");
  EXPECT_EQ(Client({"env", "register", Definition("one").string()}, member).out, "modes:1 -\n");
  EXPECT_EQ(Client({"env", "register", Definition("two").string()}, member).out, "modes:2 -\n");
  const CapturedRun denied = Client({"env", "register", Definition("three").string()}, viewer);
  EXPECT_NE(denied.exit.code, 0);
  EXPECT_NE(denied.err.find("needs the member role"), std::string::npos) << denied.err;
  // Not in this client's home: in the server's store.
  EXPECT_FALSE(fs::exists(home() / "environments"));
  EXPECT_EQ(BodyOf(Http(viewer).Get("/v1/environments/modes/versions"))["environments"].size(), 2u);
  EXPECT_EQ(BodyOf(Http(viewer).Get(
                "/v1/environments/modes/versions/1"))["definition"]["environment_variables"],
            json::parse(R"([["MODE", "one"]])"));

  // The server resolves the version a job names.
  const fs::path source = project();
  const CapturedRun run = Client({"submit", "--source-directory", source.string(), "--entry-script",
                                  "train.py", "--environment", "modes:1", "--wait"},
                                 member);
  ASSERT_EQ(run.exit.code, 0) << run.err << ServerLog();
  EXPECT_EQ(Client({"logs", FirstLine(run.out)}, viewer).out, "mode one\n");

  // curl with its defaults, and definitions nobody here wrote.
  const fs::path body = root() / "env.json";
  for (const auto& [text, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"name": "x"})", "'definition'"},
           {R"({"name": "x", "definition": {"name": "x"}})", "definition:"},
           {R"({"name": "../x", "definition": {"name": "../x", "python": "/usr/bin/python3",
               "pip_packages": [], "conda_packages": [], "pip_index_url": "",
               "pip_find_links": [], "environment_variables": [],
               "system_site_packages": true}})",
            "needs a name of 1 to 64"},
           {R"({"name": "x", "definition": {"name": "x", "python": "/usr/bin/python3",
               "pip_packages": ["a\nb"], "conda_packages": [], "pip_index_url": "",
               "pip_find_links": [], "environment_variables": [],
               "system_site_packages": true}})",
            "pip_packages"}}) {
    ASSERT_TRUE(WriteFileAtomically(body, text).ok());
    const CurlReply reply = Curl(root(), {"-H", "Authorization: Bearer " + member, "-d",
                                          "@" + body.string(), url() + "/v1/environments"});
    EXPECT_EQ(reply.status, 400) << text << " " << reply.body;
    EXPECT_NE(ErrorMessage(reply).find(words), std::string::npos) << ErrorMessage(reply);
  }
  EXPECT_EQ(BodyOf(Http(viewer).Get("/v1/environments"))["environments"].size(), 1u);
  EXPECT_EQ(Http(viewer).Get("/v1/environments/modes/versions/9")->status, 404);
}

}  // namespace
}  // namespace kiln::e2e
