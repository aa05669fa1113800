// A load generator for `kiln serve`: C clients, each on its own keep-alive connection,
// send batch-B requests back to back for S seconds.
//
//   build/bench/serve_load URL --clients 8 --batch 1 --seconds 5 [--json] [--shape 1,28,28]
//
// Requests carry raw float32 (X-Kiln-Shape) unless --json. The sample's shape is the first
// input's in /metadata, or --shape (a scoring script's server describes no inputs; with
// --json the body is {"inputs": [[...], ...]}, each sample flat). Prints one JSON object:
// {"clients", "batch", "requests", "requests_per_s", "samples_per_s", "p50_ms", "p99_ms",
//  "errors"}. Run by bench/python/onnx_serving.py.

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: serve_load URL [--clients C] [--batch B] [--seconds S] [--json] "
                 "[--shape d1,d2,...]\n");
    return 2;
  }
  const std::string url = argv[1];
  int clients = 8, batch = 1;
  double seconds = 5;
  bool as_json = false;
  std::string given_shape;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") as_json = true;
    if (i + 1 < argc && flag == "--shape") given_shape = argv[i + 1];
    if (i + 1 < argc && flag == "--clients")
      clients = std::atoi(argv[++i]);
    else if (i + 1 < argc && flag == "--batch")
      batch = std::atoi(argv[++i]);
    else if (i + 1 < argc && flag == "--seconds")
      seconds = std::atof(argv[++i]);
  }
  nlohmann::json shape = nlohmann::json::array({nullptr});  // the batch, then the sample's
  if (given_shape.empty()) {
    httplib::Client probe(url);
    const auto metadata = probe.Get("/metadata");
    if (!metadata || metadata->status != 200) {
      std::fprintf(stderr, "no /metadata at %s\n", url.c_str());
      return 1;
    }
    shape = nlohmann::json::parse(metadata->body)["inputs"][0]["shape"];
  } else {
    for (std::size_t at = 0; at <= given_shape.size();) {
      const std::size_t comma = std::min(given_shape.find(',', at), given_shape.size());
      shape.push_back(std::atoll(given_shape.substr(at, comma - at).c_str()));
      at = comma + 1;
    }
  }
  int64_t sample = 1;
  std::string dims = std::to_string(batch);
  for (size_t d = 1; d < shape.size(); ++d) {
    sample *= shape[d].get<int64_t>();
    dims += "," + std::to_string(shape[d].get<int64_t>());
  }
  std::vector<float> values(static_cast<size_t>(sample * batch));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>((i * 7919) % 255) / 255.0f;
  std::string body, type;
  if (as_json) {
    nlohmann::json inputs = nlohmann::json::array();
    for (int b = 0; b < batch; ++b) {
      inputs.push_back(
          std::vector<float>(values.begin() + b * sample, values.begin() + (b + 1) * sample));
    }
    body = nlohmann::json{{"inputs", inputs}}.dump();
    type = "application/json";
  } else {
    body.resize(values.size() * sizeof(float));
    std::memcpy(body.data(), values.data(), body.size());
    type = "application/octet-stream";
  }

  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(url);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      const httplib::Headers headers = {{"X-Kiln-Shape", dims}};
      while (!go) std::this_thread::yield();
      while (!stop) {
        const auto start = std::chrono::steady_clock::now();
        const auto reply = client.Post("/score", headers, body, type.c_str());
        const auto end = std::chrono::steady_clock::now();
        if (!reply || reply->status != 200) {
          ++errors;
          continue;
        }
        latencies[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(end - start).count());
      }
    });
  }
  const auto started = std::chrono::steady_clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))];
  };
  std::printf(
      "%s\n",
      fmt::format(
          R"({{"clients": {}, "batch": {}, "requests": {}, "requests_per_s": {:.1f}, "samples_per_s": {:.1f}, "p50_ms": {:.3f}, "p99_ms": {:.3f}, "errors": {}}})",
          clients, batch, all.size(), all.size() / elapsed, all.size() * batch / elapsed, at(0.5),
          at(0.99), errors.load())
          .c_str());
  return 0;
}
