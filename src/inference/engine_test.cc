#include "inference/engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/files.h"
#include "common/test_dir.h"
#include "inference/test_models.h"

namespace kiln::inference {
namespace {

// 3 outputs from 4 inputs; the reference is computed by hand below.
const std::vector<float> kWeights = {0.5f,  -1.0f, 0.25f, 2.0f,   //
                                     -0.5f, 0.5f,  1.5f,  -2.0f,  //
                                     1.0f,  1.0f,  1.0f,  1.0f};
const std::vector<float> kBias = {0.1f, -0.2f, -3.0f};

std::vector<float> Reference(const std::vector<float>& x, int64_t batch) {
  std::vector<float> y;
  for (int64_t b = 0; b < batch; ++b) {
    for (int o = 0; o < 3; ++o) {
      float sum = kBias[o];
      for (int i = 0; i < 4; ++i) sum += kWeights[o * 4 + i] * x[b * 4 + i];
      y.push_back(std::max(sum, 0.0f));
    }
  }
  return y;
}

std::vector<float> Inputs(int64_t batch) {
  std::vector<float> x;
  for (int64_t i = 0; i < batch * 4; ++i) x.push_back(static_cast<float>((i * 37) % 11) - 5.0f);
  return x;
}

class EngineTest : public ::testing::Test {
 protected:
  std::string Model(int batch = 0) {
    const std::string path = (dir_.path() / "linear.onnx").string();
    testing::WriteLinearReluModel(path, kWeights, kBias, 4, 3, batch);
    return path;
  }
  TestDir dir_;
};

TEST_F(EngineTest, RunsAnyBatchSizeAsTheModelSays) {
  auto engine = Engine::Load(Model(), {.threads = 1});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_TRUE((*engine)->dynamic_batch());
  EXPECT_EQ((*engine)->sample_size(), 4);
  EXPECT_EQ((*engine)->input().name, "x");
  for (const int64_t batch : {1, 2, 7, 64, 100, 200}) {  // 7 = 4 + 2 + 1, 200 = 3 x 64 + 8
    const std::vector<float> x = Inputs(batch);
    const Result<std::vector<Tensor>> y = (*engine)->Run(x, batch);
    ASSERT_TRUE(y.ok()) << y.status().message();
    ASSERT_EQ(y->size(), 1u);
    EXPECT_EQ((*y)[0].name, "y");
    EXPECT_EQ((*y)[0].shape, (std::vector<int64_t>{batch, 3}));
    const std::vector<float> expected = Reference(x, batch);
    ASSERT_EQ((*y)[0].values.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR((*y)[0].values[i], expected[i], 1e-5) << i;
  }
}

TEST_F(EngineTest, WeightsPassedThroughIdentityAreStillWeights) {
  const std::string path = (dir_.path() / "identity.onnx").string();
  testing::WriteLinearReluModel(path, kWeights, kBias, 4, 3, 0, /*identity_weights=*/true);
  auto engine = Engine::Load(path, {.threads = 1});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const std::vector<float> x = Inputs(5);
  const Result<std::vector<Tensor>> y = (*engine)->Run(x, 5);
  ASSERT_TRUE(y.ok()) << y.status().message();
  const std::vector<float> expected = Reference(x, 5);
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR((*y)[0].values[i], expected[i], 1e-5) << i;
}

TEST_F(EngineTest, TheInterfaceOfAModelTheEngineCannotReadIsStillRead) {
  const std::string path = (dir_.path() / "labels.onnx").string();
  testing::WriteSingleOpModel(path, "Identity", /*string_constant=*/true);
  const Result<OnnxGraph> graph = ReadOnnxGraph(path);
  ASSERT_FALSE(graph.ok());
  EXPECT_NE(graph.status().message().find("ONNX data type 8"), std::string::npos)
      << graph.status().message();
  const Result<OnnxGraph> interface = ReadOnnxInterface(path);
  ASSERT_TRUE(interface.ok()) << interface.status().message();
  ASSERT_EQ(interface->inputs.size(), 1u) << "initializers are not inputs";
  EXPECT_EQ(interface->inputs[0].name, "x");
  EXPECT_EQ(interface->inputs[0].shape, (std::vector<int64_t>{kDynamicDim, 4}));
  EXPECT_EQ(interface->outputs[0].name, "y");
  EXPECT_EQ(interface->opset, 13);
  EXPECT_TRUE(interface->nodes.empty());
}

TEST_F(EngineTest, CallsFromManyThreadsTakeTurns) {
  auto engine = Engine::Load(Model(), {.threads = 1});
  ASSERT_TRUE(engine.ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r) {
        const int64_t batch = 1 + (t + r) % 5;
        const std::vector<float> x = Inputs(batch);
        const Result<std::vector<Tensor>> y = (*engine)->Run(x, batch);
        if (!y.ok() || (*y)[0].values != Reference(x, batch)) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST_F(EngineTest, AFixedBatchModelTakesThatSizeOnly) {
  auto engine = Engine::Load(Model(2), {.threads = 1});
  ASSERT_TRUE(engine.ok());
  EXPECT_FALSE((*engine)->dynamic_batch());
  EXPECT_TRUE((*engine)->Run(Inputs(2), 2).ok());
  const Result<std::vector<Tensor>> three = (*engine)->Run(Inputs(3), 3);
  EXPECT_EQ(three.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(three.status().message().find("exported for batches of 2 exactly"), std::string::npos);
}

TEST_F(EngineTest, WrongInputSizesAreRefused) {
  auto engine = Engine::Load(Model(), {.threads = 1});
  ASSERT_TRUE(engine.ok());
  const Result<std::vector<Tensor>> short_input = (*engine)->Run(std::vector<float>(7), 2);
  EXPECT_EQ(short_input.status().message(),
            "the input holds 7 floats; a batch of 2 needs 8 (4 per sample)");
  EXPECT_FALSE((*engine)->Run({}, 0).ok());
}

TEST_F(EngineTest, LoadingSaysWhatIsWrongWithTheFile) {
  const std::string unsupported = (dir_.path() / "op.onnx").string();
  testing::WriteSingleOpModel(unsupported, "Det");
  Result<std::unique_ptr<Engine>> engine = Engine::Load(unsupported);
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("node 'the_node' (Det): this operator is not "
                                           "supported by Kiln's engine"),
            std::string::npos)
      << engine.status().message();

  const std::string garbage = (dir_.path() / "garbage.onnx").string();
  ASSERT_TRUE(WriteFileAtomically(garbage, std::string("\xff\xfe not protobuf at all", 22)).ok());
  engine = Engine::Load(garbage);
  EXPECT_NE(engine.status().message().find("not an ONNX model"), std::string::npos)
      << engine.status().message();

  const std::string invalid = (dir_.path() / "invalid.onnx").string();
  testing::WriteSingleOpModel(invalid, "NoSuchOperator");
  engine = Engine::Load(invalid);
  EXPECT_NE(engine.status().message().find("the ONNX checker rejects it"), std::string::npos)
      << engine.status().message();

  EXPECT_EQ(Engine::Load((dir_.path() / "missing.onnx").string()).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::inference
