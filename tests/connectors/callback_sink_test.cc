// File: tests/connectors/callback_sink_test.cc
#include "brook/connectors/callback_sink.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "brook/brook.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace brook::connectors {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

TEST(CallbackSinkTest, HandsEveryRecordToTheCallbackInOrder) {
  std::vector<int64_t> got;
  CallbackSink<int64_t> sink([&got](const int64_t& v) { got.push_back(v); });
  auto writer = sink.CreateWriter(SinkWriterContext{});
  ASSERT_THAT(writer, IsOk());
  std::vector<StreamRecord<int64_t>> batch = {{10, 3}, {11, 1}, {12, 2}};
  ASSERT_THAT((*writer)->Write(batch), IsOk());
  EXPECT_THAT(got, ElementsAre(3, 1, 2));
  EXPECT_EQ(sink.records_written(), 3);
}

TEST(CallbackSinkTest, RunsAtAnyParallelismInAJob) {
  std::vector<int64_t> values(5000);
  for (int64_t i = 0; i < 5000; ++i) values[i] = i;
  for (int p : {1, 3}) {
    absl::Mutex mu;
    std::vector<int64_t> got;
    auto sink = std::make_shared<CallbackSink<int64_t>>([&](const int64_t& v) {
      absl::MutexLock lock(&mu);
      got.push_back(v);
    });
    StreamExecutionEnvironment env({.parallelism = p});
    env.FromCollection(values).Rebalance().Map([](int64_t v) { return v; }, "id").SinkTo(sink);
    ASSERT_THAT(env.Execute(), IsOk());
    EXPECT_THAT(got, UnorderedElementsAreArray(values));
    EXPECT_EQ(sink->records_written(), 5000);
  }
}

}  // namespace
}  // namespace brook::connectors
