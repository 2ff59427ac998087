#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {
struct Ev { int64_t key; int64_t ts; };
class Sum : public brook::KeyedProcessFunction<int64_t, Ev, std::pair<int64_t,int64_t>> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(sum_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("sum")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Ev& e, Context& ctx, brook::Collector<std::pair<int64_t,int64_t>>& out) override {
    const int64_t* s = sum_.Get();
    sum_.Update((s ? *s : 0) + 1);
    ctx.timer_service().RegisterEventTimeTimer(100);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t, OnTimerContext& ctx, brook::Collector<std::pair<int64_t,int64_t>>& out) override {
    out.Collect({ctx.GetCurrentKey(), *sum_.Get()});
    return absl::OkStatus();
  }
  brook::ValueState<int64_t> sum_;
};
TEST(Smoke, Runs) {
  for (int p : {1, 2, 4}) {
    brook::StreamExecutionEnvironment env({.parallelism = p});
    std::vector<Ev> evs;
    for (int i = 0; i < 10000; ++i) evs.push_back({i % 7, i});
    auto sink = std::make_shared<brook::CollectSink<std::pair<int64_t,int64_t>>>();
    env.FromCollection(evs).KeyBy(&Ev::key).Process(Sum(), "sum").SinkTo(sink);
    ASSERT_THAT(env.Execute(), IsOk());
    auto v = sink->values();
    std::sort(v.begin(), v.end());
    ASSERT_EQ(v.size(), 7u) << p;
    EXPECT_EQ(v[0].second, 1429);
  }
}
}  // namespace

namespace {
TEST(Smoke, UnionTakesTheMinimumWatermarkOfAllInputs) {
  for (int p : {1, 2}) {
    brook::StreamExecutionEnvironment env({.parallelism = p});
    auto strategy = brook::WatermarkStrategy<int64_t>::ForMonotonousTimestamps()
                        .WithTimestampAssigner([](const int64_t& v) { return v; })
                        .WithRecordsPerWatermark(10);
    std::vector<int64_t> a, b;
    for (int64_t i = 0; i < 1000; ++i) a.push_back(i);
    for (int64_t i = 0; i < 50; ++i) b.push_back(10 * i);
    auto sink = std::make_shared<brook::CollectSink<int64_t>>();
    auto sa = env.FromCollection(a, strategy, "a");
    auto sb = env.FromCollection(b, strategy, "b");
    sa.Union({sb}).SetParallelism(1).SinkTo(sink, "sink", 1);
    ASSERT_THAT(env.Execute(), IsOk());
    EXPECT_EQ(sink->values().size(), 1050u);
    // One watermark sequence, non-decreasing, ending at +inf only after both
    // inputs ended (an ended input counts as +inf; a live one holds it back:
    // see WatermarkValve's tests).
    const auto wms = sink->watermarks(0);
    ASSERT_GE(wms.size(), 2u);
    EXPECT_EQ(wms.back(), brook::kMaxWatermarkMs);
    EXPECT_LT(wms[wms.size() - 2], 999);
    EXPECT_TRUE(std::is_sorted(wms.begin(), wms.end()));
  }
}
}  // namespace
