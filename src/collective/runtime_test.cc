// The runtime with ranks as threads of one process, over socketpair meshes: the real
// coordinator, cache, fusion and ring data plane, without processes.

#include "collective/runtime.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "collective/ring_data_plane.h"
#include "common/test_dir.h"

namespace kiln::collective {
namespace {

using ::testing::HasSubstr;

class ThreadWorld {
 public:
  explicit ThreadWorld(int size, RuntimeOptions options = {}) {
    Result<std::vector<Mesh>> control = LocalMeshes(size);
    Result<std::vector<Mesh>> data = LocalMeshes(size);
    KILN_CHECK(control.ok() && data.ok());
    // Start is collective: the ranks agree on their control channel.
    ranks_.resize(static_cast<size_t>(size));
    std::vector<std::thread> starts;
    for (int r = 0; r < size; ++r) {
      starts.emplace_back([&, r] {
        const Topology t{r, size, r, size, 0, 1};
        auto runtime = Runtime::Start(
            t, std::move((*control)[static_cast<size_t>(r)]),
            std::make_unique<RingDataPlane>(std::move((*data)[static_cast<size_t>(r)])), options);
        KILN_CHECK(runtime.ok());
        ranks_[static_cast<size_t>(r)] = std::move(runtime).value();
      });
    }
    for (std::thread& start : starts) start.join();
  }
  // Shutdown is collective: every rank leaves together.
  ~ThreadWorld() {
    OnEveryRank([](int, Runtime& runtime) { runtime.Shutdown(); });
  }

  int size() const { return static_cast<int>(ranks_.size()); }
  Runtime& rank(int r) { return *ranks_[static_cast<size_t>(r)]; }

  void OnEveryRank(const std::function<void(int, Runtime&)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < size(); ++r) threads.emplace_back([&, r] { body(r, rank(r)); });
    for (std::thread& thread : threads) thread.join();
  }

