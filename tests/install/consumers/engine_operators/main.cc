// A job built against an installed brook: counts events per key with a
// KeyedProcessFunction (keyed state + an event-time timer) at parallelism 2
// and checks the counts. Exits 0 when they are right.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "brook/brook.h"

namespace {

struct Event {
  int64_t user_id;
  int64_t ts_ms;
};

using Count = std::pair<int64_t, int64_t>;  // (user_id, events)

// Emits each user's count once the watermark passes the end of the input.
class CountPerKey : public brook::KeyedProcessFunction<int64_t, Event, Count> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(count_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("count")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Event& e, Context& ctx, brook::Collector<Count>& out) override {
    const int64_t* c = count_.Get();
    count_.Update((c ? *c : 0) + 1);
    ctx.timer_service().RegisterEventTimeTimer(kEndMs);
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t, OnTimerContext& ctx, brook::Collector<Count>& out) override {
    out.Collect({ctx.GetCurrentKey(), *count_.Get()});
    count_.Clear();
    return absl::OkStatus();
  }

  static constexpr int64_t kEndMs = 1'000'000;

 private:
  brook::ValueState<int64_t> count_;
};

}  // namespace

int main() {
  constexpr int kUsers = 5;
  constexpr int kEvents = 1000;
  std::vector<Event> events;
  for (int i = 0; i < kEvents; ++i) events.push_back({i % kUsers, i});

  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<Count>>();
  env.FromCollection(events, brook::WatermarkStrategy<Event>::ForMonotonousTimestamps()
                                 .WithTimestampAssigner([](const Event& e) { return e.ts_ms; }))
      .KeyBy(&Event::user_id)
      .Process(CountPerKey(), "count")
      .SinkTo(sink);
  absl::Status status = env.Execute("install-consumer");
  if (!status.ok()) {
    std::fprintf(stderr, "Execute failed: %s\n", status.ToString().c_str());
    return 1;
  }

  std::vector<Count> counts = sink->values();
  std::sort(counts.begin(), counts.end());
  std::vector<Count> want;
  for (int u = 0; u < kUsers; ++u) want.push_back({u, kEvents / kUsers});
  if (counts != want) {
    std::fprintf(stderr, "wrong counts:");
    for (const auto& [user, n] : counts) {
      std::fprintf(stderr, " (%lld, %lld)", static_cast<long long>(user),
                   static_cast<long long>(n));
    }
    std::fprintf(stderr, "\n");
    return 1;
  }
  std::printf("install consumer OK: %zu keys, %d events\n", counts.size(), kEvents);
  return 0;
}
