// File: camera_top_k/view_freshness.cc
#include "camera_top_k/view_freshness.h"

#include <algorithm>

namespace camera {

void ViewFreshness::OnUpdate(int64_t now_us, const brook::MetricRegistry* metrics) {
  // The registry at most every 100 ms (a firing arrives in many batches).
  if (metrics != nullptr && now_us - last_read_us_ >= 100'000) {
    last_read_us_ = now_us;
    int64_t count = 0, sum = 0;
    for (const brook::MetricValue& m : metrics->Snapshot()) {
      if (m.name != "latency_us" || m.scope.operator_name != sink_ || !m.histogram) continue;
      count += m.histogram->count();
      sum += m.histogram->sum;
    }
    if (count > markers_seen_) {
      transit_us_.store((sum - markers_sum_us_) / (count - markers_seen_),
                        std::memory_order_relaxed);
    }
    markers_seen_ = count;
    markers_sum_us_ = sum;
  }
  last_update_us_.store(now_us, std::memory_order_release);
}

void ViewFreshness::Reset() {
  last_update_us_.store(0, std::memory_order_relaxed);
  transit_us_.store(0, std::memory_order_relaxed);
  markers_seen_ = 0;
  markers_sum_us_ = 0;
  last_read_us_ = 0;
}

std::optional<int64_t> ViewFreshness::FreshnessUs(int64_t now_us) const {
  const int64_t last = last_update_us_.load(std::memory_order_acquire);
  if (last == 0) return std::nullopt;
  return std::max<int64_t>(0, now_us - last) + transit_us_.load(std::memory_order_relaxed);
}

}  // namespace camera
