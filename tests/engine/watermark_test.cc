// File: tests/engine/watermark_test.cc
//
// Watermark generation (Flink's BoundedOutOfOrdernessWatermarks and friends),
// the input valve that combines channels (Flink's StatusWatermarkValve), and
// watermarks end to end through a parallel job.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/internal/watermark_valve.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {

using ::brook::kMaxWatermarkMs;
using ::brook::kMinTimestampMs;
using ::brook::internal::WatermarkValve;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// ---------------------------------------------------------------------------
// Generators.

TEST(WatermarkGeneratorTest, BoundedOutOfOrdernessStartsJustAboveMin) {
  brook::BoundedOutOfOrdernessWatermarks g(absl::Milliseconds(5));
  // max_ts starts at INT64_MIN + d + 1, so the first watermark is INT64_MIN:
  // no overflow, and nothing is late yet.
  EXPECT_EQ(g.max_timestamp_ms(), kMinTimestampMs + 5 + 1);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(kMinTimestampMs));
}

TEST(WatermarkGeneratorTest, BoundedOutOfOrdernessIsMaxMinusDelayMinusOne) {
  brook::BoundedOutOfOrdernessWatermarks g(absl::Milliseconds(5));
  g.OnEvent(100);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(94));
  g.OnEvent(120);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(114));
  // An out-of-order event does not move it back.
  g.OnEvent(50);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(114));
  EXPECT_EQ(g.max_timestamp_ms(), 120);
  g.OnEvent(121);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(115));
}

TEST(WatermarkGeneratorTest, BoundedOutOfOrdernessHandlesNegativeTimestamps) {
  brook::BoundedOutOfOrdernessWatermarks g(absl::Seconds(1));
  g.OnEvent(-5000);
  EXPECT_EQ(g.OnPeriodicEmit(), std::optional<int64_t>(-6001));
}

TEST(WatermarkGeneratorTest, MonotonousIsMaxMinusOne) {
  auto g = brook::WatermarkStrategy<int>::ForMonotonousTimestamps().CreateGenerator();
  EXPECT_EQ(g->OnPeriodicEmit(), std::optional<int64_t>(kMinTimestampMs));
  g->OnEvent(10);
  EXPECT_EQ(g->OnPeriodicEmit(), std::optional<int64_t>(9));
  g->OnEvent(10);
  EXPECT_EQ(g->OnPeriodicEmit(), std::optional<int64_t>(9));
  g->OnEvent(11);
  EXPECT_EQ(g->OnPeriodicEmit(), std::optional<int64_t>(10));
}

TEST(WatermarkGeneratorTest, StrategyBuildsBoundedGenerator) {
  auto g = brook::WatermarkStrategy<int>::ForBoundedOutOfOrderness(absl::Seconds(2))
               .CreateGenerator();
  g->OnEvent(10000);
  EXPECT_EQ(g->OnPeriodicEmit(), std::optional<int64_t>(7999));
}

TEST(WatermarkGeneratorTest, NoWatermarksEmitsNothing) {
  auto g = brook::WatermarkStrategy<int>::NoWatermarks().CreateGenerator();
  EXPECT_EQ(g->OnPeriodicEmit(), std::nullopt);
  g->OnEvent(1000);
  EXPECT_EQ(g->OnPeriodicEmit(), std::nullopt);
}

TEST(WatermarkGeneratorTest, StrategyDecoratorsKeepSettings) {
  auto s = brook::WatermarkStrategy<int>::ForMonotonousTimestamps()
               .WithTimestampAssigner([](const int& v) { return int64_t{v} * 2; })
               .WithIdleness(absl::Seconds(3))
               .WithRecordsPerWatermark(0)  // clamped to 1
               .WithAutoWatermarkInterval(absl::Milliseconds(50));
  ASSERT_TRUE(static_cast<bool>(s.timestamp_assigner()));
  EXPECT_EQ(s.timestamp_assigner()(21), 42);
  EXPECT_EQ(s.idleness(), absl::Seconds(3));
  EXPECT_EQ(s.records_per_watermark(), 1);
  EXPECT_EQ(s.auto_watermark_interval(), absl::Milliseconds(50));
  EXPECT_EQ(brook::WatermarkStrategy<int>::NoWatermarks().records_per_watermark(), 1000);
}

// ---------------------------------------------------------------------------
// WatermarkValve.

std::optional<int64_t> Wm(const WatermarkValve::Output& o) { return o.watermark; }

