// Tests for brook/window.h: window assignment (hand-computed values, negative
// timestamps and offsets), the event-time trigger, allowed lateness, late-data
// side output, purging, early firings, and the fluent DataStream API.
#include "brook/window.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <tuple>
#include <vector>

#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Ev {
  int64_t key = 0;
  int64_t value = 0;
};

// Output of the Count aggregate: one row per firing.
struct WindowCount {
  int64_t key = 0;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t count = 0;
  int64_t sum = 0;
  friend bool operator==(const WindowCount&, const WindowCount&) = default;
  friend auto operator<=>(const WindowCount&, const WindowCount&) = default;
  friend std::ostream& operator<<(std::ostream& os, const WindowCount& c) {
    return os << "{key=" << c.key << " [" << c.start_ms << "," << c.end_ms << ") count=" << c.count
              << " sum=" << c.sum << "}";
  }
};

struct CountAgg {
  struct Accumulator {
    int64_t count = 0;
    int64_t sum = 0;
  };
  using OutputType = WindowCount;
  Accumulator CreateAccumulator() const { return {}; }
  void Add(const Ev& e, Accumulator& acc) {
    ++acc.count;
    acc.sum += e.value;
  }
  void GetResult(const Accumulator& acc, const brook::TimeWindow& w, const int64_t& key,
                 std::vector<WindowCount>& out) {
    out.push_back({key, w.start_ms, w.end_ms, acc.count, acc.sum});
  }
};

static_assert(brook::WindowAggregateFunction<CountAgg, int64_t, Ev>);

using Op = brook::WindowOperator<int64_t, Ev, CountAgg>;
using Harness = brook::testing::KeyedProcessFunctionTestHarness<Op>;

Harness MakeHarness(brook::WindowOperatorOptions<Ev> options,
                    brook::testing::HarnessOptions h = {}) {
  return Harness(Op(CountAgg(), std::move(options)), [](const Ev& e) { return e.key; }, h);
}

std::vector<brook::TimeWindow> Assign(const brook::WindowAssigner& a, int64_t ts) {
  std::vector<brook::TimeWindow> w;
  EXPECT_TRUE(a.AssignWindows(ts, w)) << ts;
  return w;
}

brook::TimeWindow W(int64_t s, int64_t e) { return brook::TimeWindow{s, e}; }

// ---------------------------------------------------------------------------
// Assignment.

TEST(TimeWindow, MaxTimestampIsEndMinusOne) {
  EXPECT_EQ(W(0, 10).max_timestamp(), 9);
  EXPECT_EQ(W(-10, 0).max_timestamp(), -1);
  EXPECT_TRUE(brook::TimeWindow::Global().is_global());
  EXPECT_EQ(brook::TimeWindow::Global().max_timestamp(), brook::kMaxWatermarkMs);
  EXPECT_FALSE(W(0, 10).is_global());
}

TEST(WindowStart, MatchesFlinkForNegativeTimestamps) {
  using brook::GetWindowStartWithOffset;
  EXPECT_EQ(GetWindowStartWithOffset(0, 0, 10), 0);
  EXPECT_EQ(GetWindowStartWithOffset(9, 0, 10), 0);
  EXPECT_EQ(GetWindowStartWithOffset(10, 0, 10), 10);
  EXPECT_EQ(GetWindowStartWithOffset(-1, 0, 10), -10);
  EXPECT_EQ(GetWindowStartWithOffset(-10, 0, 10), -10);
  EXPECT_EQ(GetWindowStartWithOffset(-11, 0, 10), -20);
  // The old formula ts - (ts - offset + size) % size gives -10 here: a window
  // [-10, 0) that does not contain -15.
  EXPECT_EQ(GetWindowStartWithOffset(-15, 0, 10), -20);
  // Offsets: (-15 - 3) % 10 = -8 -> -15 - 2 = -17, i.e. [-17, -7).
  EXPECT_EQ(GetWindowStartWithOffset(-15, 3, 10), -17);
  EXPECT_EQ(GetWindowStartWithOffset(5, 3, 10), 3);
  EXPECT_EQ(GetWindowStartWithOffset(2, 3, 10), -7);
  EXPECT_EQ(GetWindowStartWithOffset(0, -3, 10), -3);
  EXPECT_EQ(GetWindowStartWithOffset(7, -3, 10), 7);
}

