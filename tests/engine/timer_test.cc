// File: tests/engine/timer_test.cc
//
// Timers through the operator test harness (Flink's InternalTimerService
// rules): event-time timers fire when the watermark reaches them, in
// (timestamp, key) order, once per (key, timestamp); processing-time timers
// fire as the (manual) clock reaches them.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {

using ::brook::testing::KeyedProcessFunctionTestHarness;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// What to do with a record: register / delete timers, for the record's key.
struct Cmd {
  std::string key;
  std::string op;  // "reg", "del", "preg", "pdel", "chain", "query"
  int64_t ts = 0;
};

std::string KeyOf(const Cmd& c) { return c.key; }

// Registers or deletes timers as told. OnTimer reports
// "<domain>:<key>@<ts>" (and the context's timestamp, when different) and,
// for keys starting with "chain", registers a follow-up timer at ts + 1 up to
// a limit.
class TimerFn : public brook::KeyedProcessFunction<std::string, Cmd, std::string> {
 public:
  absl::Status ProcessElement(const Cmd& c, Context& ctx,
                              brook::Collector<std::string>& out) override {
    brook::TimerService& ts = ctx.timer_service();
    if (c.op == "reg") {
      ts.RegisterEventTimeTimer(c.ts);
    } else if (c.op == "del") {
      ts.DeleteEventTimeTimer(c.ts);
    } else if (c.op == "preg") {
      ts.RegisterProcessingTimeTimer(c.ts);
    } else if (c.op == "pdel") {
      ts.DeleteProcessingTimeTimer(c.ts);
    } else if (c.op == "query") {
      out.Collect(absl::StrCat("wm=", ts.CurrentWatermark(), " now=", ts.CurrentProcessingTime(),
                               " ctxwm=", ctx.CurrentWatermark()));
    } else {
      return absl::InvalidArgumentError(c.op);
    }
    return absl::OkStatus();
  }

  absl::Status OnTimer(int64_t timestamp_ms, OnTimerContext& ctx,
                       brook::Collector<std::string>& out) override {
    const bool event = ctx.time_domain() == brook::TimeDomain::kEventTime;
    std::string s = absl::StrCat(event ? "e:" : "p:", ctx.GetCurrentKey(), "@", timestamp_ms);
    if (ctx.timestamp() != timestamp_ms) absl::StrAppend(&s, " ctx.timestamp=", ctx.timestamp());
    out.Collect(std::move(s));
    const std::string& key = ctx.GetCurrentKey();
    if (key.rfind("chain", 0) == 0 && timestamp_ms < 103) {
      // At or below the current watermark / clock: fires in the same advance.
      if (event) {
        ctx.timer_service().RegisterEventTimeTimer(timestamp_ms + 1);
      } else {
        ctx.timer_service().RegisterProcessingTimeTimer(timestamp_ms + 1);
      }
    }
    if (key == "far" && event && timestamp_ms == 100) {
      ctx.timer_service().RegisterEventTimeTimer(1000);  // beyond the watermark
    }
    return absl::OkStatus();
  }
};

class TimerTest : public ::testing::Test {
 protected:
  TimerTest() : h_(TimerFn(), KeyOf, Options()) {}
  static brook::testing::HarnessOptions Options() {
    brook::testing::HarnessOptions o;
    o.initial_processing_time_ms = 10;
    return o;
  }
  void SetUp() override { ASSERT_THAT(h_.Open(), IsOk()); }

  void Send(std::string key, std::string op, int64_t ts, int64_t record_ts = 0) {
    absl::Status s = h_.ProcessElement(Cmd{std::move(key), std::move(op), ts}, record_ts);
    EXPECT_THAT(s, IsOk());
  }
  std::vector<std::string> Watermark(int64_t wm) {
    absl::Status s = h_.ProcessWatermark(wm);
    EXPECT_THAT(s, IsOk());
    return h_.ExtractOutputValues();
  }
  std::vector<std::string> Clock(int64_t now) {
    absl::Status s = h_.SetProcessingTime(now);
    EXPECT_THAT(s, IsOk());
    return h_.ExtractOutputValues();
  }

  KeyedProcessFunctionTestHarness<TimerFn> h_;
};

