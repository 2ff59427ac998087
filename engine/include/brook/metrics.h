// File: brook/metrics.h
//
// Counters and gauges per job, operator and subtask, as Flink's metric groups.
// A MetricRegistry belongs to one StreamExecutionEnvironment (no global state);
// operators reach their MetricGroup through their runtime context, and an
// embedding service can read every metric with MetricRegistry::Snapshot().
//
// Thread-safety: registration and Snapshot() are thread-safe. A Counter has a
// single writer (its subtask's thread) and any number of readers; Inc() is a
// relaxed load/store pair, not a locked read-modify-write, so it costs about as
// much as a plain increment on the hot path. A Histogram likewise has a single
// writer (Observe()) and any number of readers.
#ifndef BROOK_METRICS_H_
#define BROOK_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace brook {

// A monotonically increasing count. Single writer, many readers.
class Counter {
 public:
  void Inc(int64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Counter::Set(): overwrites the value; for gauges the owner updates (state
  // size, current watermark) so that readers never touch operator state.
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A value read on demand. The function is called from the reader's thread, so
// it must only read atomics (or otherwise be thread-safe).
using Gauge = std::function<int64_t()>;

// A histogram's counts at one instant: counts[i] is the number of
// observations v with upper_bounds[i - 1] < v <= upper_bounds[i] (Prometheus'
// `le` rule); counts.back() counts those above the last bound (+Inf).
struct HistogramSnapshot {
  std::vector<int64_t> upper_bounds;  // ascending, distinct
  std::vector<int64_t> counts;        // upper_bounds.size() + 1 buckets, not cumulative
  int64_t sum = 0;                    // of every observed value
  int64_t count() const;              // sum of counts
};

// A distribution of int64 observations (e.g. a latency in ms) over fixed
// bucket upper bounds, as a Prometheus histogram. Single writer, many
// readers: Observe() is a few relaxed atomic load/store pairs, no lock.
// A reader's Snapshot() is not atomic as a whole (a concurrent Observe() may
// show in a bucket but not yet in the sum), but every bucket is monotonic.
class Histogram {
 public:
  // Bounds are sorted and de-duplicated; an empty list leaves one bucket
  // (+Inf).
  explicit Histogram(std::vector<int64_t> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(int64_t value);
  HistogramSnapshot Snapshot() const;
  const std::vector<int64_t>& upper_bounds() const { return bounds_; }

 private:
  std::vector<int64_t> bounds_;
  std::unique_ptr<std::atomic<int64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<int64_t> sum_{0};
};

// Labels that scope a metric: job, operator and subtask.
struct MetricScope {
  std::string job;
  std::string operator_name;
  int subtask = 0;
};

// One metric's value at Snapshot() time.
struct MetricValue {
  MetricScope scope;
  std::string name;  // e.g. "num_records_in"
  int64_t value = 0;  // for a histogram: its observation count
  bool is_counter = true;
  // Set for histograms (is_counter is then false).
  std::optional<HistogramSnapshot> histogram;
};

class MetricRegistry;

// The metrics of one operator subtask. Valid as long as its registry.
class MetricGroup {
 public:
  MetricGroup(MetricRegistry* registry, MetricScope scope)
      : registry_(registry), scope_(std::move(scope)) {}

  // MetricGroup::GetCounter(): the counter `name` in this scope, created on
  // first use; the pointer stays valid for the registry's lifetime.
  Counter* GetCounter(const std::string& name);
  // MetricGroup::GetGauge(): a value gauge `name` that its owner Set()s; read
  // as a gauge (not summed as a rate) by exporters.
  Counter* GetGauge(const std::string& name);
  // MetricGroup::SetGauge(): registers (or replaces) gauge `name`.
  void SetGauge(const std::string& name, Gauge gauge);
  // MetricGroup::GetHistogram(): the histogram `name` in this scope, created
  // on first use with `upper_bounds` (a later call returns the existing one,
  // whatever bounds it passes); the pointer stays valid for the registry's
  // lifetime. A name identifies one metric per scope: do not reuse a
  // counter's or gauge's name.
  Histogram* GetHistogram(const std::string& name, std::vector<int64_t> upper_bounds);

  const MetricScope& scope() const { return scope_; }

 private:
  MetricRegistry* registry_;
  MetricScope scope_;
};

class MetricRegistry {
 public:
  MetricRegistry() = default;
  MetricRegistry(const MetricRegistry&) = delete;
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  // MetricRegistry::Snapshot(): every metric's current value, ordered by
  // operator, subtask and name.
  std::vector<MetricValue> Snapshot() const;

  // MetricRegistry::Sum(): the sum of metric `name` over every subtask of the
  // operators named `operator_name` (all operators when empty); saturates at
  // the int64 range. kNotFound, naming the metric and the operator, when no
  // such subtask has registered `name`: a misspelt metric or operator name,
  // or a job that has not opened that operator yet, is not read as 0.
  absl::StatusOr<int64_t> Sum(const std::string& name, const std::string& operator_name = "") const;

 private:
  friend class MetricGroup;
  struct Entry {
    MetricScope scope;
    std::unique_ptr<Counter> counter;
    bool counter_is_gauge = false;
    Gauge gauge;
    std::unique_ptr<Histogram> histogram;
  };
  using Id = std::tuple<std::string, std::string, int, std::string>;
  mutable absl::Mutex mu_;
  std::map<Id, Entry> metrics_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brook

#endif  // BROOK_METRICS_H_