TEST(TumblingEventTimeWindows, AssignsOneWindow) {
  auto a = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10));
  ASSERT_THAT(a.Validate(), IsOk());
  EXPECT_THAT(Assign(a, 0), ElementsAre(W(0, 10)));
  EXPECT_THAT(Assign(a, 9), ElementsAre(W(0, 10)));
  EXPECT_THAT(Assign(a, 10), ElementsAre(W(10, 20)));
  EXPECT_THAT(Assign(a, -1), ElementsAre(W(-10, 0)));
  EXPECT_THAT(Assign(a, -15), ElementsAre(W(-20, -10)));

  auto shifted = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10), absl::Milliseconds(3));
  EXPECT_THAT(Assign(shifted, -15), ElementsAre(W(-17, -7)));
  EXPECT_THAT(Assign(shifted, 3), ElementsAre(W(3, 13)));
  EXPECT_THAT(Assign(shifted, 2), ElementsAre(W(-7, 3)));

  auto days = brook::TumblingEventTimeWindows::Of(absl::Hours(24), absl::Hours(-8));
  const int64_t day = 86'400'000, eight_h = 8 * 3'600'000;
  EXPECT_THAT(Assign(days, 0), ElementsAre(W(-eight_h, day - eight_h)));
}

TEST(SlidingEventTimeWindows, AssignsLatestFirst) {
  auto a = brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10), absl::Milliseconds(5));
  ASSERT_THAT(a.Validate(), IsOk());
  EXPECT_THAT(Assign(a, 7), ElementsAre(W(5, 15), W(0, 10)));
  EXPECT_THAT(Assign(a, 5), ElementsAre(W(5, 15), W(0, 10)));
  EXPECT_THAT(Assign(a, 4), ElementsAre(W(0, 10), W(-5, 5)));
  EXPECT_THAT(Assign(a, -1), ElementsAre(W(-5, 5), W(-10, 0)));
  EXPECT_THAT(Assign(a, -10), ElementsAre(W(-10, 0), W(-15, -5)));

  // size not a multiple of slide, with an offset: last start for -3 with
  // slide 4 offset 1 is -3 ((-3 - 1) % 4 == 0); starts -3, -7, -11 (> -13).
  auto b = brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10), absl::Milliseconds(4),
                                              absl::Milliseconds(1));
  EXPECT_THAT(Assign(b, -3), ElementsAre(W(-3, 7), W(-7, 3), W(-11, -1)));
  // Starting at 1: 1 + 4k. For 2: starts 1, -3, -7 (> -8).
  EXPECT_THAT(Assign(b, 2), ElementsAre(W(1, 11), W(-3, 7), W(-7, 3)));
}

TEST(GlobalWindows, AssignsTheGlobalWindow) {
  auto a = brook::GlobalWindows::Create();
  EXPECT_FALSE(a.is_event_time());
  EXPECT_THAT(Assign(a, -5), ElementsAre(brook::TimeWindow::Global()));
  EXPECT_THAT(Assign(a, brook::kMinTimestampMs), ElementsAre(brook::TimeWindow::Global()));
}

