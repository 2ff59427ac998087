#include "brook/metrics.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace brook {

int64_t HistogramSnapshot::count() const {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

Histogram::Histogram(std::vector<int64_t> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_ = std::make_unique<std::atomic<int64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(int64_t value) {
  // First bucket whose bound is >= value (Prometheus' `le`); past the end: +Inf.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::atomic<int64_t>& c = counts_[i];
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Wraps like the int64 it is (two's complement) rather than overflowing UB.
  sum_.store(static_cast<int64_t>(static_cast<uint64_t>(sum_.load(std::memory_order_relaxed)) +
                                  static_cast<uint64_t>(value)),
             std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.upper_bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

Counter* MetricGroup::GetCounter(const std::string& name) {
  absl::MutexLock lock(&registry_->mu_);
  auto& entry = registry_->metrics_[MetricRegistry::Id(
      scope_.job, scope_.operator_name, scope_.subtask, name)];
  if (!entry.counter) {
    entry.scope = scope_;
    entry.counter = std::make_unique<Counter>();
    entry.gauge = nullptr;
  }
  return entry.counter.get();
}

Counter* MetricGroup::GetGauge(const std::string& name) {
  Counter* c = GetCounter(name);
  absl::MutexLock lock(&registry_->mu_);
  registry_->metrics_[MetricRegistry::Id(scope_.job, scope_.operator_name, scope_.subtask, name)]
      .counter_is_gauge = true;
  return c;
}

void MetricGroup::SetGauge(const std::string& name, Gauge gauge) {
  absl::MutexLock lock(&registry_->mu_);
  auto& entry = registry_->metrics_[MetricRegistry::Id(
      scope_.job, scope_.operator_name, scope_.subtask, name)];
  entry.scope = scope_;
  entry.counter.reset();
  entry.gauge = std::move(gauge);
}

Histogram* MetricGroup::GetHistogram(const std::string& name,
                                     std::vector<int64_t> upper_bounds) {
  absl::MutexLock lock(&registry_->mu_);
  auto& entry = registry_->metrics_[MetricRegistry::Id(
      scope_.job, scope_.operator_name, scope_.subtask, name)];
  if (!entry.histogram) {
    entry.scope = scope_;
    entry.histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  }
  return entry.histogram.get();
}

std::vector<MetricValue> MetricRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<MetricValue> out;
  out.reserve(metrics_.size());
  for (const auto& [id, entry] : metrics_) {
    MetricValue v;
    v.scope = entry.scope;
    v.name = std::get<3>(id);
    v.is_counter = entry.counter != nullptr && !entry.counter_is_gauge;
    v.value = entry.counter ? entry.counter->value() : (entry.gauge ? entry.gauge() : 0);
    if (entry.histogram) {
      v.histogram = entry.histogram->Snapshot();
      v.is_counter = false;
      v.value = v.histogram->count();
    }
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<int64_t> MetricRegistry::Sum(const std::string& name,
                                            const std::string& operator_name) const {
  int64_t sum = 0;
  bool found = false;
  for (const MetricValue& v : Snapshot()) {
    if (v.name == name && (operator_name.empty() || v.scope.operator_name == operator_name)) {
      found = true;
      // Saturate: gauges such as a watermark at +inf must not overflow.
      if (__builtin_add_overflow(sum, v.value, &sum)) {
        sum = v.value > 0 ? std::numeric_limits<int64_t>::max()
                          : std::numeric_limits<int64_t>::min();
      }
    }
  }
  if (!found) {
    return absl::NotFoundError(
        operator_name.empty()
            ? absl::StrCat("no metric \"", name, "\" in any operator")
            : absl::StrCat("no metric \"", name, "\" in operator \"", operator_name, "\""));
  }
  return sum;
}

}  // namespace brook
