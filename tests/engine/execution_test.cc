// File: tests/engine/execution_test.cc
//
// Multi-threaded jobs through StreamExecutionEnvironment: results independent
// of parallelism, exchanges, side outputs, ordering, backpressure, failure,
// cancellation, configuration errors and metrics. Every suite is named
// Execution* so that CI can run exactly these under ThreadSanitizer
// (--gtest_filter='Execution*').
//
// No assertion here depends on timing: waits poll a condition with a generous
// deadline, and the backpressure bound is a count of records, not a duration.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/internal/channel.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {

using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

struct Ev {
  int64_t key;
  int64_t value;
  int64_t ts;
};

// (gmock's UnorderedElementsAreArray is quadratic: too slow for big outputs.)
template <typename T>
std::vector<T> Sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Polls `cond` until it holds or `deadline` passes; returns whether it held.
template <typename F>
bool WaitFor(F cond, absl::Duration deadline = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + deadline;
  while (!cond()) {
    if (absl::Now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Runs env.Execute() on another thread, so that the test thread can cancel it.
class AsyncJob {
 public:
  explicit AsyncJob(brook::StreamExecutionEnvironment* env)
      : thread_([this, env] {
          status_ = env->Execute("async");
          done_.store(true);
        }) {}
  ~AsyncJob() {
    if (thread_.joinable()) thread_.join();
  }
  absl::Status Join() {
    thread_.join();
    return status_;
  }
  bool done() const { return done_.load(); }

 private:
  absl::Status status_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// A window-free keyed aggregation gives the same result at any parallelism.

struct Agg {
  int64_t key = 0;
  int64_t count = 0;
  int64_t sum = 0;
  int64_t min = 0;
  int64_t max = 0;
  friend bool operator==(const Agg&, const Agg&) = default;
  friend bool operator<(const Agg& a, const Agg& b) {
    return std::tie(a.key, a.count, a.sum, a.min, a.max) <
           std::tie(b.key, b.count, b.sum, b.min, b.max);
  }
};

// Accumulates per key in ValueState and emits once, when event time ends
// (a timer at the maximum watermark).
class AggregateFn : public brook::KeyedProcessFunction<int64_t, Ev, Agg> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(acc_, ctx.GetState(brook::ValueStateDescriptor<Agg>("acc")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Ev& e, Context& ctx, brook::Collector<Agg>&) override {
    Agg* a = acc_.GetMutable();
    if (a == nullptr) {
      acc_.Update(Agg{e.key, 1, e.value, e.value, e.value});
      ctx.timer_service().RegisterEventTimeTimer(brook::kMaxWatermarkMs);
      return absl::OkStatus();
    }
    ++a->count;
    a->sum += e.value;
    a->min = std::min(a->min, e.value);
    a->max = std::max(a->max, e.value);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext& ctx, brook::Collector<Agg>& out) override {
    if (ts != brook::kMaxWatermarkMs || ctx.GetCurrentKey() != acc_.Get()->key) {
      return absl::InternalError("wrong timer or key");
    }
    out.Collect(*acc_.Get());
    return absl::OkStatus();
  }

 private:
  brook::ValueState<Agg> acc_;
};

std::vector<Ev> MakeEvents(int64_t n, int64_t keys) {
  std::vector<Ev> v;
  v.reserve(n);
  uint64_t x = 88172645463325252ull;
  for (int64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v.push_back(Ev{static_cast<int64_t>(x % static_cast<uint64_t>(keys)),
                   static_cast<int64_t>(x >> 40) % 2001 - 1000, i});
  }
  return v;
}

std::vector<Agg> Expected(const std::vector<Ev>& events) {
  std::map<int64_t, Agg> m;
  for (const Ev& e : events) {
    auto [it, inserted] = m.try_emplace(e.key, Agg{e.key, 0, 0, e.value, e.value});
    Agg& a = it->second;
    ++a.count;
    a.sum += e.value;
    a.min = std::min(a.min, e.value);
    a.max = std::max(a.max, e.value);
  }
  std::vector<Agg> out;
  for (auto& [k, a] : m) out.push_back(a);
  return out;
}

std::vector<Agg> RunAggregation(const std::vector<Ev>& events, int parallelism) {
  brook::StreamExecutionEnvironment env({.parallelism = parallelism});
  auto sink = std::make_shared<brook::CollectSink<Agg>>();
  env.FromSource<Ev>(std::make_shared<brook::CollectionSource<Ev>>(events),
                     brook::WatermarkStrategy<Ev>::ForBoundedOutOfOrderness(absl::Seconds(1))
                         .WithTimestampAssigner([](const Ev& e) { return e.ts; }),
                     "events")
      .KeyBy(&Ev::key)
      .Process(AggregateFn(), "aggregate")
      .SinkTo(sink, "results");
  absl::Status s = env.Execute("aggregate");
  EXPECT_THAT(s, IsOk());
  EXPECT_THAT(env.metrics().Sum("num_records_in", "aggregate"),
              IsOkAndHolds(static_cast<int64_t>(events.size())));
  std::vector<Agg> v = sink->values();
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ExecutionAggregationTest, SameResultAtParallelism1To4) {
  const std::vector<Ev> events = MakeEvents(200000, 300);
  const std::vector<Agg> expected = Expected(events);
  ASSERT_EQ(expected.size(), 300u);
  for (int p = 1; p <= 4; ++p) {
    SCOPED_TRACE(::testing::Message() << "parallelism " << p);
    const std::vector<Agg> got = RunAggregation(events, p);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
  }
}

// Two environments run at once in one process without sharing anything.
TEST(ExecutionAggregationTest, TwoJobsRunConcurrently) {
  const std::vector<Ev> a = MakeEvents(30000, 17);
  std::vector<Ev> b = MakeEvents(20000, 41);
  for (Ev& e : b) e.value *= 3;
  std::vector<Agg> got_a, got_b;
  std::thread ta([&] { got_a = RunAggregation(a, 2); });
  std::thread tb([&] { got_b = RunAggregation(b, 3); });
  ta.join();
  tb.join();
  EXPECT_TRUE(got_a == Expected(a));
  EXPECT_TRUE(got_b == Expected(b));
}

// ---------------------------------------------------------------------------
// KeyedProcessFunction::EndInput runs once per subtask after the final
// watermark, and what it emits reaches the sink.

class CountUntilEndFn : public brook::KeyedProcessFunction<int64_t, Ev, std::string> {
 public:
  absl::Status ProcessElement(const Ev&, Context&, brook::Collector<std::string>&) override {
    ++seen_;
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t, OnTimerContext&, brook::Collector<std::string>&) override {
    return absl::OkStatus();
  }
  absl::Status EndInput(Context& ctx, brook::Collector<std::string>& out) override {
    if (ctx.CurrentWatermark() != brook::kMaxWatermarkMs) {
      return absl::InternalError("EndInput before the final watermark");
    }
    out.Collect(absl::StrCat("seen=", seen_));
    return absl::OkStatus();
  }

 private:
  int64_t seen_ = 0;
};

TEST(ExecutionLifecycleTest, KeyedEndInputIsCalledPerSubtask) {
  brook::StreamExecutionEnvironment env({.parallelism = 3});
  auto sink = std::make_shared<brook::CollectSink<std::string>>();
  env.FromCollection(MakeEvents(9000, 50))
      .KeyBy(&Ev::key)
      .Process(CountUntilEndFn(), "count")
      .SinkTo(sink, "sink", 1);
  ASSERT_THAT(env.Execute(), IsOk());
  std::vector<std::string> v = sink->values();
  ASSERT_EQ(v.size(), 3u);
  int64_t total = 0;
  for (const std::string& s : v) {
    ASSERT_EQ(s.rfind("seen=", 0), 0u) << s;
    total += std::stoll(s.substr(5));
  }
  EXPECT_EQ(total, 9000);
}

// ---------------------------------------------------------------------------
// Map / Filter / FlatMap, chained and across parallelism changes.

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<int64_t> ExpectedChain(const std::vector<int64_t>& in) {
  std::vector<int64_t> out;
  for (int64_t x : in) {
    const int64_t y = x * 2;
    if (y % 3 == 0) continue;
    out.push_back(y);
    if (y % 4 == 0) out.push_back(-y);
  }
  return out;
}

template <typename S>
void BuildChain(S source, std::shared_ptr<brook::CollectSink<int64_t>> sink, int map_p,
                int flatmap_p, int sink_p) {
  auto mapped = source.Map([](int64_t x) { return x * 2; }, "double");
  if (map_p > 0) mapped.SetParallelism(map_p);
  auto filtered = mapped.Filter([](const int64_t& y) { return y % 3 != 0; }, "drop-thirds");
  if (map_p > 0) filtered.SetParallelism(map_p);
  auto flat = filtered.template FlatMap<int64_t>(
      [](const int64_t& y, brook::Collector<int64_t>& out) {
        out.Collect(y);
        if (y % 4 == 0) out.Collect(-y);
      },
      "mirror");
  if (flatmap_p > 0) flat.SetParallelism(flatmap_p);
  flat.SinkTo(sink, "sink", sink_p);
}

TEST(ExecutionChainTest, MapFilterFlatMapChained) {
  brook::StreamExecutionEnvironment env;
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  const auto in = Iota(10000);
  BuildChain(env.FromCollection(in), sink, 0, 0, 0);
  ASSERT_THAT(env.Execute(), IsOk());
  // One chain, one thread: order is preserved exactly.
  EXPECT_THAT(sink->values(), ElementsAreArray(ExpectedChain(in)));
  EXPECT_THAT(env.metrics().Sum("num_records_out", "mirror"),
              IsOkAndHolds(static_cast<int64_t>(ExpectedChain(in).size())));
}

// The first subtask runs on the thread that called Execute(): a
// parallelism-1 job is one chain and needs no thread of its own.
TEST(ExecutionChainTest, FirstSubtaskRunsOnTheCallingThread) {
  brook::StreamExecutionEnvironment env;
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  const std::thread::id caller = std::this_thread::get_id();
  env.FromCollection(Iota(100))
      .Map([caller](const int64_t& v) -> int64_t {
        return std::this_thread::get_id() == caller ? v : -1;
      })
      .SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_THAT(sink->values(), ElementsAreArray(Iota(100)));
}

// A channel hands each batch vector its consumer has finished with back to
// that channel's producer, capacity kept, so a warm edge allocates nothing;
// a channel never gives another channel's vectors, nor more than it took.
TEST(ExecutionChannelTest, FinishedBatchesGoBackToTheirProducer) {
  using Gate = brook::internal::InputGate<int64_t>;
  using Element = brook::internal::ChannelElement<int64_t>;
  Gate gate(/*num_channels=*/2, /*capacity_batches=*/4);
  auto push = [&](int channel, Gate::Batch* batch) {
    Element e;
    e.records = std::move(*batch);
    batch->clear();
    return gate.Push(channel, std::move(e), nullptr, batch);
  };
  Gate::Batch batch(100);
  const auto* storage = batch.data();
  ASSERT_TRUE(push(0, &batch));
  EXPECT_EQ(batch.capacity(), 0u);  // nothing finished yet
  std::deque<brook::internal::Mail> mail;
  Element element;
  int channel = 0;
  ASSERT_EQ(gate.Poll(false, &mail, &element, &channel), Gate::Next::kElement);
  EXPECT_EQ(channel, 0);
  EXPECT_EQ(element.records.size(), 100u);
  element.records.clear();  // the consumer is done with it
  Gate::Batch other(1);
  ASSERT_TRUE(push(1, &other));
  EXPECT_EQ(other.capacity(), 0u);
  // This Poll returns channel 0's vector to channel 0's pool...
  ASSERT_EQ(gate.Poll(false, &mail, &element, &channel), Gate::Next::kElement);
  EXPECT_EQ(channel, 1);
  Gate::Batch again(1);
  ASSERT_TRUE(push(1, &again));  // ...not to channel 1's
  EXPECT_NE(again.data(), storage);
  again.resize(3);
  ASSERT_TRUE(push(0, &again));
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(again.data(), storage);
  EXPECT_GE(again.capacity(), 100u);
}

// A watermark pushed while the channel's last element is a batch still
// queued rides on it: the batch then carries the watermark that follows its
// records. Anything else (a taken batch, a batch that carries one already, a
// latency marker) keeps the watermark an element of its own, so every
// watermark still arrives, in order. Riding never waits on a full channel:
// it adds no element.
TEST(ExecutionChannelTest, AWatermarkRidesOnTheBatchBeforeItWhileQueued) {
  using Gate = brook::internal::InputGate<int64_t>;
  using Element = brook::internal::ChannelElement<int64_t>;
  using Kind = Element::Kind;
  Gate gate(/*num_channels=*/1, /*capacity_batches=*/2);
  auto push_records = [&](std::vector<int64_t> values) {
    Element e;
    for (int64_t v : values) e.records.push_back({v, v});
    return gate.Push(0, std::move(e), nullptr);
  };
  auto push_control = [&](Kind kind, int64_t watermark_ms) {
    Element e;
    e.kind = kind;
    e.watermark_ms = watermark_ms;
    return gate.Push(0, std::move(e), nullptr);
  };
  std::deque<brook::internal::Mail> mail;
  Element element;
  int channel = 0;
  auto poll = [&] { return gate.Poll(false, &mail, &element, &channel); };

  ASSERT_TRUE(push_records({1, 2}));
  ASSERT_TRUE(push_records({3}));
  ASSERT_TRUE(push_control(Kind::kWatermark, 10));  // the channel is full: rides, no wait
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kRecords);
  EXPECT_EQ(element.records.size(), 2u);
  EXPECT_FALSE(element.watermark_follows);
  ASSERT_TRUE(push_control(Kind::kWatermark, 20));  // the batch carries one already
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kRecords);
  EXPECT_EQ(element.records.size(), 1u);
  EXPECT_TRUE(element.watermark_follows);
  EXPECT_EQ(element.watermark_ms, 10);
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kWatermark);
  EXPECT_EQ(element.watermark_ms, 20);
  EXPECT_EQ(poll(), Gate::Next::kNothing);

  // Taken: the next watermark is an element of its own.
  ASSERT_TRUE(push_records({4}));
  ASSERT_EQ(poll(), Gate::Next::kElement);
  ASSERT_TRUE(push_control(Kind::kWatermark, 30));
  ASSERT_TRUE(push_control(Kind::kLatencyMarker, 0));
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kWatermark);
  EXPECT_EQ(element.watermark_ms, 30);
  ASSERT_TRUE(push_control(Kind::kWatermark, 40));  // behind a marker: its own element
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kLatencyMarker);
  ASSERT_EQ(poll(), Gate::Next::kElement);
  EXPECT_EQ(element.kind, Kind::kWatermark);
  EXPECT_EQ(element.watermark_ms, 40);
  EXPECT_EQ(poll(), Gate::Next::kNothing);
}