TEST(WindowAssigner, RejectsInvalidParameters) {
  using absl::Milliseconds;
  using brook::SlidingEventTimeWindows;
  using brook::TumblingEventTimeWindows;
  EXPECT_THAT(TumblingEventTimeWindows::Of(Milliseconds(0)).Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TumblingEventTimeWindows::Of(Milliseconds(10), Milliseconds(10)).Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TumblingEventTimeWindows::Of(Milliseconds(10), Milliseconds(-10)).Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TumblingEventTimeWindows::Of(Milliseconds(10), Milliseconds(-9)).Validate(), IsOk());
  EXPECT_THAT(SlidingEventTimeWindows::Of(Milliseconds(10), Milliseconds(0)).Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SlidingEventTimeWindows::Of(Milliseconds(0), Milliseconds(5)).Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SlidingEventTimeWindows::Of(Milliseconds(10), Milliseconds(5), Milliseconds(5))
                .Validate()
                , StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WindowAssigner, ReportsOverflowNearTheInt64Range) {
  auto a = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10));
  std::vector<brook::TimeWindow> w;
  EXPECT_FALSE(a.AssignWindows(brook::kMinTimestampMs, w));
  EXPECT_FALSE(a.AssignWindows(brook::kMaxWatermarkMs, w));
  auto s = brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10), absl::Milliseconds(5));
  EXPECT_FALSE(s.AssignWindows(brook::kMinTimestampMs + 3, w));
}

// ForEachWindow (the operator's per-record path, no vector) visits the
// windows AssignWindows returns, and none at all when a bound overflows.
TEST(WindowAssigner, ForEachWindowVisitsInPlaceAndNoneOnOverflow) {
  auto s = brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10), absl::Milliseconds(5));
  std::vector<brook::TimeWindow> visited;
  auto visit = [&visited](const brook::TimeWindow& w) { visited.push_back(w); };
  EXPECT_TRUE(s.ForEachWindow(7, visit));
  EXPECT_THAT(visited, ElementsAre(W(5, 15), W(0, 10)));
  visited.clear();
  // The latest window's end overflows: nothing is visited.
  EXPECT_FALSE(s.ForEachWindow(brook::kMaxWatermarkMs - 3, visit));
  EXPECT_THAT(visited, IsEmpty());
  EXPECT_TRUE(brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10)).ForEachWindow(-1, visit));
  EXPECT_THAT(visited, ElementsAre(W(-10, 0)));
}

// ---------------------------------------------------------------------------
// The window operator, driven by the test harness.

brook::WindowOperatorOptions<Ev> Tumbling10() {
  return {.assigner = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10))};
}

TEST(WindowOperator, FiresExactlyWhenWatermarkReachesMaxTimestamp) {
  Harness h = MakeHarness(Tumbling10());
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 5}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 7}, 9), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 100}, 10), IsOk());  // next window
  ASSERT_THAT(h.ProcessWatermark(8), IsOk());           // end - 2: not yet
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());  // end - 1 = max_timestamp
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, (WindowCount{1, 0, 10, 2, 12}));
  EXPECT_EQ(out[0].timestamp_ms, 9);  // stamped with the window's max_timestamp
  EXPECT_THAT(h.ExtractWatermarks(), ElementsAre(8, 9));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(1));
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 10, 20, 1, 100}));
  EXPECT_EQ(h.NumStateEntries(), 0);
  EXPECT_EQ(h.NumTimers(), 0u);
}

TEST(WindowOperator, FiresKeysInKeyOrderAndWindowsInTimeOrder) {
  Harness h = MakeHarness(Tumbling10());
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({3, 1}, 25), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 15), IsOk());
  ASSERT_THAT(h.ProcessElement({3, 1}, 5), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(100), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(WindowCount{1, 0, 10, 1, 1}, WindowCount{3, 0, 10, 1, 1},
                          WindowCount{2, 10, 20, 1, 1}, WindowCount{3, 20, 30, 1, 1}));
}

TEST(WindowOperator, LateRecordWithinAllowedLatenessRefiresWithUpdatedResult) {
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(5);
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 2}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 2, 3}));
  // After the firing, within lateness: fires again at once, with all records.
  ASSERT_THAT(h.ProcessElement({1, 10}, 3), IsOk());
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, (WindowCount{1, 0, 10, 3, 13}));
  EXPECT_EQ(out[0].timestamp_ms, 9);
  ASSERT_THAT(h.ProcessWatermark(13), IsOk());  // 9 + 5 = 14 not reached
  ASSERT_THAT(h.ProcessElement({1, 100}, 0), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 4, 113}));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(3));
  EXPECT_THAT(h.Metric("num_late_firings"), IsOkAndHolds(2));
  EXPECT_THAT(h.Metric("num_late_records"), IsOkAndHolds(0));
}

