#include "brook/metrics.h"

#include <tuple>

namespace brook {

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
    out.push_back(std::move(v));
  }
  return out;
}

int64_t MetricRegistry::Sum(const std::string& name, const std::string& operator_name) const {
  int64_t sum = 0;
  for (const MetricValue& v : Snapshot()) {
    if (v.name == name && (operator_name.empty() || v.scope.operator_name == operator_name)) {
      sum += v.value;
    }
  }
  return sum;
}

}  // namespace brook