TEST_F(TimerTest, EventTimerFiresExactlyWhenWatermarkReachesIt) {
  Send("a", "reg", 100);
  EXPECT_THAT(Watermark(50), IsEmpty());
  EXPECT_THAT(Watermark(99), IsEmpty());
  EXPECT_EQ(h_.NumTimers(), 1u);
  EXPECT_THAT(Watermark(100), ElementsAre("e:a@100"));
  EXPECT_EQ(h_.NumTimers(), 0u);
  EXPECT_THAT(Watermark(1000), IsEmpty());  // once only
  EXPECT_THAT(h_.ExtractWatermarks(), ElementsAre(50, 99, 100, 1000));
}

TEST_F(TimerTest, FiredRecordsCarryTheTimerTimestamp) {
  Send("a", "reg", 100, /*record_ts=*/7);
  ASSERT_THAT(h_.ProcessWatermark(150), IsOk());
  auto out = h_.ExtractOutput();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, "e:a@100");  // ctx.timestamp() == 100 too
  EXPECT_EQ(out[0].timestamp_ms, 100);
}

TEST_F(TimerTest, FireInTimestampOrderThenKeyOrder) {
  Send("c", "reg", 200);
  Send("a", "reg", 100);
  Send("b", "reg", 200);
  Send("b", "reg", 100);
  Send("a", "reg", 300);
  Send("a", "reg", 200);
  EXPECT_EQ(h_.NumTimers(), 6u);
  EXPECT_THAT(Watermark(250),
              ElementsAre("e:a@100", "e:b@100", "e:a@200", "e:b@200", "e:c@200"));
  EXPECT_THAT(Watermark(300), ElementsAre("e:a@300"));
}

TEST_F(TimerTest, DeduplicatedPerKeyAndTimestamp) {
  Send("a", "reg", 100);
  Send("a", "reg", 100);
  Send("b", "reg", 100);
  Send("a", "reg", 100);
  EXPECT_EQ(h_.NumTimers(), 2u);
  EXPECT_THAT(Watermark(100), ElementsAre("e:a@100", "e:b@100"));
}

TEST_F(TimerTest, DeletedTimerDoesNotFire) {
  Send("a", "reg", 100);
  Send("b", "reg", 100);
  Send("a", "reg", 110);
  Send("a", "del", 100);
  Send("c", "del", 100);  // deleting a timer that does not exist is fine
  Send("b", "del", 999);
  EXPECT_EQ(h_.NumTimers(), 2u);
  EXPECT_THAT(Watermark(200), ElementsAre("e:b@100", "e:a@110"));
}

TEST_F(TimerTest, DeleteOnlyAffectsTheCurrentKeysTimer) {
  Send("a", "reg", 100);
  Send("b", "reg", 100);
  Send("b", "del", 100);
  EXPECT_THAT(Watermark(100), ElementsAre("e:a@100"));
}

TEST_F(TimerTest, TimerRegisteredInOnTimerBelowWatermarkFiresInSameAdvance) {
  Send("chain", "reg", 100);
  Send("far", "reg", 100);
  // chain@100 registers 101, which registers 102, then 103 (<= 150): all fire
  // now, still in timestamp order with far@100.
  EXPECT_THAT(Watermark(150),
              ElementsAre("e:chain@100", "e:far@100", "e:chain@101", "e:chain@102",
                          "e:chain@103"));
  // far@100 registered 1000: beyond the watermark, so it waits.
  EXPECT_EQ(h_.NumTimers(), 1u);
  EXPECT_THAT(Watermark(999), IsEmpty());
  EXPECT_THAT(Watermark(1000), ElementsAre("e:far@1000"));
}

TEST_F(TimerTest, TimerAtOrBelowCurrentWatermarkFiresWithTheNextWatermark) {
  EXPECT_THAT(Watermark(100), IsEmpty());
  Send("a", "reg", 50);  // already passed: Flink fires it on the next advance
  Send("b", "reg", 100);
  EXPECT_THAT(h_.ExtractOutputValues(), IsEmpty());
  EXPECT_THAT(Watermark(101), ElementsAre("e:a@50", "e:b@100"));
}

TEST_F(TimerTest, MaxWatermarkFiresEverything) {
  Send("a", "reg", brook::kMaxWatermarkMs);
  Send("b", "reg", 5);
  Send("c", "reg", int64_t{1} << 60);
  EXPECT_THAT(Watermark(brook::kMaxWatermarkMs),
              ElementsAre("e:b@5", absl::StrCat("e:c@", int64_t{1} << 60),
                          absl::StrCat("e:a@", brook::kMaxWatermarkMs)));
  EXPECT_EQ(h_.NumTimers(), 0u);
}

