// File: camera_top_k/view_freshness.h
//
// The freshness of a live view: the age of the newest event it reflects, in
// processing time. A view changes only when a firing reaches it, and a firing
// reflects the events that reached the window before it fired; so at time t
//
//   freshness(t) = (t - the view's last update) + transit,
//
// where `transit` is the source-to-view time of the events of that update,
// read from the latency markers (ExecutionConfig::latency_tracking_interval)
// that reached the view's sink since the update before: the mean of their
// "latency_us" observations (markers pass around the window without waiting
// for it to fire, as those events did before the firing). Without markers,
// transit counts as 0 and freshness is the age of the last update.
//
// Thread-safety: OnUpdate() from one writer thread; FreshnessUs() from any.
// OnUpdate() reads the registry at most every 100 ms (Snapshot() copies it).
#ifndef CAMERA_TOP_K_VIEW_FRESHNESS_H_
#define CAMERA_TOP_K_VIEW_FRESHNESS_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "brook/metrics.h"

namespace camera {

class ViewFreshness {
 public:
  // `sink`: the operator name of the view's sink (its "latency_us").
  explicit ViewFreshness(std::string sink) : sink_(std::move(sink)) {}

  // The view changed at `now_us` (wall clock, microseconds since the epoch).
  // `metrics`: the job's registry (may be null: transit unchanged).
  void OnUpdate(int64_t now_us, const brook::MetricRegistry* metrics);
  // Forgets every update (a new job); not while OnUpdate() may run.
  void Reset();

  // Freshness at `now_us`, microseconds; nullopt before the first update.
  std::optional<int64_t> FreshnessUs(int64_t now_us) const;

 private:
  const std::string sink_;
  std::atomic<int64_t> last_update_us_{0};  // 0: none yet
  std::atomic<int64_t> transit_us_{0};
  // Writer only: the sink's histogram count and sum at the previous update.
  int64_t markers_seen_ = 0;
  int64_t markers_sum_us_ = 0;
  int64_t last_read_us_ = 0;
};

}  // namespace camera

#endif  // CAMERA_TOP_K_VIEW_FRESHNESS_H_