TEST(ExecutionChainTest, MapFilterFlatMapAcrossParallelismChanges) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .batch_size = 50});
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  const auto in = Iota(20000);
  // Source 1 -> Map/Filter 3 (rebalance) -> FlatMap 2 (rebalance) -> sink 1.
  BuildChain(env.FromCollection(in), sink, 3, 2, 1);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_EQ(Sorted(sink->values()), Sorted(ExpectedChain(in)));
  EXPECT_THAT(env.metrics().Sum("num_records_in", "double"), IsOkAndHolds(20000));
}

// ---------------------------------------------------------------------------
// Rebalance and Broadcast.

// Tags each record with the subtask that saw it.
class TagSubtaskFn : public brook::ProcessFunction<int64_t, std::pair<int, int64_t>> {
 public:
  absl::Status Open(brook::RuntimeContext& ctx) override {
    subtask_ = ctx.subtask_index();
    if (ctx.parallelism() != 3) return absl::InternalError("expected parallelism 3");
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const int64_t& v, Context&,
                              brook::Collector<std::pair<int, int64_t>>& out) override {
    out.Collect({subtask_, v});
    return absl::OkStatus();
  }

 private:
  int subtask_ = -1;
};

std::map<int, std::vector<int64_t>> BySubtask(const std::vector<std::pair<int, int64_t>>& v) {
  std::map<int, std::vector<int64_t>> m;
  for (const auto& [s, x] : v) m[s].push_back(x);
  for (auto& [s, xs] : m) std::sort(xs.begin(), xs.end());
  return m;
}

