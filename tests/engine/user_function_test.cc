// File: tests/engine/user_function_test.cc
//
// A user's own operator, written the way a brook user would: only the public
// umbrella header, a KeyedProcessFunction with keyed state, event-time timers
// and a side output, run in a full job at parallelism 2. The expected result
// is computed independently from the documented semantics (DESIGN.md §4-5).
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "brook/brook.h"  // the only brook include: public API only
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {

using ::brook::testing::IsOkAndHolds;

struct Click {
  int64_t user;
  int64_t ts;
};

struct Session {
  int64_t user;
  int64_t index;  // 0, 1, ... per user
  int64_t start;  // first click
  int64_t end;    // last click
  int64_t clicks;
  friend bool operator==(const Session&, const Session&) = default;
  friend bool operator<(const Session& a, const Session& b) {
    return std::tie(a.user, a.index, a.start, a.end, a.clicks) <
           std::tie(b.user, b.index, b.start, b.end, b.clicks);
  }
};

const brook::OutputTag<Click> kLateClicks("late-clicks");

// Sessionizes clicks per user in event time: clicks less than `gap` apart
// belong to one session (Flink's session windows: [ts, ts + gap) merged). A
// session is final once the watermark reaches last + gap - 1, when no click
// that could still extend it can be on time. Clicks at or below the watermark
// are late and go to a side output.
class Sessionizer : public brook::KeyedProcessFunction<int64_t, Click, Session> {
 public:
  explicit Sessionizer(int64_t gap_ms) : gap_ms_(gap_ms) {}

  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(pending_,
                           ctx.GetListState(brook::ListStateDescriptor<int64_t>("pending")));
    BROOK_ASSIGN_OR_RETURN(sessions_,
                           ctx.GetState(brook::ValueStateDescriptor<int64_t>("sessions")));
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const Click& c, Context& ctx,
                              brook::Collector<Session>&) override {
    if (c.ts <= ctx.CurrentWatermark()) {
      ctx.Output(kLateClicks, c);
      return absl::OkStatus();
    }
    pending_.Add(c.ts);
    ctx.timer_service().RegisterEventTimeTimer(c.ts + gap_ms_ - 1);
    return absl::OkStatus();
  }

  absl::Status OnTimer(int64_t timestamp_ms, OnTimerContext& ctx,
                       brook::Collector<Session>& out) override {
    const std::vector<int64_t>* p = pending_.Get();
    if (p == nullptr) return absl::OkStatus();
    std::vector<int64_t> ts = *p;
    std::sort(ts.begin(), ts.end());
    std::vector<int64_t> keep;
    size_t i = 0;
    while (i < ts.size()) {
      size_t j = i;
      while (j + 1 < ts.size() && ts[j + 1] - ts[j] < gap_ms_) ++j;
      if (ts[j] + gap_ms_ - 1 <= timestamp_ms) {
        const int64_t* n = sessions_.Get();
        const int64_t index = n ? *n : 0;
        sessions_.Update(index + 1);
        out.Collect(Session{ctx.GetCurrentKey(), index, ts[i], ts[j],
                            static_cast<int64_t>(j - i + 1)});
      } else {
        keep.insert(keep.end(), ts.begin() + i, ts.begin() + j + 1);
      }
      i = j + 1;
    }
    pending_.Update(std::move(keep));
    return absl::OkStatus();
  }

 private:
  int64_t gap_ms_;
  brook::ListState<int64_t> pending_;
  brook::ValueState<int64_t> sessions_;
};

constexpr int64_t kGap = 50;
constexpr int64_t kDelay = 20;  // bounded out-of-orderness
constexpr int64_t kRecordsPerWatermark = 64;

// 20 users; each clicks in bursts separated by pauses longer than the gap,
// with a few milliseconds of disorder, and now and then a click that is far
// too old (late).
std::vector<Click> MakeClicks() {
  std::vector<Click> v;
  uint32_t x = 12345;
  auto next = [&x] {
    x = x * 1103515245u + 12345u;
    return (x >> 8) % 1000;
  };
  int64_t t = 0;
  for (int i = 0; i < 6000; ++i) {
    t += 1 + next() % 4;
    if (next() % 40 == 0) t += 200;  // a pause: sessions of every user close
    const int64_t user = next() % 20;
    int64_t ts = t - static_cast<int64_t>(next() % (kDelay + 1));  // disorder <= kDelay
    if (i > 100 && next() % 97 == 0) ts = t - 1000;  // late
    v.push_back(Click{user, ts});
  }
  return v;
}