TEST(WindowOperator, RecordLateBeyondLatenessGoesToSideOutput) {
  brook::OutputTag<Ev> late("late");
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(5);
  options.late_data = late;
  Harness h = MakeHarness(options);
  h.RegisterSideOutput(late);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessWatermark(14), IsOk());  // max_ts 9 + lateness 5: window late
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 1, 1}));
  ASSERT_THAT(h.ProcessElement({1, 7}, 8), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());  // no refire
  auto side = h.ExtractSideOutput(late);
  ASSERT_EQ(side.size(), 1u);
  EXPECT_EQ(side[0].value.value, 7);
  EXPECT_EQ(side[0].timestamp_ms, 8);
  EXPECT_THAT(h.Metric("num_late_records"), IsOkAndHolds(1));
  EXPECT_THAT(h.Metric("num_late_records_dropped"),
              IsOkAndHolds(0));  // Flink: only when not side output
  // A record of a window not yet late is accepted as usual.
  ASSERT_THAT(h.ProcessElement({1, 9}, 10), IsOk());
  EXPECT_THAT(h.ExtractSideOutput(late), IsEmpty());
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 10, 20, 1, 9}));
}

TEST(WindowOperator, LateRecordWithoutSideOutputIsDroppedAndCounted) {
  Harness h = MakeHarness(Tumbling10());
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());  // [0, 10) is late at once (no lateness)
  ASSERT_THAT(h.ProcessElement({1, 1}, 9), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 0), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 10), IsOk());  // on time
  EXPECT_THAT(h.Metric("num_late_records_dropped"), IsOkAndHolds(2));
  EXPECT_THAT(h.Metric("num_late_records"), IsOkAndHolds(2));
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 10, 20, 1, 1}));
}

TEST(WindowOperator, PurgesStateAtMaxTimestampPlusLateness) {
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(5);
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 2), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 2);
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 2);  // fired, kept for late records
  ASSERT_THAT(h.ProcessWatermark(13), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 2);
  ASSERT_THAT(h.ProcessWatermark(14), IsOk());  // 9 + 5
  EXPECT_EQ(h.NumStateEntries(), 0);
  EXPECT_EQ(h.NumTimers(), 0u);
  EXPECT_EQ(h.ExtractOutputValues().size(), 2u);
}

TEST(WindowOperator, PurgesOnlyExpiredWindowsOfAKey) {
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(10);
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 2}, 11), IsOk());
  // 19 is both [10, 20)'s firing time and [0, 10)'s cleanup time.
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(WindowCount{1, 0, 10, 1, 1}, WindowCount{1, 10, 20, 1, 2}));
  EXPECT_EQ(h.NumStateEntries(), 1);  // key 1 still holds [10, 20)
  ASSERT_THAT(h.ProcessElement({1, 5}, 12), IsOk());  // late, allowed: refire
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 10, 20, 2, 7}));
  ASSERT_THAT(h.ProcessElement({1, 5}, 9), IsOk());  // [0, 10) purged: late
  EXPECT_THAT(h.ExtractOutputValues(), IsEmpty());
  EXPECT_THAT(h.Metric("num_late_records_dropped"), IsOkAndHolds(1));
  ASSERT_THAT(h.ProcessWatermark(29), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 0);
}

TEST(WindowOperator, SlidingWindowsFireEachWindowAndSkipOnlyLateOnes) {
  brook::WindowOperatorOptions<Ev> options{
      .assigner = brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10),
                                                     absl::Milliseconds(5))};
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 7), IsOk());  // [0, 10) and [5, 15)
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 1, 1}));
  // [0, 10) is late now, [5, 15) is not: the record counts in [5, 15) only
  // and is neither dropped nor side output.
  ASSERT_THAT(h.ProcessElement({1, 2}, 8), IsOk());
  EXPECT_THAT(h.Metric("num_late_records"), IsOkAndHolds(0));
  ASSERT_THAT(h.ProcessWatermark(14), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 5, 15, 2, 3}));
  EXPECT_EQ(h.NumStateEntries(), 0);
}

