#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

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
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1}, 5), IsOk());
  ASSERT_THAT(h.ProcessElement({2}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(15), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ::testing::ElementsAre(1501, 1502));
  EXPECT_THAT(h.ExtractWatermarks(), ::testing::ElementsAre(15));
  ASSERT_THAT(h.SetProcessingTime(1000), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ::testing::ElementsAre(100001, 100002));
}

// A timer's output precedes the watermark that fired it, and the harness
// keeps that order in one sequence; the separate extracts take their kind
// only.
TEST(Harness, OutputSequenceKeepsWatermarksInOrderWithRecords) {
  using E = brook::testing::OutputElement<int64_t>;
  brook::testing::KeyedProcessFunctionTestHarness<TimerFn> h(TimerFn(), [](const Ev& e) { return e.key; });
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(10), IsOk());
  ASSERT_THAT(h.ProcessElement({2}, 12), IsOk());
  ASSERT_THAT(h.ProcessWatermark(30), IsOk());
  EXPECT_THAT(h.ExtractOutputSequence(),
              ::testing::ElementsAre(E::Watermark(10), E::Record(1501, 15), E::Record(2202, 22),
                                     E::Watermark(30)));
  EXPECT_THAT(h.ExtractOutputSequence(), ::testing::IsEmpty());

  ASSERT_THAT(h.SetProcessingTime(1000), IsOk());
  ASSERT_THAT(h.ProcessWatermark(40), IsOk());
  EXPECT_THAT(h.ExtractWatermarks(), ::testing::ElementsAre(40));
  EXPECT_THAT(h.ExtractOutputSequence(),
              ::testing::ElementsAre(E::Record(100001, 1000), E::Record(100002, 1000)));
  EXPECT_EQ(::testing::PrintToString(E::Record(7, 9)), "Record(7 @9)");
  EXPECT_EQ(::testing::PrintToString(E::Watermark(9)), "Watermark(9)");
}
}  // namespace
