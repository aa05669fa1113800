#include "http/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace kiln::http {
namespace {

using nlohmann::json;

// A real listener on a free port of 127.0.0.1, served by a thread of the test.
class ListenerTest : public ::testing::Test {
 protected:
  void Start(std::size_t max_body_bytes = 1u << 20) {
    ListenerOptions options;
    options.threads = 4;
    options.max_body_bytes = max_body_bytes;
    options.program = "kiln test";
    options.endpoints_hint = ": POST /echo";
    Result<std::unique_ptr<Listener>> opened = Listener::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    listener_ = std::move(opened).value();
    listener_->Post("/echo", [](const httplib::Request& request, httplib::Response& response) {
      response.set_content(request.body, "application/octet-stream");
    });
    listener_->Delete(R"(/things/(\w+))",
                      [](const httplib::Request& request, httplib::Response& response) {
                        response.set_content("deleted " + request.matches[1].str(), "text/plain");
                      });
    listener_->Post("/throw", [](const httplib::Request&, httplib::Response&) {
      throw std::runtime_error("boom");
    });
    serving_ = std::thread([this] { EXPECT_TRUE(listener_->Serve().ok()); });
  }
  ~ListenerTest() override {
    if (listener_) listener_->Stop();
    if (serving_.joinable()) serving_.join();
  }
  httplib::Client Client() const {
    httplib::Client client(listener_->url());
    client.set_read_timeout(30, 0);
    return client;
  }
  static std::string Message(const httplib::Result& reply) {
    const json body = json::parse(reply->body, nullptr, false);
    return body.is_object() ? body["error"]["message"].get<std::string>() : reply->body;
  }

  // Sends `request` as it is on a new connection to 127.0.0.1:port and returns what comes
  // back until the server closes or 5 s pass.
  static std::string RawExchange(int port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string reply;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t got = 0;
      while ((got = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
        reply.append(buffer, static_cast<std::size_t>(got));
        if (reply.find("\r\n\r\n") != std::string::npos && reply.find("}") != std::string::npos)
          break;
      }
    }
    ::close(fd);
    return reply;
  }

  std::unique_ptr<Listener> listener_;
  std::thread serving_;
};

// curl -d @req.json declares a form; the route still gets the whole body, as sent.
TEST_F(ListenerTest, AFormEncodedBodyPastHttplibsFormLimitReachesTheRouteWhole) {
  Start();
  httplib::Client client = Client();
  for (const std::size_t size : {100u, 8193u, 100'000u, (1u << 20)}) {
    const std::string body = "{\"x\": \"" + std::string(size - 10, 'a') + "\"}";
    const auto reply = client.Post("/echo", body, "application/x-www-form-urlencoded");
    ASSERT_TRUE(reply) << size;
    EXPECT_EQ(reply->status, 200) << size << ": " << reply->body.substr(0, 200);
    EXPECT_TRUE(reply->body == body) << size << ": " << reply->body.size() << " bytes came back";
  }
}

TEST_F(ListenerTest, ABodyOverTheLimitIs413NamingItsSizeTheLimitAndTheFlag) {
  Start(1000);
  httplib::Client client = Client();
  const auto reply = client.Post("/echo", std::string(1500, 'x'), "application/json");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(Message(reply),
            "the body of 1500 bytes is larger than the 1000 bytes this server takes (kiln test "
            "--max-body-mb sets the limit)");
  // Declared as a form, the same: the size is the cause, not the form.
  const auto form =
      client.Post("/echo", std::string(1500, 'x'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 413);
  EXPECT_NE(Message(form).find("larger than the 1000 bytes"), std::string::npos) << form->body;

  // A chunked body has no length to check up front: it is cut off at the limit. (Sent
  // whole over a raw socket: httplib's client may stop writing once the reply comes.)
  std::string chunked =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 8; ++i) chunked += "1f4\r\n" + std::string(500, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  const std::string reply_text = RawExchange(listener_->port(), chunked);
  EXPECT_TRUE(reply_text.starts_with("HTTP/1.1 413")) << reply_text;
  EXPECT_NE(reply_text.find("is larger than the 1000 bytes this server takes"), std::string::npos)
      << reply_text;
  EXPECT_NE(reply_text.find("Connection: close"), std::string::npos) << reply_text;

  // And the server goes on.
  const auto fine = Client().Post("/echo", "{}", "application/json");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

TEST_F(ListenerTest, AMultipartBodyIs415SayingWhatToSend) {
  Start();
  httplib::Client client = Client();
  const httplib::MultipartFormDataItems items = {
      {"file", "{\"inputs\": []}", "req.json", "application/json"}};
  const auto reply = client.Post("/echo", items);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 415);
  EXPECT_NE(Message(reply).find("multipart/form-data body (curl -F) is not taken"),
            std::string::npos)
      << reply->body;
  const auto next = client.Post("/echo", "{}", "application/json");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200) << "the connection stayed in step";
  EXPECT_EQ(next->body, "{}");
}

TEST_F(ListenerTest, CommonRepliesForUnknownPathsFormsThereAndExceptions) {
  Start();
  httplib::Client client = Client();
  const auto unknown = client.Get("/nothing");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Message(unknown), "no endpoint GET /nothing: POST /echo");

  // Only where no route takes the body does httplib's form limit show, and then by name.
  const auto form =
      client.Post("/nothing", std::string(9000, 'a'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 413);
  EXPECT_NE(Message(form).find(
                "was sent as a form (Content-Type: application/x-www-form-urlencoded), "
                "which this server takes up to 8192 bytes only; no endpoint POST /nothing"),
            std::string::npos)
      << form->body;

  const auto thrown = Client().Post("/throw", "{}", "application/json");
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(Message(thrown), "the server failed: boom");

  const auto deleted = Client().Delete("/things/abc");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200);
  EXPECT_EQ(deleted->body, "deleted abc");
}

TEST_F(ListenerTest, ATakenPortAndHalfATlsPairAreRefused) {
  Start();
  ListenerOptions same;
  same.port = listener_->port();
  const Result<std::unique_ptr<Listener>> taken = Listener::Open(same);
  EXPECT_EQ(taken.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(
      taken.status().message().find("cannot listen on 127.0.0.1:" + std::to_string(same.port)),
      std::string::npos);

  ListenerOptions half;
  half.tls_cert = "/nonexistent/cert.pem";
  const Result<std::unique_ptr<Listener>> refused = Listener::Open(half);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "--tls-cert and --tls-key go together; give both");
  half.tls_key = "/nonexistent/key.pem";
  EXPECT_EQ(Listener::Open(half).status().message(),
            "TLS file /nonexistent/cert.pem does not exist");
}

}  // namespace
}  // namespace kiln::http
