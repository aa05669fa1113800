#include "collective/control_channel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace kiln::collective {
namespace {

using ::testing::HasSubstr;

// `size` channels over socketpairs, connected at once as the ranks of a job would.
std::vector<ControlChannel> Connect(int size, bool shared_memory) {
  Result<std::vector<Mesh>> meshes = LocalMeshes(size);
  EXPECT_TRUE(meshes.ok());
  std::vector<ControlChannel> channels(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      Result<ControlChannel> channel =
          ControlChannel::Connect(std::move((*meshes)[static_cast<size_t>(r)]), shared_memory,
                                  std::chrono::microseconds(50));
      ASSERT_TRUE(channel.ok()) << channel.status().message();
      channels[static_cast<size_t>(r)] = std::move(*channel);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return channels;
}

void OnEveryRank(int size, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back(body, r);
  for (std::thread& thread : threads) thread.join();
}

class ControlChannelTest : public ::testing::TestWithParam<bool> {};

TEST_P(ControlChannelTest, MessagesOfEverySizeArriveInOrderBothWays) {
  const int size = 3;
  std::vector<ControlChannel> channels = Connect(size, GetParam());
  for (const ControlChannel& channel : channels) EXPECT_EQ(channel.shared(), GetParam());
  // Empty, small, and three times a ring, which streams through as the reader frees it.
  const std::vector<size_t> lengths = {0, 1, 37, 4096, 3 << 20, 5, 0, 100};
  const auto message = [](int from, int to, size_t i, size_t length) {
    std::string text(length, '\0');
    for (size_t k = 0; k < length; ++k) text[k] = static_cast<char>(from * 31 + to * 7 + i + k);
    return text;
  };
  OnEveryRank(size, [&](int rank) {
    ControlChannel& channel = channels[static_cast<size_t>(rank)];
    const std::vector<int> peers = rank == 0 ? std::vector<int>{1, 2} : std::vector<int>{0};
    std::thread sender([&] {
      for (size_t i = 0; i < lengths.size(); ++i) {
        for (int peer : peers) {
          ASSERT_TRUE(channel.SendMessage(peer, message(rank, peer, i, lengths[i])).ok());
        }
      }
    });
    for (size_t i = 0; i < lengths.size(); ++i) {
      for (int peer : peers) {
        Result<std::string> got = channel.RecvMessage(peer);
        ASSERT_TRUE(got.ok()) << got.status().message();
        EXPECT_TRUE(*got == message(peer, rank, i, lengths[i]))
            << "message " << i << " from " << peer << " to " << rank;
      }
    }
    sender.join();
    for (int peer : peers) EXPECT_FALSE(channel.Readable(peer));
  });
}

TEST_P(ControlChannelTest, ASleeperWakesForAMessageAndTimesOutWithout) {
  std::vector<ControlChannel> channels = Connect(2, GetParam());
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  const timespec brief{0, 20'000'000};
  ASSERT_TRUE(channels[1].Sleep(wake.get(), &brief, /*reader=*/true).ok());
  EXPECT_FALSE(channels[1].Readable(0));

  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(channels[0].SendMessage(1, "wake up").ok());
  });
  // No timeout: only the message (its doorbell, over rings) ends this sleep.
  while (!channels[1].Readable(0)) {
    ASSERT_TRUE(channels[1].Sleep(wake.get(), nullptr, /*reader=*/true).ok());
  }
  sender.join();
  EXPECT_EQ(channels[1].RecvMessage(0).value(), "wake up");
}

TEST(ControlChannelRingsTest, NoDoorbellOutlivesTheMessagesItRangFor) {
  std::vector<ControlChannel> channels = Connect(2, /*shared_memory=*/true);
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  // A thread that does not read messages sleeps; a message rings it awake.
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(channels[0].SendMessage(1, "for the reader").ok());
  });
  const timespec long_wait{5, 0};
  ASSERT_TRUE(channels[1].Sleep(wake.get(), &long_wait, /*reader=*/false).ok());
  sender.join();
  ASSERT_TRUE(channels[1].Readable(0));
  // It may not take the doorbell (see Sleep); the reader does, with the message or before
  // it looks (TakeDoorbells). After that a sleep lasts until its timeout instead of
  // returning at once, again and again, on a byte left behind.
  channels[1].TakeDoorbells();
  EXPECT_EQ(channels[1].RecvMessage(0).value(), "for the reader");
  const timespec brief{0, 200'000'000};
  const auto idle_from = std::chrono::steady_clock::now();
  ASSERT_TRUE(channels[1].Sleep(wake.get(), &brief, /*reader=*/false).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - idle_from, std::chrono::milliseconds(150));
}

TEST_P(ControlChannelTest, APeerThatGoesIsAnErrorNotAHang) {
  std::vector<ControlChannel> channels = Connect(2, GetParam());
  ASSERT_TRUE(channels[1].SendMessage(0, "last words").ok());
  channels[1] = ControlChannel();  // its sockets close, as when its process exits
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  // What it sent before it went still arrives; then the loss is reported.
  while (!channels[0].Readable(1)) {
    ASSERT_TRUE(channels[0].Sleep(wake.get(), nullptr, /*reader=*/true).ok());
  }
  EXPECT_EQ(channels[0].RecvMessage(1).value(), "last words");
  while (!channels[0].Readable(1)) {
    ASSERT_TRUE(channels[0].Sleep(wake.get(), nullptr, /*reader=*/true).ok());
  }
  Result<std::string> lost = channels[0].RecvMessage(1);
  ASSERT_FALSE(lost.ok());
  EXPECT_THAT(lost.status().message(), HasSubstr("lost its connection to rank 1"));
  // A writer blocked on a full ring learns it too.
  Status sent;
  const std::string big(1 << 20, 'x');
  for (int i = 0; i < 4 && sent.ok(); ++i) sent = channels[0].SendMessage(1, big);
  EXPECT_FALSE(sent.ok());
}

INSTANTIATE_TEST_SUITE_P(Transports, ControlChannelTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Rings" : "Sockets"; });

}  // namespace
}  // namespace kiln::collective
