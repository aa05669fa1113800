// Logs as every reader shows them: text that is not UTF-8 (U+FFFD in its place, exit 0
// everywhere) and the JSON route's pages.

#include <fmt/format.h>

#include "common/files.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// "caf" and U+FFFD, where the script printed latin-1's e-acute (0xE9).
constexpr std::string_view kReplaced = "caf\xef\xbf\xbd";

class LogsTest : public ServerTest {
 protected:
  fs::path Latin1Project() {
    return Project("latin1", {{"train.py",
                               "import sys\n"
                               "sys.stdout.buffer.write(b'caf\\xe9\\n')\n"
                               "sys.stdout.flush()\n"
                               "print('after', flush=True)\n"}});
  }

  // The "text" of each "line" event of a Server-Sent Events stream.
  static std::vector<std::string> EventTexts(const std::string& stream) {
    std::vector<std::string> texts;
    std::size_t at = 0;
    while ((at = stream.find("event: line\ndata: ", at)) != std::string::npos) {
      at += 18;
      texts.push_back(json::parse(stream.substr(at, stream.find('\n', at) - at))["text"]);
    }
    return texts;
  }
};

TEST_F(LogsTest, TextThatIsNotUtf8IsReplacedOnTheEmbeddedStore) {
  const CapturedRun submit = Kiln({"submit", "--source-directory", Latin1Project().string(),
                                   "--entry-script", "train.py", "--stream"});
  ASSERT_EQ(submit.exit.code, 0) << submit.out << submit.err;
  const std::string run = FirstLine(submit.out);
  EXPECT_NE(submit.out.find(fmt::format("{}\nafter\n", kReplaced)), std::string::npos)
      << submit.out;

  const CapturedRun logs = Kiln({"logs", run});
  ASSERT_EQ(logs.exit.code, 0) << logs.err;
  EXPECT_EQ(logs.out, fmt::format("{}\nafter\n", kReplaced));

  const CapturedRun logs_json = Kiln({"logs", run, "--json"});
  ASSERT_EQ(logs_json.exit.code, 0) << logs_json.err;
  const std::size_t newline = logs_json.out.find('\n');
  ASSERT_NE(newline, std::string::npos) << logs_json.out;
  EXPECT_EQ(json::parse(logs_json.out.substr(0, newline))["text"], kReplaced);

  const CapturedRun follow = Kiln({"logs", run, "-f"});
  ASSERT_EQ(follow.exit.code, 0) << follow.err;
  EXPECT_EQ(follow.out, fmt::format("{}\nafter\n", kReplaced));
}