TEST_F(TimerTest, ProcessingTimeTimersFireAsClockAdvances) {
  Send("a", "preg", 1000);
  Send("b", "preg", 500);
  Send("a", "preg", 500);
  Send("a", "preg", 500);  // deduplicated
  EXPECT_EQ(h_.NumTimers(), 3u);
  EXPECT_THAT(Clock(499), IsEmpty());
  EXPECT_THAT(Clock(500), ElementsAre("p:a@500", "p:b@500"));
  EXPECT_THAT(Clock(999), IsEmpty());
  EXPECT_THAT(Clock(5000), ElementsAre("p:a@1000"));
  EXPECT_EQ(h_.NumTimers(), 0u);
  // Watermarks do not fire processing-time timers.
  Send("a", "preg", 6000);
  EXPECT_THAT(Watermark(brook::kMaxWatermarkMs - 1), IsEmpty());
  EXPECT_THAT(Clock(6000), ElementsAre("p:a@6000"));
}

TEST_F(TimerTest, ProcessingTimeTimerRegisteredEarlierThanPendingOneFires) {
  Send("a", "preg", 2000);
  Send("b", "preg", 1000);  // earlier than the scheduled one
  EXPECT_THAT(Clock(1500), ElementsAre("p:b@1000"));
  EXPECT_THAT(Clock(2000), ElementsAre("p:a@2000"));
}

TEST_F(TimerTest, DeletedProcessingTimeTimerDoesNotFire) {
  Send("a", "preg", 1000);
  Send("a", "preg", 1500);
  Send("a", "pdel", 1000);
  EXPECT_THAT(Clock(1200), IsEmpty());
  EXPECT_THAT(Clock(1500), ElementsAre("p:a@1500"));
}

TEST_F(TimerTest, ProcessingTimerRegisteredInOnTimerAtNowFiresInSameAdvance) {
  Send("chain", "preg", 100);
  EXPECT_THAT(Clock(200), ElementsAre("p:chain@100", "p:chain@101", "p:chain@102",
                                      "p:chain@103"));
}

TEST_F(TimerTest, EventTimersDoNotFireOnProcessingTime) {
  Send("a", "reg", 100);
  EXPECT_THAT(Clock(1000000), IsEmpty());
  EXPECT_THAT(Watermark(100), ElementsAre("e:a@100"));
}

TEST_F(TimerTest, TimerServiceReportsClocks) {
  Send("a", "query", 0);
  EXPECT_THAT(h_.ExtractOutputValues(),
              ElementsAre(absl::StrCat("wm=", brook::kMinTimestampMs, " now=10 ctxwm=",
                                       brook::kMinTimestampMs)));
  Watermark(77);
  Clock(12345);
  Send("a", "query", 0);
  EXPECT_THAT(h_.ExtractOutputValues(), ElementsAre("wm=77 now=12345 ctxwm=77"));
}

// Both domains' timers of one key and timestamp are distinct timers.
TEST_F(TimerTest, EventAndProcessingTimersAreSeparate) {
  Send("a", "reg", 100);
  Send("a", "preg", 100);
  EXPECT_EQ(h_.NumTimers(), 2u);
  EXPECT_THAT(Watermark(100), ElementsAre("e:a@100"));
  EXPECT_THAT(Clock(100), ElementsAre("p:a@100"));
}

// Timers fire per key with that key's state current.
class CountOnTimerFn : public brook::KeyedProcessFunction<int64_t, int64_t, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(count_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("count")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const int64_t&, Context& ctx,
                              brook::Collector<std::string>&) override {
    const int64_t* c = count_.Get();
    count_.Update(c ? *c + 1 : 1);
    ctx.timer_service().RegisterEventTimeTimer(1000);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t, OnTimerContext& ctx, brook::Collector<std::string>& out) override {
    out.Collect(absl::StrCat(ctx.GetCurrentKey(), "=", *count_.Get()));
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> count_;
};