 private:
  std::vector<std::unique_ptr<Runtime>> ranks_;
};

std::vector<char> Encode(DataType type, const std::vector<double>& values) {
  std::vector<char> bytes(values.size() * ElementSize(type));
  for (size_t i = 0; i < values.size(); ++i) {
    char* at = bytes.data() + i * ElementSize(type);
    const double v = values[i];
    switch (type) {
      case DataType::kUInt8:
        *reinterpret_cast<uint8_t*>(at) = static_cast<uint8_t>(v);
        break;
      case DataType::kInt8:
        *reinterpret_cast<int8_t*>(at) = static_cast<int8_t>(v);
        break;
      case DataType::kInt16:
        *reinterpret_cast<int16_t*>(at) = static_cast<int16_t>(v);
        break;
      case DataType::kBool:
        *reinterpret_cast<bool*>(at) = v != 0;
        break;
      case DataType::kInt32:
        *reinterpret_cast<int32_t*>(at) = static_cast<int32_t>(v);
        break;
      case DataType::kInt64:
        *reinterpret_cast<int64_t*>(at) = static_cast<int64_t>(v);
        break;
      case DataType::kFloat16:
        *reinterpret_cast<uint16_t*>(at) = FloatToHalf(static_cast<float>(v));
        break;
      case DataType::kFloat32:
        *reinterpret_cast<float*>(at) = static_cast<float>(v);
        break;
      case DataType::kFloat64:
        *reinterpret_cast<double*>(at) = v;
        break;
    }
  }
  return bytes;
}

std::vector<double> Decode(DataType type, const std::vector<char>& bytes) {
  std::vector<double> values(bytes.size() / ElementSize(type));
  for (size_t i = 0; i < values.size(); ++i) {
    const char* at = bytes.data() + i * ElementSize(type);
    switch (type) {
      case DataType::kUInt8:
        values[i] = *reinterpret_cast<const uint8_t*>(at);
        break;
      case DataType::kInt8:
        values[i] = *reinterpret_cast<const int8_t*>(at);
        break;
      case DataType::kInt16:
        values[i] = *reinterpret_cast<const int16_t*>(at);
        break;
      case DataType::kBool:
        values[i] = *reinterpret_cast<const bool*>(at) ? 1 : 0;
        break;
      case DataType::kInt32:
        values[i] = *reinterpret_cast<const int32_t*>(at);
        break;
      case DataType::kInt64:
        values[i] = static_cast<double>(*reinterpret_cast<const int64_t*>(at));
        break;
      case DataType::kFloat16:
        values[i] = HalfToFloat(*reinterpret_cast<const uint16_t*>(at));
        break;
      case DataType::kFloat32:
        values[i] = *reinterpret_cast<const float*>(at);
        break;
      case DataType::kFloat64:
        values[i] = *reinterpret_cast<const double*>(at);
        break;
    }
  }
  return values;
}

TensorEntry Entry(OpType op, std::string name, DataType type, std::vector<int64_t> shape,
                  const void* input, void* output) {
  TensorEntry entry;
  entry.request.name = std::move(name);
  entry.request.op = op;
  entry.request.dtype = type;
  entry.request.shape = std::move(shape);
  entry.input = input;
  entry.output = output;
  return entry;
}

// Small values, so that a product over four ranks fits int8.
double Value(int rank, size_t i) { return static_cast<double>((rank % 2) + 1 + (i % 2)); }

double Expected(ReduceOp op, DataType type, int size, size_t i) {
  double out = Value(0, i);
  for (int r = 1; r < size; ++r) {
    const double v = Value(r, i);
    switch (op) {
      case ReduceOp::kAverage:
      case ReduceOp::kSum:
        out += v;
        break;
      case ReduceOp::kMin:
        out = std::min(out, v);
        break;
      case ReduceOp::kMax:
        out = std::max(out, v);
        break;
      case ReduceOp::kProduct:
        out *= v;
        break;
    }
  }
  if (op == ReduceOp::kAverage) {
    out /= size;
    if (type != DataType::kFloat16 && type != DataType::kFloat32 && type != DataType::kFloat64) {
      out = std::trunc(out);
    }
  }
  return out;
}

class WorldSizeTest : public ::testing::TestWithParam<int> {};

TEST_P(WorldSizeTest, AllreduceEveryOpDtypeAndSize) {
  ThreadWorld world(GetParam());
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    for (DataType type :
         {DataType::kUInt8, DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64,
          DataType::kFloat16, DataType::kFloat32, DataType::kFloat64}) {
      for (ReduceOp op : {ReduceOp::kAverage, ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax,
                          ReduceOp::kProduct}) {
        for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1025}}) {
          std::vector<double> values(count);
          for (size_t i = 0; i < count; ++i) values[i] = Value(rank, i);
          const std::vector<char> input = Encode(type, values);
          std::vector<char> output(input.size());
          const std::string name =
              fmt::format("{}.{}.{}", DataTypeName(type), ReduceOpName(op), count);
          TensorEntry entry = Entry(OpType::kAllreduce, name, type, {static_cast<int64_t>(count)},
                                    input.data(), output.data());
          entry.request.reduce_op = op;
          const Status status = runtime.Enqueue(std::move(entry))->Wait();
          ASSERT_TRUE(status.ok()) << status.message();
          const std::vector<double> got = Decode(type, output);
          for (size_t i = 0; i < count; ++i) {
            const double want = Expected(op, type, GetParam(), i);
            const double tolerance = type == DataType::kFloat16   ? 1e-3
                                     : type == DataType::kFloat32 ? 1e-6
                                                                  : 1e-12;
            ASSERT_NEAR(got[i], want, tolerance * want) << name << " at " << i;
          }
        }
      }
    }
  });
}