// The expected result, straight from the semantics: the single source
// (parallelism 1) emits watermark max_ts - delay - 1 after every N records,
// so click i sees the watermark emitted after click N * floor(i / N) - 1; a
// click at or below it is late. The rest form sessions per user.
void Expected(const std::vector<Click>& clicks, std::vector<Session>* sessions,
              std::vector<int64_t>* late_ts) {
  int64_t max_ts = brook::kMinTimestampMs + kDelay + 1;
  int64_t wm = brook::kMinTimestampMs;
  std::map<int64_t, std::vector<int64_t>> on_time;
  for (size_t i = 0; i < clicks.size(); ++i) {
    if (clicks[i].ts <= wm) {
      late_ts->push_back(clicks[i].ts);
    } else {
      on_time[clicks[i].user].push_back(clicks[i].ts);
    }
    max_ts = std::max(max_ts, clicks[i].ts);
    if ((i + 1) % kRecordsPerWatermark == 0) wm = std::max(wm, max_ts - kDelay - 1);
  }
  for (auto& [user, ts] : on_time) {
    std::sort(ts.begin(), ts.end());
    int64_t index = 0;
    size_t i = 0;
    while (i < ts.size()) {
      size_t j = i;
      while (j + 1 < ts.size() && ts[j + 1] - ts[j] < kGap) ++j;
      sessions->push_back(Session{user, index++, ts[i], ts[j], static_cast<int64_t>(j - i + 1)});
      i = j + 1;
    }
  }
}

TEST(UserFunctionTest, SessionizerAtParallelism2) {
  const std::vector<Click> clicks = MakeClicks();
  std::vector<Session> expected;
  std::vector<int64_t> expected_late;
  Expected(clicks, &expected, &expected_late);
  ASSERT_GT(expected_late.size(), 10u);
  ASSERT_GT(expected.size(), 200u);

  brook::StreamExecutionEnvironment env({.parallelism = 2, .batch_size = 32});
  auto sessions = std::make_shared<brook::CollectSink<Session>>();
  auto late = std::make_shared<brook::CollectSink<Click>>();
  auto sessionized =
      env.FromCollection(clicks,
                         brook::WatermarkStrategy<Click>::ForBoundedOutOfOrderness(
                             absl::Milliseconds(kDelay))
                             .WithTimestampAssigner([](const Click& c) { return c.ts; })
                             .WithRecordsPerWatermark(kRecordsPerWatermark))
          .KeyBy(&Click::user)
          .Process(Sessionizer(kGap), "sessionize");
  sessionized.SinkTo(sessions, "sessions");
  sessionized.GetSideOutput(kLateClicks).SinkTo(late, "late", 1);
  absl::Status s = env.Execute("sessions");
  ASSERT_THAT(s, IsOk());

  std::vector<Session> got = sessions->values();
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
  // Each session record carries the time it was finalised: its last click
  // plus the gap, minus one (the timer's timestamp).
  for (const auto& r : sessions->records()) {
    ASSERT_EQ(r.timestamp_ms, r.value.end + kGap - 1);
  }

  std::vector<int64_t> got_late;
  for (const auto& r : late->records()) {
    got_late.push_back(r.value.ts);
    ASSERT_EQ(r.timestamp_ms, r.value.ts);
  }
  std::sort(got_late.begin(), got_late.end());
  std::sort(expected_late.begin(), expected_late.end());
  EXPECT_EQ(got_late, expected_late);

  int64_t total = static_cast<int64_t>(got_late.size());
  for (const Session& x : got) total += x.clicks;
  EXPECT_EQ(total, static_cast<int64_t>(clicks.size()));
  EXPECT_THAT(env.metrics().Sum("num_records_in", "sessionize"),
              IsOkAndHolds(static_cast<int64_t>(clicks.size())));
}

}  // namespace
