#include "collective/message.h"

#include <gtest/gtest.h>

namespace kiln::collective {
namespace {

TEST(MessageTest, RequestListsRoundTrip) {
  RequestList list;
  list.shutdown = true;
  list.cached = {0b1011, 1};
  Request request;
  request.name = "grad.fc1.weight";
  request.op = OpType::kAlltoall;
  request.dtype = DataType::kFloat16;
  request.shape = {6, 3};
  request.splits = {2, 4};
  request.prescale = 0.5;
  request.process_set = 3;
  list.requests = {request};
  const Result<RequestList> back = DecodeRequestList(EncodeRequestList(list));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->shutdown);
  EXPECT_EQ(back->cached, list.cached);
  ASSERT_EQ(back->requests.size(), 1u);
  EXPECT_TRUE(back->requests[0].SameSignature(request));
}

TEST(MessageTest, ResponseListsRoundTripWithCacheHitsAsSlots) {
  ResponseList list;
  Response response;
  response.names = {"", "b"};
  response.cache_slots = {3, -1};
  response.element_counts = {10, 20};
  response.error = "";
  response.process_set = 2;
  list.responses = {response};
  const Result<ResponseList> back = DecodeResponseList(EncodeResponseList(list));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->responses[0].names, response.names);
  EXPECT_EQ(back->responses[0].cache_slots, response.cache_slots);
  EXPECT_EQ(back->responses[0].element_counts, response.element_counts);
  EXPECT_EQ(back->responses[0].process_set, 2);
}

TEST(MessageTest, TruncatedOrCorruptBytesAreAnError) {
  RequestList list;
  list.requests = {[] {
    Request r;
    r.name = "x";
    r.shape = {2};
    return r;
  }()};
  const std::string bytes = EncodeRequestList(list);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeRequestList(bytes.substr(0, cut)).ok()) << cut;
  }
  std::string bad = bytes;
  bad[bad.size() - 40] = '\x7f';  // an op type out of range
  EXPECT_FALSE(DecodeRequestList(bad + "extra").ok());
}

}  // namespace
}  // namespace kiln::collective