TEST_P(WorldSizeTest, AllgatherBroadcastAlltoallReducescatter) {
  const int n = GetParam();
  ThreadWorld world(n);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    // allgather: rank r has r rows of 3 (rank 0 none).
    std::vector<float> mine(static_cast<size_t>(rank) * 3, static_cast<float>(rank));
    std::vector<float> gathered;
    TensorEntry gather =
        Entry(OpType::kAllgather, "gather", DataType::kFloat32, {rank, 3}, mine.data(), nullptr);
    std::vector<int64_t> gathered_shape;
    gather.allocate_output = [&](const std::vector<int64_t>& shape) -> Result<void*> {
      gathered_shape = shape;
      gathered.resize(static_cast<size_t>(shape[0] * shape[1]));
      return static_cast<void*>(gathered.data());
    };
    ASSERT_TRUE(runtime.Enqueue(std::move(gather))->Wait().ok());
    EXPECT_EQ(gathered_shape, (std::vector<int64_t>{n * (n - 1) / 2, 3}));
    size_t at = 0;
    for (int r = 0; r < n; ++r) {
      for (int row = 0; row < r * 3; ++row) EXPECT_EQ(gathered[at++], r);
    }
    // broadcast from every root, odd sizes.
    for (int root = 0; root < n; ++root) {
      std::vector<int64_t> values(5, rank == root ? 42 + root : -1);
      TensorEntry bcast = Entry(OpType::kBroadcast, fmt::format("b{}", root), DataType::kInt64, {5},
                                values.data(), values.data());
      bcast.request.root = root;
      ASSERT_TRUE(runtime.Enqueue(std::move(bcast))->Wait().ok());
      EXPECT_EQ(values, std::vector<int64_t>(5, 42 + root));
    }
    // alltoall: rank r sends (r + d) % 3 rows of 2 to rank d, each row [r, d].
    std::vector<int64_t> splits;
    std::vector<int32_t> send;
    for (int d = 0; d < n; ++d) {
      splits.push_back((rank + d) % 3);
      for (int row = 0; row < (rank + d) % 3; ++row) send.insert(send.end(), {rank, d});
    }
    std::vector<int32_t> received;
    TensorEntry a2a = Entry(OpType::kAlltoall, "a2a", DataType::kInt32,
                            {static_cast<int64_t>(send.size() / 2), 2}, send.data(), nullptr);
    a2a.request.splits = splits;
    a2a.allocate_output = [&](const std::vector<int64_t>& shape) -> Result<void*> {
      received.resize(static_cast<size_t>(shape[0] * 2));
      return static_cast<void*>(received.data());
    };
    std::shared_ptr<OpHandle> handle = runtime.Enqueue(std::move(a2a));
    ASSERT_TRUE(handle->Wait().ok());
    at = 0;
    for (int s = 0; s < n; ++s) {
      EXPECT_EQ(handle->received_splits[static_cast<size_t>(s)], (s + rank) % 3);
      for (int row = 0; row < (s + rank) % 3; ++row) {
        EXPECT_EQ(received[at++], s);
        EXPECT_EQ(received[at++], rank);
      }
    }
    // reducescatter: 5 rows of 2, summed; rank r keeps its share (the first ranks one more).
    std::vector<double> rows(10);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<double>(i) + rank;
    std::vector<double> part;
    TensorEntry scatter =
        Entry(OpType::kReducescatter, "scatter", DataType::kFloat64, {5, 2}, rows.data(), nullptr);
    int64_t first_row = 0;
    for (int r = 0; r < rank; ++r) first_row += 5 / n + (r < 5 % n ? 1 : 0);
    scatter.allocate_output = [&](const std::vector<int64_t>& shape) -> Result<void*> {
      part.resize(static_cast<size_t>(shape[0] * 2));
      return static_cast<void*>(part.data());
    };
    ASSERT_TRUE(runtime.Enqueue(std::move(scatter))->Wait().ok());
    EXPECT_EQ(part.size(), static_cast<size_t>(5 / n + (rank < 5 % n ? 1 : 0)) * 2);
    for (size_t i = 0; i < part.size(); ++i) {
      const double element = static_cast<double>(first_row * 2) + static_cast<double>(i);
      EXPECT_DOUBLE_EQ(part[i], n * element + n * (n - 1) / 2.0);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Sizes, WorldSizeTest, ::testing::Values(1, 2, 3, 4));

TEST(RuntimeTest, RanksMaySubmitInDifferentOrdersAndRepeatsUseTheCache) {
  ThreadWorld world(3);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    for (int step = 0; step < 5; ++step) {
      std::vector<std::vector<float>> tensors(6, std::vector<float>(9, static_cast<float>(rank)));
      std::vector<std::shared_ptr<OpHandle>> handles(6);
      for (int k = 0; k < 6; ++k) {
        const int i = rank % 2 == 0 ? k : 5 - k;  // odd ranks go backwards
        handles[static_cast<size_t>(i)] = runtime.Enqueue(
            Entry(OpType::kAllreduce, fmt::format("grad.{}", i), DataType::kFloat32, {9},
                  tensors[static_cast<size_t>(i)].data(), tensors[static_cast<size_t>(i)].data()));
      }
      for (int i = 0; i < 6; ++i) {
        ASSERT_TRUE(handles[static_cast<size_t>(i)]->Wait().ok());
        EXPECT_EQ(tensors[static_cast<size_t>(i)], std::vector<float>(9, 3.0f));
      }
    }
  });
}

