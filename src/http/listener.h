#pragma once

// Listener: the one HTTP(S) listener under `kiln server` and `kiln serve`.
//
// Open() makes an httplib server set up the same way for both and binds it:
//   1. https with a PEM certificate and key (both or neither), else plain http;
//   2. a pool of `threads` threads, each serving one connection at a time, kept alive for
//      up to keep_alive_max_count requests or 5 s idle (a stop waits out idle connections);
//   3. TCP_NODELAY on every connection: without it, Nagle's algorithm and the peer's
//      delayed ACK hold each keep-alive reply back by ~40 ms;
//   4. SO_REUSEADDR but not httplib's SO_REUSEPORT: a restarted server binds again at once
//      (past TIME_WAIT), and a second server on a taken port is refused instead of
//      silently sharing its connections;
//   5. bound to `port`, or any free one for 0, then listening with a backlog of SOMAXCONN
//      (httplib's own is 5: a burst of clients would wait out SYN retransmits);
//   6. replies compressed with gzip for a client that accepts it, never brotli: httplib's
//      brotli runs at quality 11, about 1 MB/s here (a 1 MB page of runs took 2.5 s to a
//      browser; gzip does it in milliseconds). Routes added here drop "br" from the
//      request's Accept-Encoding before they run (AcceptNoBrotli);
//   7. the common error replies, {"error": {"code", "message"}}: a body over
//      max_body_bytes is 413 naming its size, the limit and the flag that sets it, an
//      unknown path 404 naming the endpoints, an exception in a route 500 (logged with
//      spdlog), and anything else httplib refuses keeps its status with a reason.
//
// Request bodies. Routes added with Post/Put/Patch/Delete read the body whole into
// request.body whatever Content-Type the client declares, up to max_body_bytes (a chunked
// body too, which httplib 0.11 itself does not bound). httplib alone would parse an
// application/x-www-form-urlencoded body as a form and refuse one over 8 KiB with a bare
// 413; that is curl's default for `curl -d @req.json`, and the limit
// (CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH) is compiled into Debian's libcpp-httplib
// (libcpp-httplib.so, not header-only), so no definition on our side changes it. These routes
// take the body through httplib's content-reader path instead, which never parses a form.
// A multipart/form-data body (`curl -F`) is read and refused with 415 saying what to send.
//
// Thread-safety: routes and handlers (server()) are set before Serve(); handlers run on
// the pool's threads. Stop() is safe from any thread, also before Serve().

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace kiln::http {

struct ListenerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                    // 0: any free port (see port())
  std::filesystem::path tls_cert;  // both or neither: https with this certificate and key
  std::filesystem::path tls_key;
  int threads = 16;
  std::size_t max_body_bytes = 64u << 20;
  std::size_t keep_alive_max_count = 1000;
  // Who is listening, for messages: "kiln serve" gives "(kiln serve --max-body-mb ...)".
  std::string program = "kiln";
  // Follows "no endpoint GET /x" in a 404: "; see docs/openapi.yaml".
  std::string endpoints_hint;
};

// Drops "br" from the request's Accept-Encoding, so that httplib compresses the reply
// with gzip when the client takes it (see step 6). Every route added to a Listener does it.
void AcceptNoBrotli(const httplib::Request& request);

// Writes {"error": {"code": "<status's code>", "message": "..."}} with `http_status`.
// Messages may quote request bytes: invalid UTF-8 is replaced, never an exception.
void ReplyError(httplib::Response& response, int http_status, const Status& status);

class Listener {
 public:
  // InvalidArgument for TLS files that are missing or do not load (naming them),
  // Unavailable for a port that is taken.
  static Result<std::unique_ptr<Listener>> Open(const ListenerOptions& options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }
  bool tls() const { return tls_; }
  // "http://127.0.0.1:PORT" (https with TLS), as clients on this machine reach it
  // (0.0.0.0 as 127.0.0.1).
  const std::string& url() const { return url_; }
  std::size_t max_body_bytes() const { return options_.max_body_bytes; }

  // Routes. A body-taking route's handler sees the whole body (see "Request bodies").
  void Get(const std::string& pattern, httplib::Server::Handler handler);
  void Post(const std::string& pattern, httplib::Server::Handler handler);
  void Put(const std::string& pattern, httplib::Server::Handler handler);
  void Patch(const std::string& pattern, httplib::Server::Handler handler);
  void Delete(const std::string& pattern, httplib::Server::Handler handler);

  // The server itself, for a pre-routing handler or a logger; its error and exception
  // handlers are the listener's.
  httplib::Server& server() { return *http_; }

  // Serves until Stop(); returns once every request in flight has finished.
  Status Serve();
  void Stop();

 private:
  explicit Listener(const ListenerOptions& options) : options_(options) {}
  Status Bind();
  void SetErrorReplies();
  void ReplyTooLarge(const httplib::Request& request, httplib::Response& response) const;
  void AddBodyRoute(const std::string& method, const std::string& pattern,
                    httplib::Server::Handler handler);

  const ListenerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  bool tls_ = false;
  int listen_socket_ = -1;  // set by httplib's socket-options hook during Bind()
  int port_ = -1;
  std::string url_;
  std::atomic<bool> stopping_{false};
};

}  // namespace kiln::http