TEST(TimerStateTest, OnTimerSeesTheTimersKeyState) {
  KeyedProcessFunctionTestHarness<CountOnTimerFn> h(CountOnTimerFn(),
                                                    [](const int64_t& k) { return k; });
  ASSERT_THAT(h.Open(), IsOk());
  for (int64_t k : {5, 3, 5, 9, 5, 3}) ASSERT_THAT(h.ProcessElement(k, 0), IsOk());
  EXPECT_EQ(h.NumTimers(), 3u);
  ASSERT_THAT(h.ProcessWatermark(1000), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre("3=2", "5=3", "9=1"));
}

// At the end of a bounded input the runtime sends the maximum watermark (all
// event-time timers fire) and then end-of-input, which reaches the
// function's EndInput; what it emits still goes downstream.
class EndInputFn : public brook::KeyedProcessFunction<int64_t, int64_t, std::string> {
 public:
  absl::Status ProcessElement(const int64_t& v, Context& ctx,
                              brook::Collector<std::string>&) override {
    ctx.timer_service().RegisterEventTimeTimer(v);
    ctx.timer_service().RegisterProcessingTimeTimer(1000000);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext&, brook::Collector<std::string>& out) override {
    out.Collect(absl::StrCat("timer@", ts));
    return absl::OkStatus();
  }
  absl::Status EndInput(Context& ctx, brook::Collector<std::string>& out) override {
    out.Collect(absl::StrCat("end wm=", ctx.CurrentWatermark() == brook::kMaxWatermarkMs
                                            ? "max"
                                            : absl::StrCat(ctx.CurrentWatermark())));
    return absl::OkStatus();
  }
};

TEST(TimerEndInputTest, EndInputAfterFinalWatermark) {
  KeyedProcessFunctionTestHarness<EndInputFn> h(EndInputFn(), [](const int64_t& k) { return k; });
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(7, 0), IsOk());
  ASSERT_THAT(h.ProcessElement(3, 0), IsOk());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  ASSERT_THAT(h.EndInput(), IsOk());
  // Pending processing-time timers are not fired at the end of input.
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre("timer@3", "timer@7", "end wm=max"));
  EXPECT_TRUE(h.ended());
  EXPECT_EQ(h.NumTimers(), 2u);
}

// Timer outputs precede the watermark that fired them downstream.
class EmitOnTimerFn : public brook::KeyedProcessFunction<int64_t, int64_t, int64_t> {
 public:
  absl::Status ProcessElement(const int64_t& v, Context& ctx,
                              brook::Collector<int64_t>&) override {
    ctx.timer_service().RegisterEventTimeTimer(v);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext&, brook::Collector<int64_t>& out) override {
    out.Collect(ts);
    return absl::OkStatus();
  }
};

// Checks each record against the last watermark its sink subtask saw: a timer's
// output must reach downstream before the watermark that fired it.
class CheckingSink : public brook::Sink<int64_t> {
 public:
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<int64_t>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<int64_t>>(new Writer(this));
  }
  std::atomic<int64_t> violations{0};
  std::atomic<int64_t> total{0};

 private:
  class Writer : public brook::SinkWriter<int64_t> {
   public:
    explicit Writer(CheckingSink* sink) : sink_(sink) {}
    absl::Status Write(std::vector<brook::StreamRecord<int64_t>>& batch) override {
      for (const auto& r : batch) {
        if (r.timestamp_ms <= wm_ || r.value != r.timestamp_ms) sink_->violations.fetch_add(1);
      }
      sink_->total.fetch_add(static_cast<int64_t>(batch.size()));
      return absl::OkStatus();
    }
    absl::Status OnWatermark(int64_t wm) override {
      wm_ = wm;
      return absl::OkStatus();
    }

   private:
    CheckingSink* sink_;
    int64_t wm_ = brook::kMinTimestampMs;
  };
};

TEST(TimerJobTest, TimersFireInAJobBeforeTheirWatermark) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .batch_size = 16});
  std::vector<int64_t> values;
  for (int64_t i = 0; i < 2000; ++i) values.push_back(i);
  auto sink = std::make_shared<CheckingSink>();
  env.FromCollection(values, brook::WatermarkStrategy<int64_t>::ForMonotonousTimestamps()
                                 .WithTimestampAssigner([](const int64_t& v) { return v; })
                                 .WithRecordsPerWatermark(10))
      .KeyBy([](const int64_t& v) { return v % 13; })
      .Process(EmitOnTimerFn(), "timers")
      .SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_EQ(sink->total.load(), 2000);
  EXPECT_EQ(sink->violations.load(), 0);
}

}  // namespace