TEST(WindowOperator, GlobalWindowFiresOnlyAtMaxWatermark) {
  brook::WindowOperatorOptions<Ev> options{.assigner = brook::GlobalWindows::Create(),
                                           .allowed_lateness = absl::Milliseconds(5)};
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(1'000'000'000'000), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 2}, -7), IsOk());  // never late
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs - 1), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, (WindowCount{1, brook::kMinTimestampMs, brook::kMaxWatermarkMs, 2, 3}));
  EXPECT_EQ(out[0].timestamp_ms, brook::kMaxWatermarkMs);
  EXPECT_EQ(h.NumStateEntries(), 0);
  EXPECT_THAT(h.Metric("num_late_records"), IsOkAndHolds(0));
}

TEST(WindowOperator, EarlyFiringByProcessingTimeEmitsOnlyChangedPartitions) {
  auto options = Tumbling10();
  options.early_fire_interval = absl::Milliseconds(100);
  Harness h = MakeHarness(options, {.initial_processing_time_ms = 1'000});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 2), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 12), IsOk());  // key 2 has two windows
  ASSERT_THAT(h.SetProcessingTime(1'099), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.SetProcessingTime(1'100), IsOk());  // aligned to the interval
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(WindowCount{1, 0, 10, 1, 1}, WindowCount{2, 0, 10, 1, 1},
                          WindowCount{2, 10, 20, 1, 1}));
  EXPECT_THAT(h.Metric("num_early_firings"), IsOkAndHolds(3));
  // Only key 2's window [10, 20) changes.
  ASSERT_THAT(h.ProcessElement({2, 5}, 15), IsOk());
  ASSERT_THAT(h.SetProcessingTime(1'250), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{2, 10, 20, 2, 6}));
  // Nothing changed: nothing fires.
  ASSERT_THAT(h.SetProcessingTime(1'500), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  EXPECT_EQ(h.NumTimers(), 3u);  // the event-time timers only
  // The final results follow the early ones.
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(WindowCount{1, 0, 10, 1, 1}, WindowCount{2, 0, 10, 1, 1},
                          WindowCount{2, 10, 20, 2, 6}));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(3));
}

TEST(WindowOperator, EarlyTimerIsDeletedWhenKeyStateIsPurged) {
  auto options = Tumbling10();
  options.early_fire_interval = absl::Milliseconds(100);
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  EXPECT_EQ(h.NumTimers(), 2u);  // window end + early firing
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 1, 1}));
  EXPECT_EQ(h.NumTimers(), 0u);
  ASSERT_THAT(h.SetProcessingTime(1'000), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
}

TEST(WindowOperator, EarlyFiringByCount) {
  auto options = Tumbling10();
  options.early_fire_count = 2;
  Harness h = MakeHarness(options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.ProcessElement({1, 2}, 2), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(WindowCount{1, 0, 10, 2, 3}));
  ASSERT_THAT(h.ProcessElement({2, 7}, 2), IsOk());  // counted per key and window
  ASSERT_THAT(h.ProcessElement({1, 3}, 3), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 4}, 13), IsOk());  // another window
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.ProcessElement({1, 4}, 4), IsOk());
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, (WindowCount{1, 0, 10, 4, 10}));
  EXPECT_EQ(out[0].timestamp_ms, 9);
  ASSERT_THAT(h.ProcessElement({1, 5}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(WindowCount{1, 0, 10, 5, 15}, WindowCount{2, 0, 10, 1, 7}));
  EXPECT_THAT(h.Metric("num_early_firings"), IsOkAndHolds(2));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(2));
}

