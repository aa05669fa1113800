// Request bodies as the real curl sends them by default, against a real `kiln server`:
// `curl -d @req.json` declares a form (application/x-www-form-urlencoded), which the HTTP
// library alone refuses past 8 KiB; the server reads any declared type as the body it is,
// and a body over --max-body-mb is refused with its size and the limit.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "e2e/curl.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class RequestBodyTest : public ServerTest {
 protected:
  // {"name": NAME, "path": DIR} followed by spaces up to `size` bytes, as a file.
  fs::path DatastoreRequest(const std::string& name, std::size_t size) {
    const fs::path dir = root() / ("data-" + name);
    fs::create_directories(dir);
    std::string body = json{{"name", name}, {"path", dir.string()}}.dump();
    body.resize(std::max(size, body.size()), ' ');
    const fs::path file = root() / (name + ".json");
    EXPECT_TRUE(WriteFileAtomically(file, body).ok());
    return file;
  }
  CurlReply PostWithCurlDefaults(const std::string& path, const fs::path& file) {
    return Curl(root(), {"-H", "Authorization: Bearer " + token(), "-d", "@" + file.string(),
                         url() + path});
  }
};

TEST_F(RequestBodyTest, CurlsFormDefaultCarriesJsonOfAnySizeUpToTheLimit) {
  StartServer({"--max-body-mb", "1"});
  for (const auto& [name, size] : std::vector<std::pair<std::string, std::size_t>>{
           {"small", 100}, {"eight-k", 8 * 1024 + 1}, {"one-mb", 1'000'000}}) {
    const CurlReply reply = PostWithCurlDefaults("/v1/datastores", DatastoreRequest(name, size));
    EXPECT_EQ(reply.exit_code, 0) << reply.error;
    EXPECT_EQ(reply.status, 201) << name << ": " << reply.body.substr(0, 300);
    EXPECT_EQ(json::parse(reply.body, nullptr, false)["name"], name) << reply.body.substr(0, 300);
  }

  const CurlReply oversized =
      PostWithCurlDefaults("/v1/datastores", DatastoreRequest("two-mib", 2u << 20));
  EXPECT_EQ(oversized.status, 413) << oversized.body;
  EXPECT_EQ(ErrorMessage(oversized),
            "the body of 2097152 bytes is larger than the 1048576 bytes this server takes "
            "(kiln server --max-body-mb sets the limit)");

  // The server goes on, and holds what it accepted.
  const CurlReply listed =
      Curl(root(), {"-H", "Authorization: Bearer " + token(), url() + "/v1/datastores"});
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(json::parse(listed.body)["datastores"].size(), 3u) << listed.body;
}

TEST_F(RequestBodyTest, AMultipartBodyIsRefusedSayingWhatToSend) {
  StartServer();
  const CurlReply reply =
      Curl(root(), {"-H", "Authorization: Bearer " + token(), "-F",
                    "file=@" + DatastoreRequest("multi", 10).string(), url() + "/v1/datastores"});
  EXPECT_EQ(reply.status, 415) << reply.body;
  EXPECT_NE(ErrorMessage(reply).find("send the request itself as the body"), std::string::npos)
      << reply.body;
}

}  // namespace
}  // namespace kiln::e2e
