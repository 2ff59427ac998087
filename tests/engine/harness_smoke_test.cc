#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/testing/test_harness.h"

namespace {
struct Ev { int64_t key; };
class TimerFn : public brook::KeyedProcessFunction<int64_t, Ev, int64_t> {
 public:
  absl::Status ProcessElement(const Ev& e, Context& ctx, brook::Collector<int64_t>&) override {
    ctx.timer_service().RegisterEventTimeTimer(ctx.timestamp() + 10);
    ctx.timer_service().RegisterProcessingTimeTimer(1000);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext& ctx, brook::Collector<int64_t>& out) override {
    out.Collect(ts * 100 + ctx.GetCurrentKey());
    return absl::OkStatus();
  }
};
TEST(Harness, FiresTimers) {
  brook::testing::KeyedProcessFunctionTestHarness<TimerFn> h(TimerFn(), [](const Ev& e) { return e.key; });
  ASSERT_TRUE(h.Open().ok());
  ASSERT_TRUE(h.ProcessElement({1}, 5).ok());
  ASSERT_TRUE(h.ProcessElement({2}, 5).ok());
  ASSERT_TRUE(h.ProcessWatermark(15).ok());
  EXPECT_THAT(h.ExtractOutputValues(), ::testing::ElementsAre(1501, 1502));
  EXPECT_THAT(h.ExtractWatermarks(), ::testing::ElementsAre(15));
  ASSERT_TRUE(h.SetProcessingTime(1000).ok());
  EXPECT_THAT(h.ExtractOutputValues(), ::testing::ElementsAre(100001, 100002));
}
}  // namespace