// Drives a harness through early firings (processing time), on-time
// firings, a late firing within the allowed lateness and the end of input.
void DriveEarlyAndLateFirings(Harness& h) {
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 2), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 1}, 12), IsOk());
  ASSERT_THAT(h.SetProcessingTime(1'100), IsOk());  // early: every changed window
  ASSERT_THAT(h.ProcessWatermark(5), IsOk());
  ASSERT_THAT(h.ProcessElement({2, 5}, 15), IsOk());
  ASSERT_THAT(h.SetProcessingTime(1'250), IsOk());  // early: [10, 20) of key 2
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());       // on time: [0, 10)
  ASSERT_THAT(h.ProcessElement({1, 10}, 3), IsOk());  // late, within lateness
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());        // on time: [10, 20)
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
}

TEST(WindowOperator, EarlyFiringsSideOutputLeavesTheMainOutputAsWithoutEarlyFirings) {
  using E = brook::testing::OutputElement<WindowCount>;
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(5);
  Harness plain = MakeHarness(options, {.initial_processing_time_ms = 1'000});
  DriveEarlyAndLateFirings(plain);

  const brook::OutputTag<WindowCount> early("early");
  options.early_fire_interval = absl::Milliseconds(100);
  options.early_firings_output = early.id();
  Harness h = MakeHarness(options, {.initial_processing_time_ms = 1'000});
  h.RegisterSideOutput(early);
  DriveEarlyAndLateFirings(h);

  // The main output: on-time and late firings only, each before the
  // watermark that fired it, exactly as without early firings.
  const std::vector<E> main = h.ExtractOutputSequence();
  EXPECT_THAT(main, ElementsAre(E::Watermark(5), E::Record({1, 0, 10, 1, 1}, 9),
                                E::Record({2, 0, 10, 1, 1}, 9), E::Watermark(9),
                                E::Record({1, 0, 10, 2, 11}, 9), E::Record({2, 10, 20, 2, 6}, 19),
                                E::Watermark(19), E::Watermark(brook::kMaxWatermarkMs)));
  EXPECT_EQ(main, plain.ExtractOutputSequence());
  // The side output: the early firings, stamped with their window's
  // max_timestamp, before every watermark that followed them upstream.
  EXPECT_THAT(h.ExtractSideOutputSequence(early),
              ElementsAre(E::Record({1, 0, 10, 1, 1}, 9), E::Record({2, 0, 10, 1, 1}, 9),
                          E::Record({2, 10, 20, 1, 1}, 19), E::Watermark(5),
                          E::Record({2, 10, 20, 2, 6}, 19), E::Watermark(9), E::Watermark(19),
                          E::Watermark(brook::kMaxWatermarkMs)));
  EXPECT_THAT(h.Metric("num_early_firings"), IsOkAndHolds(4));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(*plain.Metric("num_windows_fired")));
  EXPECT_THAT(h.Metric("num_late_firings"), IsOkAndHolds(1));
}

TEST(WindowOperator, EarlyFiringsByCountGoToTheSideOutput) {
  using E = brook::testing::OutputElement<WindowCount>;
  const brook::OutputTag<WindowCount> early("early");
  auto options = Tumbling10();
  options.early_fire_count = 2;
  options.early_firings_output = early.id();
  Harness h = MakeHarness(options);
  h.RegisterSideOutput(early);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 1}, 1), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 2}, 2), IsOk());
  ASSERT_THAT(h.ProcessElement({1, 3}, 3), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractSideOutputSequence(early),
              ElementsAre(E::Record({1, 0, 10, 2, 3}, 9), E::Watermark(9)));
  EXPECT_THAT(h.ExtractOutputSequence(),
              ElementsAre(E::Record({1, 0, 10, 3, 6}, 9), E::Watermark(9)));
}

