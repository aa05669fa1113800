// Kiln's ONNX engine on one model: the median time of one inference at each batch size.
//
//   build/bench/onnx_engine_bench MODEL.onnx --threads 2 --batches 1,64 [--seconds 3]
//
// Prints one JSON object per batch size: {"batch", "ms", "inferences_per_s"}. Run by
// bench/python/onnx_serving.py next to ONNX Runtime and PyTorch eager.

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "inference/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: onnx_engine_bench MODEL.onnx [--threads N] [--batches 1,64] [--seconds S]\n");
    return 2;
  }
  const std::string path = argv[1];
  int threads = 2;
  double seconds = 3;
  std::vector<int64_t> batches = {1, 64};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--batches") {
      batches.clear();
      for (const char* p = argv[i + 1]; *p != '\0';) {
        char* end = nullptr;
        batches.push_back(std::strtoll(p, &end, 10));
        p = *end == ',' ? end + 1 : end;
      }
    }
  }
  auto engine = kiln::inference::Engine::Load(path, {.threads = threads});
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().message().c_str());
    return 1;
  }
  for (const int64_t batch : batches) {
    std::vector<float> input(static_cast<size_t>(batch * (*engine)->sample_size()));
    for (size_t i = 0; i < input.size(); ++i)
      input[i] = static_cast<float>((i * 7919) % 255) / 255.0f;
    // Warm up (plans compile on first use), then rounds of ~50 ms; the median round.
    const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    int per_round = 0;
    while (std::chrono::steady_clock::now() < warm_until) {
      if (!(*engine)->Run(input, batch).ok()) return 1;
      ++per_round;
    }
    per_round = std::max(1, per_round / 6);
    std::vector<double> rounds;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end || rounds.size() < 5) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < per_round; ++i) (void)(*engine)->Run(input, batch);
      rounds.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count() /
          per_round);
    }
    const double ms = kiln::bench::Median(rounds);
    std::printf("%s\n", fmt::format(R"({{"batch": {}, "ms": {:.5f}, "inferences_per_s": {:.1f}}})",
                                    batch, ms, batch * 1000.0 / ms)
                            .c_str());
  }
  return 0;
}