TEST(ExecutionPartitioningTest, RebalanceSpreadsAcrossSubtasks) {
  brook::StreamExecutionEnvironment env({.parallelism = 3, .batch_size = 100});
  auto sink = std::make_shared<brook::CollectSink<std::pair<int, int64_t>>>();
  env.FromCollection(Iota(10000)).Rebalance().Process(TagSubtaskFn(), "tag").SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  auto m = BySubtask(sink->values());
  ASSERT_EQ(m.size(), 3u);
  std::vector<int64_t> all;
  for (auto& [s, xs] : m) {
    // Round-robin by batch: each of the 3 subtasks gets about a third.
    EXPECT_GE(xs.size(), 3000u) << "subtask " << s;
    EXPECT_LE(xs.size(), 3700u) << "subtask " << s;
    all.insert(all.end(), xs.begin(), xs.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, Iota(10000));
}

TEST(ExecutionPartitioningTest, BroadcastReachesEverySubtask) {
  brook::StreamExecutionEnvironment env({.parallelism = 3, .batch_size = 64});
  auto sink = std::make_shared<brook::CollectSink<std::pair<int, int64_t>>>();
  env.FromCollection(Iota(5000)).Broadcast().Process(TagSubtaskFn(), "tag").SinkTo(sink, "s", 2);
  ASSERT_THAT(env.Execute(), IsOk());
  auto m = BySubtask(sink->values());
  ASSERT_EQ(m.size(), 3u);
  for (auto& [s, xs] : m) EXPECT_EQ(xs, Iota(5000)) << "subtask " << s;
  EXPECT_THAT(env.metrics().Sum("num_records_in", "tag"), IsOkAndHolds(15000));
}

// Keyed exchange: every record of a key reaches the one subtask that owns its
// key group.
class KeyOwnerFn : public brook::KeyedProcessFunction<int64_t, Ev, std::pair<int64_t, int>> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    subtask_ = ctx.subtask_index();
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Ev& e, Context& ctx,
                              brook::Collector<std::pair<int64_t, int>>& out) override {
    out.Collect({ctx.GetCurrentKey(), subtask_});
    return absl::OkStatus();
  }

 private:
  int subtask_ = -1;
};