TEST(WatermarkValveTest, EmitsMinimumOverChannels) {
  WatermarkValve v(2);
  EXPECT_EQ(Wm(v.OnWatermark(0, 10)), std::nullopt);  // channel 1 still at -inf
  EXPECT_EQ(Wm(v.OnWatermark(1, 5)), std::optional<int64_t>(5));
  EXPECT_EQ(Wm(v.OnWatermark(1, 20)), std::optional<int64_t>(10));
  EXPECT_EQ(Wm(v.OnWatermark(0, 15)), std::optional<int64_t>(15));
  EXPECT_EQ(Wm(v.OnWatermark(0, 30)), std::optional<int64_t>(20));
  EXPECT_EQ(v.last_output(), 20);
}

TEST(WatermarkValveTest, SingleChannelPassesThrough) {
  WatermarkValve v(1);
  EXPECT_EQ(Wm(v.OnWatermark(0, -100)), std::optional<int64_t>(-100));
  EXPECT_EQ(Wm(v.OnWatermark(0, 7)), std::optional<int64_t>(7));
}

TEST(WatermarkValveTest, NeverGoesBackwards) {
  WatermarkValve v(2);
  v.OnWatermark(0, 10);
  EXPECT_EQ(Wm(v.OnWatermark(1, 10)), std::optional<int64_t>(10));
  // A channel's own regression is ignored...
  EXPECT_EQ(Wm(v.OnWatermark(0, 3)), std::nullopt);
  // ...so it still counts as 10, not 3.
  EXPECT_EQ(Wm(v.OnWatermark(1, 12)), std::nullopt);
  EXPECT_EQ(Wm(v.OnWatermark(0, 11)), std::optional<int64_t>(11));
  // Equal watermarks emit nothing.
  EXPECT_EQ(Wm(v.OnWatermark(0, 11)), std::nullopt);
}

TEST(WatermarkValveTest, IdleChannelDoesNotHoldBackMinimum) {
  WatermarkValve v(3);
  v.OnWatermark(0, 100);
  v.OnWatermark(1, 50);
  // Channel 2 never sent a watermark: it holds everything back...
  EXPECT_EQ(v.last_output(), kMinTimestampMs);
  // ...until it goes idle.
  auto out = v.OnIdle(2);
  EXPECT_EQ(out.watermark, std::optional<int64_t>(50));
  EXPECT_EQ(out.idle, std::nullopt);  // not every channel is idle
  EXPECT_FALSE(v.idle());
  EXPECT_EQ(Wm(v.OnWatermark(1, 200)), std::optional<int64_t>(100));
  // Watermarks from an idle channel are ignored.
  EXPECT_EQ(Wm(v.OnWatermark(2, 10)), std::nullopt);
  EXPECT_EQ(Wm(v.OnWatermark(0, 150)), std::optional<int64_t>(150));
}

TEST(WatermarkValveTest, AllIdleEmitsMaximumThenIdle) {
  WatermarkValve v(2);
  v.OnWatermark(0, 30);
  EXPECT_EQ(Wm(v.OnWatermark(1, 10)), std::optional<int64_t>(10));
  auto out = v.OnIdle(0);
  EXPECT_EQ(out.watermark, std::nullopt);  // channel 1 (10) is still the min
  EXPECT_EQ(out.idle, std::nullopt);
  out = v.OnIdle(1);
  EXPECT_EQ(out.watermark, std::optional<int64_t>(30));  // the max across channels
  EXPECT_EQ(out.idle, std::optional<bool>(true));
  EXPECT_TRUE(v.idle());
  // Idle again: nothing new.
  out = v.OnIdle(1);
  EXPECT_EQ(out.watermark, std::nullopt);
  EXPECT_EQ(out.idle, std::nullopt);
}

TEST(WatermarkValveTest, ActiveChannelRejoinsOnlyAfterCatchingUp) {
  WatermarkValve v(2);
  v.OnWatermark(0, 20);
  v.OnWatermark(1, 20);
  ASSERT_EQ(v.last_output(), 20);
  v.OnIdle(1);
  EXPECT_EQ(Wm(v.OnWatermark(0, 100)), std::optional<int64_t>(100));
  auto out = v.OnActive(1);
  EXPECT_EQ(out.idle, std::nullopt);  // the valve as a whole was never idle
  EXPECT_EQ(out.watermark, std::nullopt);
  // Channel 1 is behind the output (50 < 100): it must not pull it back or
  // hold it.
  EXPECT_EQ(Wm(v.OnWatermark(1, 50)), std::nullopt);
  EXPECT_EQ(Wm(v.OnWatermark(0, 150)), std::optional<int64_t>(150));
  // Caught up (160 >= 150): from now on it counts in the minimum.
  EXPECT_EQ(Wm(v.OnWatermark(1, 160)), std::nullopt);
  EXPECT_EQ(Wm(v.OnWatermark(0, 300)), std::optional<int64_t>(160));
  EXPECT_EQ(Wm(v.OnWatermark(1, 250)), std::optional<int64_t>(250));
}