TEST(RuntimeTest, PrescaleAndPostscaleApplyAroundTheSum) {
  ThreadWorld world(2);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    std::vector<double> v(3, rank + 1.0);
    TensorEntry entry =
        Entry(OpType::kAllreduce, "scaled", DataType::kFloat64, {3}, v.data(), v.data());
    entry.request.prescale = 2.0;
    entry.request.postscale = 0.25;
    ASSERT_TRUE(runtime.Enqueue(std::move(entry))->Wait().ok());
    EXPECT_EQ(v, std::vector<double>(3, (2.0 * 1 + 2.0 * 2) * 0.25));
  });
}

TEST(RuntimeTest, AMismatchFailsTheOpOnEveryRankWithTheSameError) {
  ThreadWorld world(2);
  std::vector<std::string> errors(2);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    std::vector<float> v(static_cast<size_t>(rank) + 2);
    const Status status = runtime
                              .Enqueue(Entry(OpType::kAllreduce, "w", DataType::kFloat32,
                                             {rank + 2}, v.data(), v.data()))
                              ->Wait();
    errors[static_cast<size_t>(rank)] = status.message();
    // The runtime goes on after an error.
    std::vector<float> ok(2, 1.0f);
    EXPECT_TRUE(runtime
                    .Enqueue(Entry(OpType::kAllreduce, "after", DataType::kFloat32, {2}, ok.data(),
                                   ok.data()))
                    ->Wait()
                    .ok());
  });
  EXPECT_EQ(errors[0],
            "Mismatched allreduce tensor shapes on tensor 'w': rank 0 has [2], rank 1 has [3].");
  EXPECT_EQ(errors[0], errors[1]);
}

TEST(RuntimeTest, JoinLetsRanksWithFewerBatchesContributeZeros) {
  ThreadWorld world(2);
  std::vector<int32_t> last(2, -1);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    const int batches = rank == 0 ? 1 : 3;
    for (int b = 0; b < batches; ++b) {
      std::vector<float> g(4, 10.0f);
      ASSERT_TRUE(runtime
                      .Enqueue(Entry(OpType::kAllreduce, fmt::format("g{}", b), DataType::kFloat32,
                                     {4}, g.data(), g.data()))
                      ->Wait()
                      .ok());
      // After rank 0 joined, its share is zero.
      EXPECT_EQ(g[0], b == 0 ? 20.0f : 10.0f) << "batch " << b << " on rank " << rank;
    }
    TensorEntry join;
    join.request.name = "join";
    join.request.op = OpType::kJoin;
    std::shared_ptr<OpHandle> handle = runtime.Enqueue(std::move(join));
    ASSERT_TRUE(handle->Wait().ok());
    last[static_cast<size_t>(rank)] = handle->last_joined_rank;
  });
  EXPECT_EQ(last, (std::vector<int32_t>{1, 1}));
}