TEST(ExecutionPartitioningTest, KeyByRoutesByKeyGroup) {
  brook::StreamExecutionEnvironment env({.parallelism = 4, .max_parallelism = 64});
  auto sink = std::make_shared<brook::CollectSink<std::pair<int64_t, int>>>();
  env.FromSource<Ev>(std::make_shared<brook::CollectionSource<Ev>>(MakeEvents(20000, 500)),
                     brook::WatermarkStrategy<Ev>::NoWatermarks(), "src")
      .KeyBy(&Ev::key)
      .Process(KeyOwnerFn(), "owner")
      .SinkTo(sink);
  ASSERT_THAT(env.Execute(), IsOk());
  const auto v = sink->values();
  ASSERT_EQ(v.size(), 20000u);
  for (const auto& [key, subtask] : v) {
    const int kg = brook::AssignToKeyGroup(key, 64);
    ASSERT_EQ(subtask, brook::ComputeOperatorIndexForKeyGroup(64, 4, kg)) << key;
  }
}

// ---------------------------------------------------------------------------
// Side outputs.

const brook::OutputTag<std::string> kOddTag("odd");

class SplitFn : public brook::ProcessFunction<int64_t, int64_t> {
 public:
  absl::Status ProcessElement(const int64_t& v, Context& ctx,
                              brook::Collector<int64_t>& out) override {
    if (v % 2 == 0) {
      out.Collect(v);
    } else {
      ctx.Output(kOddTag, absl::StrCat("odd-", v));
    }
    return absl::OkStatus();
  }
};

TEST(ExecutionSideOutputTest, SideOutputReachesItsOwnSink) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto main_sink = std::make_shared<brook::CollectSink<int64_t>>();
  auto side_sink = std::make_shared<brook::CollectSink<std::string>>();
  auto split = env.FromCollection(Iota(3000)).Rebalance().Process(SplitFn(), "split");
  split.SinkTo(main_sink, "evens");
  split.GetSideOutput(kOddTag).SinkTo(side_sink, "odds", 1);
  ASSERT_THAT(env.Execute(), IsOk());
  std::vector<int64_t> evens;
  std::vector<std::string> odds;
  for (int64_t i = 0; i < 3000; ++i) {
    if (i % 2 == 0) {
      evens.push_back(i);
    } else {
      odds.push_back(absl::StrCat("odd-", i));
    }
  }
  EXPECT_EQ(Sorted(main_sink->values()), Sorted(evens));
  EXPECT_EQ(Sorted(side_sink->values()), Sorted(odds));
  EXPECT_THAT(env.metrics().Sum("num_records_out_odd", "split"), IsOkAndHolds(1500));
  EXPECT_THAT(env.metrics().Sum("num_side_output_records_discarded", "split"), IsOkAndHolds(0));
  // The side output sees the operator's watermarks too (as in Flink).
  EXPECT_EQ(side_sink->watermarks(0).back(), brook::kMaxWatermarkMs);
}

TEST(ExecutionSideOutputTest, UnreadSideOutputIsCountedAsDiscarded) {
  brook::StreamExecutionEnvironment env;
  auto main_sink = std::make_shared<brook::CollectSink<int64_t>>();
  env.FromCollection(Iota(100)).Process(SplitFn(), "split").SinkTo(main_sink);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_EQ(main_sink->values().size(), 50u);
  EXPECT_THAT(env.metrics().Sum("num_side_output_records_discarded", "split"), IsOkAndHolds(50));
}

TEST(ExecutionSideOutputTest, SideOutputReadWithAnotherTypeFailsTheJob) {
  brook::StreamExecutionEnvironment env;
  auto main_sink = std::make_shared<brook::CollectSink<int64_t>>();
  auto side_sink = std::make_shared<brook::CollectSink<int64_t>>();
  auto split = env.FromCollection(Iota(100)).Process(SplitFn(), "split");
  split.SinkTo(main_sink);
  // The function emits std::string to "odd"; reading it as int64_t is a bug.
  split.GetSideOutput(brook::OutputTag<int64_t>("odd")).SinkTo(side_sink);
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << s;
}