TEST(WatermarkValveTest, BecomingActiveAfterAllIdleReportsActive) {
  WatermarkValve v(2);
  v.OnWatermark(0, 30);
  v.OnWatermark(1, 10);
  v.OnIdle(0);
  ASSERT_EQ(v.OnIdle(1).idle, std::optional<bool>(true));
  ASSERT_EQ(v.last_output(), 30);
  auto out = v.OnActive(1);
  EXPECT_EQ(out.idle, std::optional<bool>(false));
  EXPECT_FALSE(v.idle());
  // Channel 1 (10) is behind the emitted 30: not aligned until it passes it.
  EXPECT_EQ(Wm(v.OnWatermark(1, 25)), std::nullopt);
  EXPECT_EQ(Wm(v.OnWatermark(1, 40)), std::optional<int64_t>(40));
}

TEST(WatermarkValveTest, EndOfInputCountsAsInfinity) {
  WatermarkValve v(3);
  v.OnWatermark(0, 10);
  v.OnWatermark(1, 20);
  EXPECT_EQ(Wm(v.OnWatermark(2, 30)), std::optional<int64_t>(10));
  EXPECT_EQ(Wm(v.OnEndOfInput(0)), std::optional<int64_t>(20));
  EXPECT_FALSE(v.AllEnded());
  // An ended channel ignores late control elements.
  EXPECT_EQ(Wm(v.OnWatermark(0, 5)), std::nullopt);
  EXPECT_EQ(Wm(v.OnEndOfInput(0)), std::nullopt);
  EXPECT_EQ(Wm(v.OnEndOfInput(1)), std::optional<int64_t>(30));
  EXPECT_EQ(Wm(v.OnEndOfInput(2)), std::optional<int64_t>(kMaxWatermarkMs));
  EXPECT_TRUE(v.AllEnded());
}

TEST(WatermarkValveTest, EndOfIdleChannelLetsOthersThrough) {
  WatermarkValve v(2);
  v.OnWatermark(0, 10);
  v.OnIdle(1);  // min is now channel 0's 10
  ASSERT_EQ(v.last_output(), 10);
  v.OnEndOfInput(1);
  EXPECT_EQ(Wm(v.OnWatermark(0, 40)), std::optional<int64_t>(40));
  EXPECT_EQ(Wm(v.OnEndOfInput(0)), std::optional<int64_t>(kMaxWatermarkMs));
}

// ---------------------------------------------------------------------------
// End to end.

struct Ev {
  int64_t key;
  int64_t ts;
};

// Deterministic jitter in [0, 30): with a bound of 40 ms nothing is late.
int64_t Jitter(int64_t i) { return (i * 7919) % 30; }

std::vector<Ev> MakeEvents(int n, int keys) {
  std::vector<Ev> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(Ev{i % keys, 1000 + 10 * i + Jitter(i)});
  return v;
}

// Passes records through and counts those at or below the watermark (late).
class PassThrough : public brook::KeyedProcessFunction<int64_t, Ev, Ev> {
 public:
  absl::Status ProcessElement(const Ev& e, Context& ctx, brook::Collector<Ev>& out) override {
    if (e.ts <= ctx.CurrentWatermark()) {
      return absl::InternalError(absl::StrCat("late record ts=", e.ts, " at watermark ",
                                              ctx.CurrentWatermark()));
    }
    out.Collect(e);
    return absl::OkStatus();
  }
};

TEST(WatermarkEndToEndTest, ParallelJobWatermarksAreMonotonicAndEndAtMax) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .batch_size = 64});
  auto sink = std::make_shared<brook::CollectSink<Ev>>();
  auto strategy = brook::WatermarkStrategy<Ev>::ForBoundedOutOfOrderness(absl::Milliseconds(40))
                      .WithTimestampAssigner([](const Ev& e) { return e.ts; })
                      .WithRecordsPerWatermark(100);
  const std::vector<Ev> events = MakeEvents(20000, 37);
  env.FromSource<Ev>(std::make_shared<brook::CollectionSource<Ev>>(events), strategy, "src")
      .Map([](Ev e) { return e; }, "identity")
      .KeyBy(&Ev::key)
      .Process(PassThrough(), "pass")
      .SinkTo(sink, "sink");
  ASSERT_THAT(env.Execute("wm-e2e"), IsOk());
  EXPECT_EQ(sink->records().size(), events.size());
  for (int s = 0; s < 2; ++s) {
    const std::vector<int64_t> wms = sink->watermarks(s);
    ASSERT_GE(wms.size(), 2u) << "subtask " << s;
    EXPECT_TRUE(std::is_sorted(wms.begin(), wms.end())) << "subtask " << s;
    EXPECT_EQ(std::adjacent_find(wms.begin(), wms.end()), wms.end()) << "repeated watermark";
    EXPECT_EQ(wms.back(), kMaxWatermarkMs) << "subtask " << s;
    // Before the end, no watermark exceeds what the input justifies.
    EXPECT_LE(wms[wms.size() - 2], events.back().ts);
  }
  // Every record carries its assigned timestamp.
  for (const auto& r : sink->records()) ASSERT_EQ(r.timestamp_ms, r.value.ts);
}

