#include "launch/gpus.h"

#include <gtest/gtest.h>

namespace kiln::launch {
namespace {

TEST(GpusTest, EveryDeviceWhenNothingIsSet) {
  EXPECT_EQ(VisibleGpus(std::nullopt, 3), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(VisibleGpus(std::nullopt, 0).empty());
}

TEST(GpusTest, CudaVisibleDevicesNarrowsTheChoice) {
  EXPECT_EQ(VisibleGpus("2, 3", 4), (std::vector<std::string>{"2", "3"}));
  EXPECT_TRUE(VisibleGpus("", 4).empty());
}

TEST(GpusTest, LocalRanksGoRoundRobin) {
  const std::vector<std::string> gpus = {"2", "3"};
  EXPECT_EQ(GpuForLocalRank(gpus, 0), "2");
  EXPECT_EQ(GpuForLocalRank(gpus, 1), "3");
  EXPECT_EQ(GpuForLocalRank(gpus, 2), "2");
  EXPECT_EQ(GpuForLocalRank({}, 1), "");
}

}  // namespace
}  // namespace kiln::launch
