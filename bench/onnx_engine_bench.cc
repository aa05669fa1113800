// Kiln's ONNX engine on one model: the median time of one inference at each batch size.
//
//   build/bench/onnx_engine_bench MODEL.onnx --threads 2 --batches 1,64 [--seconds 3]
//                                 [--length 128]
//
// Every input of the model is fed: floats in [0, 1), integers 1 (a valid token id and an
// unmasked position); an open dimension besides the batch gets --length (default 8).
// Prints one JSON object per batch size: {"batch", "ms", "inferences_per_s"}. Run by
// bench/python/onnx_serving.py and onnx_families.py next to ONNX Runtime and PyTorch eager.

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
    std::fprintf(stderr,
                 "usage: onnx_engine_bench MODEL.onnx [--threads N] [--batches 1,64] [--seconds S] "
                 "[--length L]\n");
    return 2;
  }
  const std::string path = argv[1];
  int threads = 2;
  double seconds = 3;
  int64_t length = 8;
  std::vector<int64_t> batches = {1, 64};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--length") length = std::atoll(argv[i + 1]);
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
    std::vector<std::vector<float>> floats;
    std::vector<std::vector<int64_t>> ints;
    std::vector<kiln::inference::InputTensor> inputs;
    for (const kiln::inference::ValueInfo& info : (*engine)->inputs()) {
      kiln::inference::InputTensor t;
      t.shape = info.shape;
      for (size_t d = 0; d < t.shape.size(); ++d) {
        if (t.shape[d] == kiln::inference::kDynamicDim) t.shape[d] = d == 0 ? batch : length;
      }
      if ((*engine)->dynamic_batch()) t.shape[0] = batch;
      int64_t count = 1;
      for (const int64_t d : t.shape) count *= d;
      if (info.elem_type == 1) {
        floats.emplace_back(static_cast<size_t>(count));
        for (size_t i = 0; i < floats.back().size(); ++i)
          floats.back()[i] = static_cast<float>((i * 7919) % 255) / 255.0f;
      } else {
        ints.emplace_back(static_cast<size_t>(count), 1);
      }
      inputs.push_back(std::move(t));
    }
    // Bound after every vector is in place (emplace_back moves them).
    for (size_t k = 0, f = 0, n = 0; k < inputs.size(); ++k) {
      if ((*engine)->inputs()[k].elem_type == 1) {
        inputs[k].floats = floats[f++];
      } else {
        inputs[k].ints = ints[n++];
      }
    }
    const auto run = [&] { return (*engine)->Run(inputs).ok(); };
    // Warm up (plans compile on first use), then rounds of ~50 ms; the median round.
    const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    int per_round = 0;
    while (std::chrono::steady_clock::now() < warm_until) {
      if (!run()) {
        std::fprintf(stderr, "%s\n", (*engine)->Run(inputs).status().message().c_str());
        return 1;
      }
      ++per_round;
    }
    per_round = std::max(1, per_round / 6);
    std::vector<double> rounds;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end || rounds.size() < 5) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < per_round; ++i) (void)run();
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