// The watermarks a bounded source emits after every `n` records of `events`
// (Flink's BoundedOutOfOrdernessWatermarks, asked by input position), then
// the maximum one at the end of the input.
std::vector<int64_t> ExpectedSourceWatermarks(const std::vector<Ev>& events, int64_t n,
                                              int64_t delay_ms) {
  std::vector<int64_t> out;
  int64_t max_ts = kMinTimestampMs + delay_ms + 1;
  for (size_t i = 0; i < events.size(); ++i) {
    max_ts = std::max(max_ts, events[i].ts);
    if ((static_cast<int64_t>(i) + 1) % n == 0) {
      const int64_t wm = max_ts - delay_ms - 1;
      if (out.empty() || wm > out.back()) out.push_back(wm);
    }
  }
  out.push_back(kMaxWatermarkMs);
  return out;
}

std::vector<int64_t> RunRecordsPerWatermarkJob(const std::vector<Ev>& events, int sink_p,
                                               int sink_subtask) {
  brook::StreamExecutionEnvironment env({.parallelism = 1, .batch_size = 32});
  auto sink = std::make_shared<brook::CollectSink<Ev>>();
  auto strategy = brook::WatermarkStrategy<Ev>::ForBoundedOutOfOrderness(absl::Milliseconds(40))
                      .WithTimestampAssigner([](const Ev& e) { return e.ts; })
                      .WithRecordsPerWatermark(250);
  env.FromCollection(events, strategy)
      .KeyBy(&Ev::key)
      .Process(PassThrough(), "pass")
      .SetParallelism(sink_p)
      .SinkTo(sink, "sink", sink_p);
  absl::Status s = env.Execute();
  EXPECT_THAT(s, IsOk());
  return sink->watermarks(sink_subtask);
}

TEST(WatermarkEndToEndTest, BoundedSourceEmitsEveryNRecordsDeterministically) {
  const std::vector<Ev> events = MakeEvents(5000, 11);
  const std::vector<int64_t> expected = ExpectedSourceWatermarks(events, 250, 40);
  ASSERT_EQ(expected.size(), 5000u / 250 + 1);
  // Chained (parallelism 1) and across a keyed exchange to two subtasks, each
  // of which reads the single source's watermarks unchanged; twice each.
  for (int run = 0; run < 2; ++run) {
    EXPECT_THAT(RunRecordsPerWatermarkJob(events, 1, 0), ElementsAreArray(expected)) << run;
    EXPECT_THAT(RunRecordsPerWatermarkJob(events, 2, 0), ElementsAreArray(expected)) << run;
    EXPECT_THAT(RunRecordsPerWatermarkJob(events, 2, 1), ElementsAreArray(expected)) << run;
  }
}

TEST(WatermarkEndToEndTest, NoWatermarksJumpsToMaxAtEnd) {
  brook::StreamExecutionEnvironment env;
  auto sink = std::make_shared<brook::CollectSink<Ev>>();
  env.FromCollection(MakeEvents(3000, 5)).SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_THAT(sink->watermarks(0), ElementsAre(kMaxWatermarkMs));
  // No timestamp assigner: the source's timestamp (0) is used.
  for (const auto& r : sink->records()) ASSERT_EQ(r.timestamp_ms, 0);
}

// A generator whose watermark goes down and up: the runtime must still only
// ever emit increasing watermarks.
class ZigZagGenerator : public brook::WatermarkGenerator {
 public:
  void OnEvent(int64_t) override {}
  std::optional<int64_t> OnPeriodicEmit() override {
    ++calls_;
    return calls_ % 2 == 1 ? 1000 * calls_ : 10;
  }

 private:
  int64_t calls_ = 0;
};

TEST(WatermarkEndToEndTest, RuntimeNeverEmitsBackwardsWatermarks) {
  brook::StreamExecutionEnvironment env;
  auto sink = std::make_shared<brook::CollectSink<Ev>>();
  auto strategy =
      brook::WatermarkStrategy<Ev>::ForGenerator([] { return std::make_unique<ZigZagGenerator>(); })
          .WithRecordsPerWatermark(100);
  env.FromCollection(MakeEvents(600, 3), strategy).SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  // Calls 1..6 return 1000, 10, 3000, 10, 5000, 10.
  EXPECT_THAT(sink->watermarks(0), ElementsAre(1000, 3000, 5000, kMaxWatermarkMs));
}

}  // namespace