TEST(ExecutionSideOutputTest, SameTagReadWithTwoTypesIsInvalidArgument) {
  brook::StreamExecutionEnvironment env;
  auto split = env.FromCollection(Iota(10)).Process(SplitFn(), "split");
  split.GetSideOutput(kOddTag).SinkTo(std::make_shared<brook::CollectSink<std::string>>());
  split.GetSideOutput(brook::OutputTag<int64_t>("odd"))
      .SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  EXPECT_THAT(env.Execute(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------
// Order per key across the keyed exchange.

struct Seq {
  int64_t key;
  int64_t seq;
};

// Fails the job if a key's sequence numbers (per source subtask: seq % 2 at
// source parallelism 2) ever go backwards.
class OrderCheckFn : public brook::KeyedProcessFunction<int64_t, Seq, Seq> {
 public:
  explicit OrderCheckFn(int sources) : sources_(sources) {}
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(last_, ctx.GetMapState(brook::MapStateDescriptor<int64_t, int64_t>(
                                      "last-seq-per-source")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Seq& s, Context&, brook::Collector<Seq>& out) override {
    const int64_t source = s.seq % sources_;
    const int64_t* last = last_.Get(source);
    if (last != nullptr && *last >= s.seq) {
      return absl::InternalError(absl::StrCat("key ", s.key, ": seq ", s.seq, " after ", *last));
    }
    last_.Put(source, s.seq);
    out.Collect(s);
    return absl::OkStatus();
  }

 private:
  int sources_;
  brook::MapState<int64_t, int64_t> last_;
};

void CheckPerKeyOrder(int source_p, int keyed_p) {
  std::vector<Seq> in;
  for (int64_t i = 0; i < 60000; ++i) in.push_back(Seq{(i * 31 + i / 7) % 97, i});
  brook::StreamExecutionEnvironment env({.parallelism = keyed_p, .batch_size = 7,
                                         .channel_capacity = 2});
  auto sink = std::make_shared<brook::CollectSink<Seq>>();
  env.FromSource<Seq>(std::make_shared<brook::CollectionSource<Seq>>(in),
                      brook::WatermarkStrategy<Seq>::NoWatermarks(), "seq")
      .SetParallelism(source_p)
      .KeyBy(&Seq::key)
      .Process(OrderCheckFn(source_p), "check")
      .SinkTo(sink);
  absl::Status s = env.Execute();
  ASSERT_THAT(s, IsOk());
  // The sink (chained after the check) sees each key's records in order too.
  std::map<std::pair<int64_t, int64_t>, int64_t> last;
  const auto out = sink->values();
  ASSERT_EQ(out.size(), in.size());
  for (const Seq& r : out) {
    auto [it, inserted] = last.try_emplace({r.key, r.seq % source_p}, r.seq);
    if (!inserted) {
      ASSERT_LT(it->second, r.seq) << "key " << r.key;
      it->second = r.seq;
    }
  }
}

TEST(ExecutionOrderTest, PerKeyOrderKeptAcrossKeyedExchange) { CheckPerKeyOrder(1, 3); }
TEST(ExecutionOrderTest, PerKeyOrderPerSourceSubtaskKept) { CheckPerKeyOrder(2, 4); }

// ---------------------------------------------------------------------------
// Backpressure: a slow sink bounds what a fast source has in flight.

struct Flow {
  std::atomic<int64_t> emitted{0};
  std::atomic<int64_t> written{0};
  std::atomic<int64_t> max_in_flight{0};
};

class FastSource : public brook::Source<Ev> {
 public:
  FastSource(Flow* flow, int64_t n) : flow_(flow), n_(n) {}
  brook::Boundedness boundedness() const override { return brook::Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<Ev>>> CreateReader(
      const brook::SourceReaderContext&) override {
    return std::unique_ptr<brook::SourceReader<Ev>>(new Reader(flow_, n_));
  }

 private:
  class Reader : public brook::SourceReader<Ev> {
   public:
    Reader(Flow* flow, int64_t n) : flow_(flow), n_(n) {}
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<Ev>& out) override {
      for (int i = 0; i < 256 && next_ < n_; ++i, ++next_) {
        out.Collect(Ev{next_ % 1000, next_, next_}, next_);
        const int64_t in_flight = flow_->emitted.fetch_add(1) + 1 - flow_->written.load();
        if (in_flight > flow_->max_in_flight.load()) flow_->max_in_flight.store(in_flight);
      }
      return next_ < n_ ? brook::InputStatus::kMoreAvailable : brook::InputStatus::kEndOfInput;
    }

   private:
    Flow* flow_;
    int64_t n_;
    int64_t next_ = 0;
  };
  Flow* flow_;
  int64_t n_;
};

class SlowSink : public brook::Sink<Ev> {
 public:
  SlowSink(Flow* flow, absl::Duration per_batch) : flow_(flow), per_batch_(per_batch) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<Ev>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<Ev>>(new Writer(this));
  }

 private:
  class Writer : public brook::SinkWriter<Ev> {
   public:
    explicit Writer(SlowSink* sink) : sink_(sink) {}
    absl::Status Write(std::vector<brook::StreamRecord<Ev>>& batch) override {
      absl::SleepFor(sink_->per_batch_);
      sink_->flow_->written.fetch_add(static_cast<int64_t>(batch.size()));
      return absl::OkStatus();
    }

   private:
    SlowSink* sink_;
  };
  Flow* flow_;
  absl::Duration per_batch_;
};

TEST(ExecutionBackpressureTest, SlowSinkBoundsRecordsInFlight) {
  constexpr int64_t kRecords = 500000;
  constexpr size_t kBatch = 256;
  constexpr int kCapacity = 4;
  constexpr int kSinks = 2;
  Flow flow;
  brook::StreamExecutionEnvironment env(
      {.parallelism = kSinks, .batch_size = kBatch, .channel_capacity = kCapacity});
  env.FromSource<Ev>(std::make_shared<FastSource>(&flow, kRecords),
                     brook::WatermarkStrategy<Ev>::NoWatermarks(), "fast")
      .SetParallelism(1)
      .KeyBy(&Ev::key)
      .Partitioned()
      .SinkTo(std::make_shared<SlowSink>(&flow, absl::Milliseconds(1)), "slow", kSinks);
  absl::Status s = env.Execute("backpressure");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(flow.written.load(), kRecords);
  ::testing::Test::RecordProperty("max_in_flight", static_cast<int>(flow.max_in_flight.load()));
  // What can be in flight: the channels (sinks x capacity batches), the
  // source's output buffer, the writer's per-target buffers, a batch being
  // pushed and one being written per sink, and the reader's current poll.
  const int64_t bound = kSinks * kCapacity * kBatch  // queued in channels
                        + kBatch                     // source output buffer
                        + kSinks * kBatch            // hash writer buffers
                        + kBatch                     // a batch blocked in Push
                        + kSinks * kBatch            // being written
                        + kBatch;                    // the current PollNext
  EXPECT_LE(flow.max_in_flight.load(), bound);
  // Far from "everything queued": the source ran ahead by a few batches only.
  EXPECT_LT(flow.max_in_flight.load(), kRecords / 50);
}

// ---------------------------------------------------------------------------
// Failures: an operator's error fails the job with that status, and every
// other subtask stops (no hang, no crash).

class FailOnNthFn : public brook::KeyedProcessFunction<int64_t, Ev, Ev> {
 public:
  explicit FailOnNthFn(int64_t n) : n_(n) {}
  absl::Status ProcessElement(const Ev& e, Context&, brook::Collector<Ev>& out) override {
    if (++seen_ == n_) return absl::InternalError("boom");
    out.Collect(e);
    return absl::OkStatus();
  }

 private:
  int64_t n_;
  int64_t seen_ = 0;
};

// An unbounded source: subtask i of p emits records i, i + p, ... below `n`
// (below `n_others` for subtasks other than 0; forever when negative), then
// has nothing more (kNothingAvailable) until cancelled.
class EndlessSource : public brook::Source<Ev> {
 public:
  explicit EndlessSource(int64_t n = -1, int per_poll = 256, int64_t n_others = -2)
      : n_(n), n_others_(n_others == -2 ? n : n_others), per_poll_(per_poll) {}
  brook::Boundedness boundedness() const override {
    return brook::Boundedness::kContinuousUnbounded;
  }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<Ev>>> CreateReader(
      const brook::SourceReaderContext& ctx) override {
    return std::unique_ptr<brook::SourceReader<Ev>>(
        new Reader(this, ctx.subtask_index, ctx.parallelism));
  }
  std::atomic<int64_t> emitted{0};

 private:
  class Reader : public brook::SourceReader<Ev> {
   public:
    Reader(EndlessSource* src, int index, int parallelism)
        : src_(src),
          next_(index),
          step_(parallelism),
          n_(index == 0 ? src->n_ : src->n_others_) {}
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<Ev>& out) override {
      int i = 0;
      for (; i < src_->per_poll_ && (n_ < 0 || next_ < n_); ++i, next_ += step_) {
        out.Collect(Ev{next_ % 100, next_, next_}, next_);
        src_->emitted.fetch_add(1);
      }
      return i > 0 ? brook::InputStatus::kMoreAvailable : brook::InputStatus::kNothingAvailable;
    }

   private:
    EndlessSource* src_;
    int64_t next_;
    int step_;
    int64_t n_;
  };
  int64_t n_;
  int64_t n_others_;
  int per_poll_;
};

void ExpectBoom(const absl::Status& s) {
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("boom"));
}

TEST(ExecutionFailureTest, OperatorErrorFailsJobAtParallelism1And2) {
  for (int p : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "parallelism " << p);
    brook::StreamExecutionEnvironment env({.parallelism = p, .batch_size = 64,
                                           .channel_capacity = 2});
    auto sink = std::make_shared<brook::CollectSink<Ev>>();
    env.FromSource<Ev>(std::make_shared<brook::CollectionSource<Ev>>(MakeEvents(200000, 100)),
                       brook::WatermarkStrategy<Ev>::NoWatermarks(), "src")
        .KeyBy(&Ev::key)
        .Process(FailOnNthFn(1000), "fails")
        .SinkTo(sink);
    ExpectBoom(env.Execute());
    EXPECT_LT(sink->values().size(), 200000u);
  }
}

