#include "serve/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <thread>

#include "common/test_dir.h"
#include "inference/test_models.h"

namespace kiln::serve {
namespace {

// y = relu(x): the identity on non-negative inputs, so each caller can check its rows.
class BatcherTest : public ::testing::Test {
 protected:
  BatcherTest() {
    const std::string path = (dir_.path() / "identity.onnx").string();
    inference::testing::WriteLinearReluModel(path, {1, 0, 0, 1}, {0, 0}, 2, 2);
    engine_ = std::move(inference::Engine::Load(path, {.threads = 1})).value();
  }
  static InputBatch Request(float first, std::int64_t batch) {
    InputBatch input{batch, {InputValues{{batch, 2}, {}, {}}}};
    for (std::int64_t i = 0; i < batch * 2; ++i)
      input.inputs[0].floats.push_back(first + static_cast<float>(i));
    return input;
  }
  static const std::vector<float>& Values(const InputBatch& batch) {
    return batch.inputs[0].floats;
  }
  TestDir dir_;
  std::unique_ptr<inference::Engine> engine_;
};

TEST_F(BatcherTest, ConcurrentRequestsShareBatchesAndGetTheirOwnRows) {
  Batcher batcher(*engine_, {.max_batch = 16, .timeout = std::chrono::microseconds(2000)});
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kEach; ++r) {
        const std::int64_t rows = 1 + (t + r) % 3;
        const float first = static_cast<float>(1000 * t + 10 * r);
        const Result<std::vector<inference::Tensor>> out = batcher.Score(Request(first, rows));
        if (!out.ok() || (*out)[0].shape[0] != rows ||
            (*out)[0].values != Values(Request(first, rows))) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  const BatcherStats stats = batcher.stats();
  EXPECT_EQ(stats.requests, kThreads * kEach);
  EXPECT_LT(stats.batches, stats.requests) << "some requests rode together";
}

TEST_F(BatcherTest, ARequestLargerThanTheBatchRunsAlone) {
  Batcher batcher(*engine_, {.max_batch = 4});
  const Result<std::vector<inference::Tensor>> out = batcher.Score(Request(0, 10));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape, (std::vector<std::int64_t>{10, 2}));
}

TEST_F(BatcherTest, AFullQueueRefusesInsteadOfGrowing) {
  // The first request is held in the timeout (1 s) while the next one finds the queue full.
  Batcher batcher(
      *engine_,
      {.max_batch = 64, .timeout = std::chrono::microseconds(1'000'000), .max_queued = 4});
  std::thread first([&] { EXPECT_TRUE(batcher.Score(Request(0, 3)).ok()); });
  while (batcher.stats().queued < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const Result<std::vector<inference::Tensor>> refused = batcher.Score(Request(0, 2));
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("3 samples are waiting"), std::string::npos)
      << refused.status().message();
  first.join();
}

// The real engine behind a wrapper that throws on the runs a test chooses.
TEST_F(BatcherTest, AnExceptionInARunFailsItsRequestsAndTheWorkerGoesOn) {
  std::atomic<bool> fail{true};
  const RunBatch faulty = [&](std::span<const inference::InputTensor> inputs) {
    if (fail) throw std::bad_alloc();
    return engine_->Run(inputs);
  };
  Batcher batcher(faulty, {.max_batch = 16});
  const Result<std::vector<inference::Tensor>> failed = batcher.Score(Request(0, 2));
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_EQ(failed.status().message(), "scoring failed: std::bad_alloc");

  // Several requests failing together, each told.
  Batcher held(faulty, {.max_batch = 16, .timeout = std::chrono::microseconds(200'000)});
  std::vector<std::thread> threads;
  std::atomic<int> told{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      const Result<std::vector<inference::Tensor>> out = held.Score(Request(0, 1));
      if (out.status().code() == StatusCode::kInternal) ++told;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(told, 4);

  fail = false;
  const Result<std::vector<inference::Tensor>> fine = batcher.Score(Request(3, 2));
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ((*fine)[0].values, Values(Request(3, 2)));
  EXPECT_EQ(held.Score(Request(5, 1)).ok(), true);
}

// Two inputs over a sequence: request r holds `rows` samples of length `length`, ids
// 100 * r + position and scales 1, 2, ...; so each output says whose values it carries.
InputBatch SequenceRequest(int r, std::int64_t rows, std::int64_t length) {
  InputBatch input{rows,
                   {InputValues{{rows, length}, {}, {}}, InputValues{{rows, length}, {}, {}}}};
  for (std::int64_t b = 0; b < rows; ++b) {
    for (std::int64_t t = 0; t < length; ++t) {
      input.inputs[0].ints.push_back(100 * r + t);
      input.inputs[1].floats.push_back(static_cast<float>(b + 1));
    }
  }
  return input;
}

class SequenceBatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<inference::Engine> Load(bool batch_sum) {
    const std::string path = (dir_.path() / "sequence.onnx").string();
    inference::testing::WriteTwoInputSequenceModel(path, batch_sum);
    return std::move(inference::Engine::Load(path, {.threads = 1})).value();
  }
  // Each thread's requests alternate between two lengths; every reply must be its own.
  static int WrongReplies(Batcher& batcher, bool batch_sum) {
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          const int r = 10 * t + i;
          const std::int64_t rows = 1 + r % 3, length = i % 2 == 0 ? 3 : 5;
          const Result<std::vector<inference::Tensor>> out =
              batcher.Score(SequenceRequest(r, rows, length));
          if (!out.ok() || out->size() != (batch_sum ? 3u : 2u)) {
            ++wrong;
            continue;
          }
          const inference::Tensor& scaled = (*out)[0];
          const inference::Tensor& by_position = (*out)[1];
          bool right = scaled.shape == std::vector<std::int64_t>{rows, length} &&
                       by_position.shape == std::vector<std::int64_t>{length, rows};
          for (std::int64_t b = 0; right && b < rows; ++b) {
            for (std::int64_t p = 0; right && p < length; ++p) {
              const float want = static_cast<float>((100 * r + p) * (b + 1));
              right =
                  scaled.values[b * length + p] == want && by_position.values[p * rows + b] == want;
            }
          }
          if (batch_sum) {
            for (std::int64_t p = 0; right && p < length; ++p) {
              right =
                  (*out)[2].values[p] == static_cast<float>((100 * r + p) * rows * (rows + 1) / 2);
            }
          }
          if (!right) ++wrong;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return wrong;
  }
  TestDir dir_;
};

TEST_F(SequenceBatcherTest, RequestsOfOneLengthRideTogetherAndEachGetsItsSamplesOfEveryOutput) {
  const std::unique_ptr<inference::Engine> engine = Load(false);
  Batcher batcher(*engine, {.max_batch = 16, .timeout = std::chrono::microseconds(2000)});
  EXPECT_EQ(WrongReplies(batcher, false), 0);
  const BatcherStats stats = batcher.stats();
  EXPECT_EQ(stats.requests, 120);
  EXPECT_LT(stats.batches, stats.requests) << "requests of one length rode together";
}

TEST_F(SequenceBatcherTest, AnOutputWithoutABatchAxisRunsEachRequestOnItsOwn) {
  const std::unique_ptr<inference::Engine> engine = Load(true);
  Batcher batcher(*engine, {.max_batch = 16, .timeout = std::chrono::microseconds(2000)});
  EXPECT_EQ(WrongReplies(batcher, true), 0);
}

// An id the engine refuses (past 2^24) fails its own request, not those it rode with.
TEST_F(SequenceBatcherTest, ARequestTheEngineRefusesFailsAloneInItsBatch) {
  const std::unique_ptr<inference::Engine> engine = Load(false);
  Batcher batcher(*engine, {.max_batch = 16, .timeout = std::chrono::microseconds(200'000)});
  std::atomic<int> fine{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      InputBatch request = SequenceRequest(t, 1, 3);
      if (t == 2) request.inputs[0].ints[1] = std::int64_t{1} << 25;
      const Result<std::vector<inference::Tensor>> out = batcher.Score(std::move(request));
      if (out.ok()) ++fine;
      if (out.status().code() == StatusCode::kInvalidArgument) ++refused;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(fine, 3);
  EXPECT_EQ(refused, 1);
}

}  // namespace
}  // namespace kiln::serve