TEST(WindowOperator, InvalidOptionsFailOpen) {
  auto options = Tumbling10();
  options.allowed_lateness = absl::Milliseconds(-1);
  Harness h = MakeHarness(options);
  EXPECT_THAT(h.Open(), StatusIs(absl::StatusCode::kInvalidArgument));

  Harness h2 = MakeHarness({.assigner = brook::TumblingEventTimeWindows::Of(absl::ZeroDuration())});
  EXPECT_THAT(h2.Open(), StatusIs(absl::StatusCode::kInvalidArgument));

  auto bad_count = Tumbling10();
  bad_count.early_fire_count = -2;
  Harness h3 = MakeHarness(bad_count);
  EXPECT_THAT(h3.Open(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WindowOperator, RecordWithoutUsableTimestampFailsWithInvalidArgument) {
  Harness h = MakeHarness(Tumbling10());
  ASSERT_THAT(h.Open(), IsOk());
  absl::Status s = h.ProcessElement({1, 1}, brook::kMinTimestampMs);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("timestamp"));
}

// ---------------------------------------------------------------------------
// The fluent API through StreamExecutionEnvironment.

struct TimedEv {
  int64_t key = 0;
  int64_t value = 0;
  int64_t ts_ms = 0;
};

struct TimedCount {
  struct Accumulator {
    int64_t count = 0;
    int64_t sum = 0;
  };
  using OutputType = WindowCount;
  Accumulator CreateAccumulator() const { return {}; }
  void Add(const TimedEv& e, Accumulator& acc) {
    ++acc.count;
    acc.sum += e.value;
  }
  void GetResult(const Accumulator& acc, const brook::TimeWindow& w, const int64_t& key,
                 std::vector<WindowCount>& out) {
    out.push_back({key, w.start_ms, w.end_ms, acc.count, acc.sum});
  }
};

TEST(WindowedStream, AggregatesAndSideOutputsLateDataInAJob) {
  // Records 0..999 by timestamp, keys 0..6, in order except every 100th
  // record, which arrives 60 ms late (its window [t/50*50, +50) has closed
  // when the watermark, emitted every 10 records, passed it).
  std::vector<TimedEv> events;
  for (int64_t i = 0; i < 1000; ++i) events.push_back({i % 7, i, i});
  std::vector<TimedEv> input;
  std::vector<TimedEv> late_expected;
  for (const TimedEv& e : events) {
    if (e.ts_ms % 100 == 50) continue;
    input.push_back(e);
    if (e.ts_ms % 100 == 10 && e.ts_ms >= 110) {
      TimedEv late = events[e.ts_ms - 60];
      input.push_back(late);
      late_expected.push_back(late);
    }
  }
  for (int p : {1, 3}) {
    brook::StreamExecutionEnvironment env({.parallelism = p});
    brook::OutputTag<TimedEv> late("late");
    auto sink = std::make_shared<brook::CollectSink<WindowCount>>();
    auto late_sink = std::make_shared<brook::CollectSink<TimedEv>>();
    auto counts =
        env.FromCollection(input, brook::WatermarkStrategy<TimedEv>::ForMonotonousTimestamps()
                                      .WithTimestampAssigner([](const TimedEv& e) { return e.ts_ms; })
                                      .WithRecordsPerWatermark(10))
            .KeyBy(&TimedEv::key)
            .Window(brook::TumblingEventTimeWindows::Of(absl::Milliseconds(50)))
            .AllowedLateness(absl::Milliseconds(0))
            .SideOutputLateData(late)
            .Aggregate(TimedCount(), "count");
    counts.SinkTo(sink);
    counts.GetSideOutput(late).SinkTo(late_sink);
    ASSERT_THAT(env.Execute("window-job"), IsOk()) << p;

    std::map<std::tuple<int64_t, int64_t>, WindowCount> expected;
    for (const TimedEv& e : input) {
      if (e.ts_ms % 100 == 50) continue;  // only late copies of these exist
      const int64_t start = e.ts_ms / 50 * 50;
      auto& c = expected[{e.key, start}];
      c = {e.key, start, start + 50, c.count + 1, c.sum + e.value};
    }
    std::vector<WindowCount> want;
    for (const auto& [k, c] : expected) want.push_back(c);
    std::vector<WindowCount> got = sink->values();
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "parallelism " << p;

    std::vector<int64_t> late_ts;
    for (const auto& e : late_sink->values()) late_ts.push_back(e.ts_ms);
    std::sort(late_ts.begin(), late_ts.end());
    std::vector<int64_t> late_want;
    for (const auto& e : late_expected) late_want.push_back(e.ts_ms);
    ASSERT_EQ(late_want.size(), 9u);  // 50, 150, ..., 850
    EXPECT_EQ(late_ts, late_want) << "parallelism " << p;
    EXPECT_THAT(env.metrics().Sum("num_late_records", "count"),
                IsOkAndHolds(static_cast<int64_t>(late_want.size())));
    EXPECT_THAT(env.metrics().Sum("num_late_records_dropped", "count"), IsOkAndHolds(0));
  }
}

TEST(WindowedStream, SideOutputEarlyFiringsSplitsFiringsInAJob) {
  std::vector<TimedEv> input;
  for (int64_t i = 0; i < 300; ++i) input.push_back({i % 5, i, i});
  auto strategy = brook::WatermarkStrategy<TimedEv>::ForMonotonousTimestamps()
                      .WithTimestampAssigner([](const TimedEv& e) { return e.ts_ms; })
                      .WithRecordsPerWatermark(10);
  for (int p : {1, 2}) {
    brook::StreamExecutionEnvironment env({.parallelism = p});
    const brook::OutputTag<WindowCount> early("early");
    auto sink = std::make_shared<brook::CollectSink<WindowCount>>();
    auto early_sink = std::make_shared<brook::CollectSink<WindowCount>>();
    auto counts = env.FromCollection(input, strategy)
                      .KeyBy(&TimedEv::key)
                      .Window(brook::TumblingEventTimeWindows::Of(absl::Milliseconds(50)))
                      .EarlyFireEveryCount(1)
                      .SideOutputEarlyFirings(early)
                      .Aggregate(TimedCount(), "count");
    counts.SinkTo(sink);
    counts.GetSideOutput(early).SinkTo(early_sink);
    ASSERT_THAT(env.Execute("early-job"), IsOk()) << p;

    // Main: one final row per key and window; side: one row per record.
    std::vector<WindowCount> got = sink->values();
    std::sort(got.begin(), got.end());
    std::vector<WindowCount> want;
    for (int64_t start = 0; start < 300; start += 50) {
      for (int64_t key = 0; key < 5; ++key) {
        int64_t sum = 0;
        for (int64_t v = start; v < start + 50; ++v) sum += v % 5 == key ? v : 0;
        want.push_back({key, start, start + 50, 10, sum});
      }
    }
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "parallelism " << p;
    EXPECT_EQ(early_sink->values().size(), input.size()) << "parallelism " << p;
  }
}

TEST(WindowedStream, EarlyFiringsTagOfAnotherTypeFailsExecute) {
  brook::StreamExecutionEnvironment env;
  env.FromCollection(std::vector<TimedEv>{{1, 1, 1}})
      .KeyBy(&TimedEv::key)
      .Window(brook::TumblingEventTimeWindows::Of(absl::Milliseconds(10)))
      .EarlyFireEveryCount(1)
      .SideOutputEarlyFirings(brook::OutputTag<int64_t>("early"))
      .Aggregate(TimedCount(), "mistyped")
      .SinkTo(std::make_shared<brook::CollectSink<WindowCount>>());
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("mistyped"));
}

TEST(WindowedStream, InvalidAssignerFailsExecute) {
  brook::StreamExecutionEnvironment env;
  auto sink = std::make_shared<brook::CollectSink<WindowCount>>();
  env.FromCollection(std::vector<TimedEv>{{1, 1, 1}})
      .KeyBy(&TimedEv::key)
      .Window(brook::SlidingEventTimeWindows::Of(absl::Milliseconds(10), absl::ZeroDuration()))
      .Aggregate(TimedCount(), "bad-window")
      .SinkTo(sink);
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("bad-window"));
}

}  // namespace