TEST(ExecutionFailureTest, OperatorErrorStopsUnboundedSource) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .channel_capacity = 2});
  auto source = std::make_shared<EndlessSource>();
  env.FromSource<Ev>(source, brook::WatermarkStrategy<Ev>::NoWatermarks(), "endless")
      .KeyBy(&Ev::key)
      .Process(FailOnNthFn(5000), "fails")
      .SinkTo(std::make_shared<brook::CollectSink<Ev>>());
  ExpectBoom(env.Execute());
}

class FailingProcessFn : public brook::ProcessFunction<int64_t, int64_t> {
 public:
  absl::Status ProcessElement(const int64_t& v, Context&, brook::Collector<int64_t>& out) override {
    if (v == 777) return absl::InternalError("boom in chain");
    out.Collect(v);
    return absl::OkStatus();
  }
};

TEST(ExecutionFailureTest, ChainedOperatorErrorFailsJob) {
  brook::StreamExecutionEnvironment env;
  env.FromCollection(Iota(100000)).Process(FailingProcessFn()).SinkTo(
      std::make_shared<brook::CollectSink<int64_t>>());
  ExpectBoom(env.Execute());
}

class FailingSink : public brook::Sink<int64_t> {
 public:
  explicit FailingSink(bool fail_create) : fail_create_(fail_create) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<int64_t>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    if (fail_create_) return absl::UnavailableError("sink unreachable");
    return std::unique_ptr<brook::SinkWriter<int64_t>>(new Writer());
  }

 private:
  class Writer : public brook::SinkWriter<int64_t> {
   public:
    absl::Status Write(std::vector<brook::StreamRecord<int64_t>>& batch) override {
      n_ += static_cast<int64_t>(batch.size());
      return n_ > 3000 ? absl::InternalError("boom in sink") : absl::OkStatus();
    }

   private:
    int64_t n_ = 0;
  };
  bool fail_create_;
};

TEST(ExecutionFailureTest, SinkErrorFailsJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .batch_size = 100});
  env.FromCollection(Iota(100000)).Rebalance().Map([](int64_t x) { return x; }).SinkTo(
      std::make_shared<FailingSink>(false));
  ExpectBoom(env.Execute());
}

TEST(ExecutionFailureTest, CreateWriterErrorFailsJobBeforeItStarts) {
  brook::StreamExecutionEnvironment env;
  env.FromCollection(Iota(10)).SinkTo(std::make_shared<FailingSink>(true), "unreachable");
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("unreachable"));
}

class FailingReaderSource : public brook::Source<int64_t> {
 public:
  brook::Boundedness boundedness() const override { return brook::Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext&) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(new Reader());
  }

 private:
  class Reader : public brook::SourceReader<int64_t> {
   public:
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<int64_t>& out) override {
      if (polls_++ == 20) return absl::DataLossError("boom: corrupt input at offset 20");
      for (int i = 0; i < 100; ++i) out.Collect(i);
      return brook::InputStatus::kMoreAvailable;
    }

   private:
    int polls_ = 0;
  };
};

