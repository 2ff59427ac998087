// keyed_counter: counts each sensor's readings per minute of event time with
// keyed state and event-time timers (Flink's KeyedProcessFunction pattern).
//
// Each reading adds one to its sensor's count for the current minute and
// registers a timer at the minute's end; when the watermark passes it, the
// count is emitted and cleared. Readings arrive out of order by up to 5 s.
#include <cstdint>
#include <iostream>
#include <memory>
#include <vector>

#include "brook/brook.h"

struct Reading {
  int64_t sensor_id = 0;
  int64_t ts_ms = 0;
};
struct MinuteCount {
  int64_t sensor_id = 0;
  int64_t minute_end_ms = 0;
  int64_t count = 0;
};

constexpr int64_t kMinuteMs = 60'000;

class CountPerMinute : public brook::KeyedProcessFunction<int64_t, Reading, MinuteCount> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(counts_,
                           ctx.GetMapState(brook::MapStateDescriptor<int64_t, int64_t>("counts")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Reading& r, Context& ctx,
                              brook::Collector<MinuteCount>& /*out*/) override {
    const int64_t minute_end = (r.ts_ms / kMinuteMs + 1) * kMinuteMs;
    const int64_t* count = counts_.Get(minute_end);
    counts_.Put(minute_end, (count != nullptr ? *count : 0) + 1);
    // Fires once the watermark reaches the minute's last millisecond.
    ctx.timer_service().RegisterEventTimeTimer(minute_end - 1);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts_ms, OnTimerContext& ctx,
                       brook::Collector<MinuteCount>& out) override {
    const int64_t minute_end = ts_ms + 1;
    if (const int64_t* count = counts_.Get(minute_end)) {
      out.Collect({ctx.GetCurrentKey(), minute_end, *count});
      counts_.Remove(minute_end);
    }
    return absl::OkStatus();
  }

 private:
  brook::MapState<int64_t, int64_t> counts_;
};

int main() {
  // Three sensors; sensor s reads every (s + 1) * 10 s for three minutes,
  // each reading up to 5 s late.
  std::vector<Reading> readings;
  for (int64_t t = 0; t < 3 * kMinuteMs; t += 1'000) {
    for (int64_t s = 0; s < 3; ++s) {
      if (t % ((s + 1) * 10'000) == 0) readings.push_back({s, t - (t / 1'000 % 5) * 1'000});
    }
  }
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<MinuteCount>>();
  env.FromCollection(readings,
                     brook::WatermarkStrategy<Reading>::ForBoundedOutOfOrderness(absl::Seconds(5))
                         .WithTimestampAssigner([](const Reading& r) { return r.ts_ms; }))
      .KeyBy(&Reading::sensor_id)
      .Process(CountPerMinute(), "count-per-minute")
      .SinkTo(sink, "print", 1);
  if (absl::Status s = env.Execute("keyed-counter"); !s.ok()) {
    std::cerr << "keyed_counter: " << s << "\n";
    return 1;
  }
  int64_t total = 0;
  for (const MinuteCount& c : sink->values()) {
    std::cout << "sensor " << c.sensor_id << " minute ending " << c.minute_end_ms / 1000
              << " s: " << c.count << " readings\n";
    total += c.count;
  }
  std::cout << "total " << total << " of " << readings.size() << " readings\n";
  return total == static_cast<int64_t>(readings.size()) ? 0 : 1;
}