TEST_F(LogsTest, TextThatIsNotUtf8IsReplacedThroughTheServer) {
  StartServer();
  const CapturedRun submit = Client({"submit", "--source-directory", Latin1Project().string(),
                                     "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(submit.exit.code, 0) << submit.out << submit.err << ServerLog();
  const std::string run = FirstLine(submit.out);

  const CapturedRun logs = Client({"logs", run});
  ASSERT_EQ(logs.exit.code, 0) << logs.err;
  EXPECT_EQ(logs.out, fmt::format("{}\nafter\n", kReplaced));
  const CapturedRun logs_json = Client({"logs", run, "--json"});
  ASSERT_EQ(logs_json.exit.code, 0) << logs_json.err;
  EXPECT_EQ(json::parse(logs_json.out.substr(0, logs_json.out.find('\n')))["text"], kReplaced);

  const json page = BodyOf(Http().Get("/v1/runs/" + run + "/logs"));
  ASSERT_EQ(page["lines"].size(), 2u) << page.dump();
  EXPECT_EQ(page["lines"][0]["text"], kReplaced);
  EXPECT_EQ(page["lines"][0]["display"], kReplaced);

  std::string stream;
  const auto followed =
      Http().Get("/v1/runs/" + run + "/logs?follow=true", [&](const char* data, std::size_t n) {
        stream.append(data, n);
        return true;
      });
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(EventTexts(stream), (std::vector<std::string>{std::string(kReplaced), "after"}))
      << stream;
  EXPECT_NE(stream.find("event: end\ndata: {\"status\":\"Completed\"}"), std::string::npos);
}

// A run that prints latin-1 and fails: its log tail is stored and shown, replaced, by
// `kiln show`, the server's run JSON and `kiln wait`.
TEST_F(LogsTest, FailureLogTailThatIsNotUtf8IsShown) {
  StartServer();
  const fs::path project =
      Project("fails",
              {{"train.py", "import sys\nsys.stdout.buffer.write(b'caf\\xe9\\n')\nsys.exit(3)\n"}});
  const CapturedRun submit = Client(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  const std::string run = FirstLine(submit.out);
  ASSERT_FALSE(run.empty()) << submit.err;
  EXPECT_NE(submit.exit.code, 0);
  const json shown = BodyOf(Http().Get("/v1/runs/" + run));
  EXPECT_EQ(shown["status"], "Failed") << shown.dump();
  EXPECT_EQ(shown["failure_reason"], "rank 0 exited with code 3");
  EXPECT_EQ(shown["failure_log_tail"], json::array({kReplaced})) << shown.dump();
  const CapturedRun show = Client({"show", run});
  EXPECT_EQ(show.exit.code, 0) << show.err;
  EXPECT_NE(show.out.find(kReplaced), std::string::npos) << show.out;
}

// GET /v1/runs/{id}/logs a page at a time: ?limit= lines, ?cursor= from the last page's
// next_cursor, until `more` is false; pages together are the whole log in order.
TEST_F(LogsTest, LogsJsonComesInPages) {
  StartServer();
  const fs::path project =
      Project("lines", {{"train.py", "for i in range(25):\n    print('line', i, flush=True)\n"}});
  const CapturedRun submit = Client(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(submit.exit.code, 0) << submit.err;
  const std::string run = FirstLine(submit.out);
  const std::string path = "/v1/runs/" + run + "/logs";

  std::vector<std::string> texts;
  std::vector<std::size_t> sizes;
  std::string query = "?limit=10";
  for (int page = 0; page < 10; ++page) {
    const json body = BodyOf(Http().Get(path + query));
    ASSERT_TRUE(body["lines"].is_array()) << body.dump();
    sizes.push_back(body["lines"].size());
    for (const json& line : body["lines"]) texts.push_back(line["text"]);
    if (!body["more"].get<bool>()) break;
    query = "?limit=10&cursor=" + body["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
  ASSERT_EQ(texts.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(texts[i], fmt::format("line {}", i));

  // The default page holds all 25; bad limits and cursors are refused, naming them.
  EXPECT_EQ(BodyOf(Http().Get(path))["lines"].size(), 25u);
  const auto zero = Http().Get(path + "?limit=0");
  EXPECT_EQ(zero->status, 400);
  EXPECT_EQ(BodyOf(zero)["error"]["message"],
            "query parameter limit: expected an integer >= 1, got '0'");
  const auto huge = Http().Get(path + "?limit=10001");
  EXPECT_EQ(huge->status, 400);
  EXPECT_EQ(BodyOf(huge)["error"]["message"],
            "query parameter limit: at most 10000 lines a page, got 10001");
  const auto bad = Http().Get(path + "?cursor=12");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(BodyOf(bad)["error"]["message"],
            fmt::format("log cursor '12' does not fit run {}: use the next_cursor of an earlier "
                        "page of the same run and rank",
                        run));
}

// An artifact goes through the server's streamed reply and the client's streamed download
// byte for byte, leaving no temporary file; one that is missing leaves nothing either.
TEST_F(LogsTest, ArtifactsStreamThroughTheServerIntact) {
  StartServer();
  const fs::path project =
      Project("big", {{"train.py",
                       "import os, random\nos.makedirs('outputs', exist_ok=True)\n"
                       "random.seed(7)\n"
                       "open('outputs/big.bin', 'wb').write(random.randbytes(5_000_003))\n"}});
  const CapturedRun submit = Client(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(submit.exit.code, 0) << submit.err;
  const std::string run = FirstLine(submit.out);
  const fs::path got = root() / "got";
  const CapturedRun download = Client({"download", run, "outputs/big.bin", "-o", got.string()});
  ASSERT_EQ(download.exit.code, 0) << download.err;
  EXPECT_EQ(*ReadFileToString(got / "big.bin"),
            *ReadFileToString(server_home() / "runs" / run / "outputs/big.bin"));
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(got)) files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);

  const auto ranged =
      Http().Get("/v1/runs/" + run + "/artifacts/outputs/big.bin", {{"Range", "bytes=5000000-"}});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 206);
  EXPECT_EQ(ranged->body.size(), 3u);
}

}  // namespace
}  // namespace kiln::e2e