TEST(ExecutionFailureTest, SourceErrorFailsJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  env.FromSource<int64_t>(std::make_shared<FailingReaderSource>(),
                          brook::WatermarkStrategy<int64_t>::NoWatermarks(), "bad-source")
      .Rebalance()
      .SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("offset 20"));
}

class FailingOpenFn : public brook::KeyedProcessFunction<int64_t, Ev, Ev> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    if (ctx.subtask_index() == 1) return absl::FailedPreconditionError("boom at open");
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Ev& e, Context&, brook::Collector<Ev>& out) override {
    out.Collect(e);
    return absl::OkStatus();
  }
};

TEST(ExecutionFailureTest, OpenErrorFailsJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2, .channel_capacity = 1});
  env.FromSource<Ev>(std::make_shared<EndlessSource>(),
                     brook::WatermarkStrategy<Ev>::NoWatermarks(), "endless")
      .KeyBy(&Ev::key)
      .Process(FailingOpenFn(), "opens")
      .SinkTo(std::make_shared<brook::CollectSink<Ev>>());
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("boom at open"));
}

// ---------------------------------------------------------------------------
// Cancellation.

// Counts what it writes; optionally slow.
class CountingSink : public brook::Sink<Ev> {
 public:
  explicit CountingSink(absl::Duration per_batch = absl::ZeroDuration())
      : per_batch_(per_batch) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<Ev>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<Ev>>(new Writer(this));
  }
  std::atomic<int64_t> written{0};
  std::atomic<int64_t> max_watermark{brook::kMinTimestampMs};

 private:
  class Writer : public brook::SinkWriter<Ev> {
   public:
    explicit Writer(CountingSink* sink) : sink_(sink) {}
    absl::Status Write(std::vector<brook::StreamRecord<Ev>>& batch) override {
      if (sink_->per_batch_ > absl::ZeroDuration()) absl::SleepFor(sink_->per_batch_);
      sink_->written.fetch_add(static_cast<int64_t>(batch.size()));
      return absl::OkStatus();
    }
    absl::Status OnWatermark(int64_t wm) override {
      int64_t cur = sink_->max_watermark.load();
      while (wm > cur && !sink_->max_watermark.compare_exchange_weak(cur, wm)) {
      }
      return absl::OkStatus();
    }

   private:
    CountingSink* sink_;
  };
  absl::Duration per_batch_;
};

TEST(ExecutionCancelTest, CancelStopsUnboundedJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<CountingSink>();
  env.FromSource<Ev>(std::make_shared<EndlessSource>(),
                     brook::WatermarkStrategy<Ev>::ForMonotonousTimestamps(), "endless")
      .KeyBy(&Ev::key)
      .Partitioned()
      .SinkTo(sink);
  AsyncJob job(&env);
  ASSERT_TRUE(WaitFor([&] { return sink->written.load() >= 20000; }));
  EXPECT_FALSE(job.done());  // unbounded: it would run forever
  env.Cancel();
  absl::Status s = job.Join();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled)) << s;
}

TEST(ExecutionCancelTest, CancelStopsIdleSourceAndBackpressuredJob) {
  // One job whose source has nothing to read, one whose source is blocked by
  // a slow sink: both stop on Cancel().
  brook::StreamExecutionEnvironment idle_env;
  idle_env.FromSource<Ev>(std::make_shared<EndlessSource>(0),
                          brook::WatermarkStrategy<Ev>::NoWatermarks(), "idle")
      .SinkTo(std::make_shared<CountingSink>());
  brook::StreamExecutionEnvironment slow_env({.batch_size = 16, .channel_capacity = 1});
  auto slow_sink = std::make_shared<CountingSink>(absl::Milliseconds(2));
  auto source = std::make_shared<EndlessSource>();
  slow_env.FromSource<Ev>(source, brook::WatermarkStrategy<Ev>::NoWatermarks(), "fast")
      .Rebalance()
      .SinkTo(slow_sink, "slow", 1);
  AsyncJob idle_job(&idle_env);
  AsyncJob slow_job(&slow_env);
  ASSERT_TRUE(WaitFor([&] { return slow_sink->written.load() >= 64; }));
  idle_env.Cancel();
  slow_env.Cancel();
  EXPECT_THAT(idle_job.Join(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(slow_job.Join(), StatusIs(absl::StatusCode::kCancelled));
}

TEST(ExecutionCancelTest, CancelBeforeExecute) {
  brook::StreamExecutionEnvironment env;
  env.FromSource<Ev>(std::make_shared<EndlessSource>(),
                     brook::WatermarkStrategy<Ev>::NoWatermarks(), "endless")
      .SinkTo(std::make_shared<CountingSink>());
  env.Cancel();
  EXPECT_THAT(env.Execute(), StatusIs(absl::StatusCode::kCancelled));
}

// ---------------------------------------------------------------------------
// Processing time and idleness in a running job.

class ProcessingTimerFn : public brook::KeyedProcessFunction<int64_t, Ev, Ev> {
 public:
  absl::Status ProcessElement(const Ev& e, Context& ctx, brook::Collector<Ev>&) override {
    if (!armed_) {
      armed_ = true;
      ctx.timer_service().RegisterProcessingTimeTimer(
          ctx.timer_service().CurrentProcessingTime() + 20);
    }
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext& ctx, brook::Collector<Ev>& out) override {
    if (ctx.time_domain() != brook::TimeDomain::kProcessingTime) {
      return absl::InternalError("expected a processing-time timer");
    }
    if (ctx.timer_service().CurrentProcessingTime() < ts) {
      return absl::InternalError("processing-time timer fired early");
    }
    out.Collect(Ev{ctx.GetCurrentKey(), -1, ts});
    return absl::OkStatus();
  }

 private:
  bool armed_ = false;  // per subtask: one timer for the first key seen
};

TEST(ExecutionTimeTest, ProcessingTimeTimerFiresInRunningJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<CountingSink>();
  // 200 records, then the source idles forever (unbounded).
  env.FromSource<Ev>(std::make_shared<EndlessSource>(200, 10),
                     brook::WatermarkStrategy<Ev>::NoWatermarks(), "few")
      .SetParallelism(1)
      .KeyBy(&Ev::key)
      .Process(ProcessingTimerFn(), "ptimer")
      .SinkTo(sink);
  AsyncJob job(&env);
  // Each of the two keyed subtasks arms one timer; both fire.
  const bool fired = WaitFor([&] { return sink->written.load() >= 2; });
  env.Cancel();
  EXPECT_THAT(job.Join(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(fired);
  EXPECT_EQ(sink->written.load(), 2);
}

TEST(ExecutionTimeTest, IdleSourceSubtaskDoesNotHoldBackWatermark) {
  // Source subtask 1 emits a few records (1, 3, ..., 9) and falls silent;
  // subtask 0 emits 0, 2, ..., 1998. Without idleness the watermark would stay
  // at subtask 1's 8; once subtask 1 is marked idle it follows subtask 0.
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<CountingSink>();
  env.FromSource<Ev>(std::make_shared<EndlessSource>(2000, 20, 10),
                     brook::WatermarkStrategy<Ev>::ForMonotonousTimestamps()
                         .WithTimestampAssigner([](const Ev& e) { return e.ts; })
                         .WithAutoWatermarkInterval(absl::Milliseconds(5))
                         .WithIdleness(absl::Milliseconds(30)),
                     "bursty")
      .KeyBy(&Ev::key)
      .Partitioned()
      .SinkTo(sink, "sink", 1);
  AsyncJob job(&env);
  const bool reached = WaitFor([&] { return sink->max_watermark.load() >= 1997; });
  env.Cancel();
  EXPECT_THAT(job.Join(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(reached) << sink->max_watermark.load();
  EXPECT_EQ(sink->written.load(), 1000 + 5);
  // Never the end-of-time watermark: the input did not end.
  EXPECT_LT(sink->max_watermark.load(), brook::kMaxWatermarkMs);
}

// ---------------------------------------------------------------------------
// Configuration errors.

absl::Status RunTiny(brook::ExecutionConfig config) {
  brook::StreamExecutionEnvironment env(config);
  env.FromCollection(Iota(10)).SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  return env.Execute();
}

TEST(ExecutionConfigTest, InvalidConfigIsInvalidArgument) {
  EXPECT_THAT(RunTiny({.parallelism = 0}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.parallelism = -3}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.parallelism = 4, .max_parallelism = 2}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.max_parallelism = 0}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.batch_size = 0}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.channel_capacity = 0}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RunTiny({.parallelism = 2, .max_parallelism = 2, .batch_size = 1,
                       .channel_capacity = 1})
                  , IsOk());
}

TEST(ExecutionConfigTest, InvalidOperatorParallelismIsInvalidArgument) {
  for (int p : {0, -1, 129}) {
    brook::StreamExecutionEnvironment env;
    auto s = env.FromCollection(Iota(10)).Map([](int64_t x) { return x; }, "m");
    s.SetParallelism(p);
    s.SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
    absl::Status st = env.Execute();
    EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument)) << p;
    EXPECT_THAT(std::string(st.message()), HasSubstr("'m'"));
  }
}