TEST(RuntimeTest, LocalMistakesFailAtOnce) {
  ThreadWorld world(1);
  Runtime& runtime = world.rank(0);
  std::vector<float> v(4);
  TensorEntry a2a = Entry(OpType::kAlltoall, "x", DataType::kFloat32, {4}, v.data(), nullptr);
  a2a.request.splits = {3};
  EXPECT_THAT(runtime.Enqueue(std::move(a2a))->Wait().message(),
              HasSubstr("the splits add up to 3 rows, but the tensor has 4"));
  TensorEntry bcast = Entry(OpType::kBroadcast, "y", DataType::kFloat32, {4}, v.data(), v.data());
  bcast.request.root = 3;
  EXPECT_THAT(runtime.Enqueue(std::move(bcast))->Wait().message(),
              HasSubstr("from root_rank 3, but ranks are 0 to 0"));
  bool flags[4] = {};
  TensorEntry mean = Entry(OpType::kAllreduce, "z", DataType::kBool, {4}, flags, flags);
  mean.request.reduce_op = ReduceOp::kAverage;
  EXPECT_THAT(runtime.Enqueue(std::move(mean))->Wait().message(),
              HasSubstr("bool tensors have no average; use op=Sum (logical or)"));
}

// Three ranks, sets {0, 2} and {1, 2}: each set's ops run on its ranks alone (rank 2 is in
// both, with the same name in each), twice so the second round goes through the cache.
TEST(RuntimeTest, ProcessSetsRunOnTheirRanksAloneUnderOneName) {
  ThreadWorld world(3);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    ASSERT_TRUE(runtime.AddProcessSet(1, {2, 0}).ok());
    ASSERT_TRUE(runtime.AddProcessSet(2, {1, 2}).ok());
    EXPECT_EQ(runtime.ProcessSetRanks(1), (std::vector<int>{0, 2}));
    // A global barrier orders every rank's adds before any op in the sets (runtime.h).
    TensorEntry barrier;
    barrier.request.name = "added";
    barrier.request.op = OpType::kBarrier;
    ASSERT_TRUE(runtime.Enqueue(std::move(barrier))->Wait().ok());
    for (int round = 0; round < 2; ++round) {
      std::vector<std::shared_ptr<OpHandle>> handles;
      float first = static_cast<float>(rank + 1);    // set 1: 1 + 3
      float second = static_cast<float>(rank * 10);  // set 2: 10 + 20
      if (rank != 1) {
        TensorEntry entry = Entry(OpType::kAllreduce, "x", DataType::kFloat32, {1}, &first, &first);
        entry.request.process_set = 1;
        entry.request.reduce_op = ReduceOp::kAverage;
        handles.push_back(runtime.Enqueue(std::move(entry)));
      }
      if (rank != 0) {
        TensorEntry entry =
            Entry(OpType::kAllreduce, "x", DataType::kFloat32, {1}, &second, &second);
        entry.request.process_set = 2;
        handles.push_back(runtime.Enqueue(std::move(entry)));
      }
      for (const auto& handle : handles) ASSERT_TRUE(handle->Wait().ok()) << round;
      if (rank != 1) EXPECT_EQ(first, 2.0f);
      if (rank != 0) EXPECT_EQ(second, 30.0f);
    }
    // Broadcast from a rank of the job that is in the set; allgather in the set's order.
    if (rank != 1) {
      int64_t value = rank == 2 ? 7 : -1;
      TensorEntry bcast = Entry(OpType::kBroadcast, "b", DataType::kInt64, {1}, &value, &value);
      bcast.request.process_set = 1;
      bcast.request.root = 2;
      ASSERT_TRUE(runtime.Enqueue(std::move(bcast))->Wait().ok());
      EXPECT_EQ(value, 7);
    } else {
      int64_t value = 0;
      TensorEntry bcast = Entry(OpType::kBroadcast, "b", DataType::kInt64, {1}, &value, &value);
      bcast.request.process_set = 2;
      bcast.request.root = 0;  // not in set 2
      const Status status = runtime.Enqueue(std::move(bcast))->Wait();
      EXPECT_THAT(status.message(), HasSubstr("not in process set 2"));
    }
    if (rank != 0) {
      std::vector<int32_t> mine(static_cast<size_t>(rank), rank);  // rank 1: one row, 2: two
      std::vector<int32_t> gathered;
      TensorEntry gather =
          Entry(OpType::kAllgather, "g", DataType::kInt32, {rank}, mine.data(), nullptr);
      gather.request.process_set = 2;
      gather.allocate_output = [&](const std::vector<int64_t>& shape) -> Result<void*> {
        gathered.resize(static_cast<size_t>(shape[0]));
        return static_cast<void*>(gathered.data());
      };
      ASSERT_TRUE(runtime.Enqueue(std::move(gather))->Wait().ok());
      EXPECT_EQ(gathered, (std::vector<int32_t>{1, 2, 2}));
    } else {
      float value = 1;
      TensorEntry outside =
          Entry(OpType::kAllreduce, "outside", DataType::kFloat32, {1}, &value, &value);
      outside.request.process_set = 2;
      EXPECT_THAT(runtime.Enqueue(std::move(outside))->Wait().message(),
                  HasSubstr("do not include rank 0"));
    }
    // The global set still sees every rank.
    float all = 1;
    ASSERT_TRUE(
        runtime.Enqueue(Entry(OpType::kAllreduce, "x", DataType::kFloat32, {1}, &all, &all))
            ->Wait()
            .ok());
    EXPECT_EQ(all, 3.0f);
    // Removed (collectively: the global allreduce above ordered it after set 1's ops).
    EXPECT_EQ(runtime.AddProcessSet(1, {0}).code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(runtime.AddProcessSet(3, {0, 3}).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(runtime.RemoveProcessSet(1).ok());
    float late = 1;
    TensorEntry removed = Entry(OpType::kAllreduce, "late", DataType::kFloat32, {1}, &late, &late);
    removed.request.process_set = 1;
    EXPECT_THAT(runtime.Enqueue(std::move(removed))->Wait().message(), HasSubstr("not added"));
  });
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

class CallerDrivesTest : public ::testing::TestWithParam<bool> {};

// The Python API's path: a caller enqueues without waking the background thread and drives
// the protocol itself in Wait(). Between ops and after them every thread sleeps: a doorbell
// that a thread may not take must not keep it spinning (a busy core counts as CPU time,
// whatever else the machine runs).
TEST_P(CallerDrivesTest, OpsCompleteAndAnIdleRuntimeSleeps) {
  RuntimeOptions options;
  options.shared_memory = GetParam();
  ThreadWorld world(2, options);
  world.OnEveryRank([&](int rank, Runtime& runtime) {
    for (int i = 0; i < 300; ++i) {
      float value = static_cast<float>(rank + 1);
      auto handle = runtime.Enqueue(
          Entry(OpType::kAllreduce, "driven", DataType::kFloat32, {1}, &value, &value),
          /*wake=*/false);
      ASSERT_TRUE(runtime.Wait(handle).ok());
      ASSERT_EQ(value, 3.0f);
      // Now and then a pause past the spin time, so that some threads go to sleep.
      if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const double before = CpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(CpuSeconds() - before, 0.1) << "an idle runtime kept a core busy";
}

INSTANTIATE_TEST_SUITE_P(ControlChannel, CallerDrivesTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Rings" : "Sockets"; });

TEST(RuntimeTest, BarrierAndTimeline) {
  TestDir dir;
  RuntimeOptions options;
  options.timeline = (dir.path() / "timeline.json").string();
  {
    ThreadWorld world(2, options);
    world.OnEveryRank([&](int rank, Runtime& runtime) {
      std::vector<float> v(8, 1.0f);
      ASSERT_TRUE(runtime
                      .Enqueue(Entry(OpType::kAllreduce, "grad", DataType::kFloat32, {8}, v.data(),
                                     v.data()))
                      ->Wait()
                      .ok());
      TensorEntry barrier;
      barrier.request.name = "barrier";
      barrier.request.op = OpType::kBarrier;
      EXPECT_TRUE(runtime.Enqueue(std::move(barrier))->Wait().ok()) << rank;
    });
  }
  std::ifstream in(options.timeline);
  const nlohmann::json trace = nlohmann::json::parse(in);
  std::set<std::string> phases;
  for (const auto& event : trace) {
    phases.insert(event["name"].get<std::string>());
    EXPECT_EQ(event["pid"], 0) << "only rank 0 writes the timeline";
  }
  EXPECT_TRUE(phases.count("NEGOTIATE"));
  EXPECT_TRUE(phases.count("ALLREDUCE"));
  EXPECT_TRUE(phases.count("BARRIER"));
}

}  // namespace
}  // namespace kiln::collective