TEST(ExecutionConfigTest, EmptyJobIsInvalidArgument) {
  brook::StreamExecutionEnvironment env;
  EXPECT_THAT(env.Execute(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------
// Metrics.

TEST(ExecutionMetricsTest, RecordsInAndOutAreCounted) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  env.FromCollection(Iota(10000), brook::WatermarkStrategy<int64_t>::NoWatermarks(), "numbers")
      .Map([](int64_t x) { return x * 3; }, "triple")
      .Filter([](const int64_t& x) { return x % 2 == 0; }, "evens")
      .KeyBy([](const int64_t& x) { return x % 10; })
      .Partitioned()
      .Map([](int64_t x) { return x; }, "after-keyby")
      .SinkTo(sink, "out");
  ASSERT_THAT(env.Execute("metrics-job"), IsOk());
  const brook::MetricRegistry& m = env.metrics();
  EXPECT_THAT(m.Sum("num_records_out", "numbers"), IsOkAndHolds(10000));
  EXPECT_THAT(m.Sum("num_records_in", "triple"), IsOkAndHolds(10000));
  EXPECT_THAT(m.Sum("num_records_out", "triple"), IsOkAndHolds(10000));
  EXPECT_THAT(m.Sum("num_records_in", "evens"), IsOkAndHolds(10000));
  EXPECT_THAT(m.Sum("num_records_out", "evens"), IsOkAndHolds(5000));
  EXPECT_THAT(m.Sum("num_records_in", "after-keyby"), IsOkAndHolds(5000));
  EXPECT_THAT(m.Sum("num_records_in", "out"), IsOkAndHolds(5000));
  EXPECT_THAT(m.Sum("num_records_in", "no-such-operator"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(m.Sum("num_records_inn", "triple").status().message(),
              HasSubstr("no metric \"num_records_inn\" in operator \"triple\""));
  EXPECT_EQ(sink->values().size(), 5000u);
  // Per subtask: both subtasks of the keyed side reported, and the sum over
  // them is the total.
  int64_t per_subtask_total = 0;
  int subtasks = 0;
  for (const brook::MetricValue& v : m.Snapshot()) {
    if (v.name == "num_records_in" && v.scope.operator_name == "after-keyby") {
      EXPECT_EQ(v.scope.job, "metrics-job");
      EXPECT_TRUE(v.is_counter);
      per_subtask_total += v.value;
      ++subtasks;
    }
  }
  EXPECT_EQ(subtasks, 2);
  EXPECT_EQ(per_subtask_total, 5000);
  // The sink's watermark gauge ends at the maximum watermark in each subtask.
  int gauges = 0;
  for (const brook::MetricValue& v : m.Snapshot()) {
    if (v.name == "current_watermark_ms" && v.scope.operator_name == "out") {
      EXPECT_EQ(v.value, brook::kMaxWatermarkMs) << "subtask " << v.scope.subtask;
      EXPECT_FALSE(v.is_counter);
      ++gauges;
    }
  }
  EXPECT_EQ(gauges, 2);
}

}  // namespace
