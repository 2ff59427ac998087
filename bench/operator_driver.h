// File: bench/operator_driver.h
//
// OperatorDriver: one operator subtask (index 0 of 1, so it owns every key
// group) driven directly with batches and watermarks, its output counted and
// dropped, no timers served: what the single-operator benchmarks measure,
// without threads, channels or the test harness's output collection. Reaches
// into brook/internal/ on purpose (benchmarks of the runtime's parts).
#ifndef BROOK_BENCH_OPERATOR_DRIVER_H_
#define BROOK_BENCH_OPERATOR_DRIVER_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "brook/internal/operators.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"

namespace brook_bench {

// Takes batches and control elements and drops them, counting records.
template <typename T>
class Discard final : public brook::internal::RecordConsumer<T> {
 public:
  absl::Status ProcessBatch(std::vector<brook::StreamRecord<T>>& batch) override {
    records += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  }
  absl::Status ProcessWatermark(int64_t) override { return absl::OkStatus(); }
  absl::Status ProcessWatermarkStatus(bool) override { return absl::OkStatus(); }
  absl::Status EndInput() override { return absl::OkStatus(); }
  int64_t records = 0;
};

// Processing time stands still; no timer is ever served.
class NoTimers final : public brook::internal::TimerScheduler {
 public:
  int64_t NowMs() override { return 0; }
  void Schedule(brook::internal::OperatorBase*, int64_t) override {}
};

// `Op` (an operator with output type Out) set up as subtask 0 of 1 of
// operator `name`. Open(), Process() and Watermark() abort on an error: a
// benchmark has no other way out.
template <typename Out, typename Op>
class OperatorDriver {
  // The operator's input type: Op is a OneInputOperator<In>.
  template <typename I>
  static I InputOf(brook::internal::OneInputOperator<I>*);

 public:
  using In = decltype(InputOf(static_cast<Op*>(nullptr)));

  explicit OperatorDriver(std::unique_ptr<Op> op, std::string name = "op")
      : name_(std::move(name)), op_(std::move(op)) {
    op_->Setup(brook::internal::OperatorSetup{"bench", name_, 0, 1,
                                              brook::kDefaultMaxParallelism, &group_, &timers_});
    op_->SetMainOutput(&output_);
  }

  template <typename X>
  void AddSideOutput(const brook::OutputTag<X>& tag) {
    auto consumer = std::make_shared<Discard<X>>();
    auto output = std::make_shared<brook::internal::Output<X>>(
        std::vector<brook::internal::RecordConsumer<X>*>{consumer.get()}, nullptr);
    op_->AddSideOutput(tag.id(), output.get());
    owned_.push_back(consumer);
    owned_.push_back(output);
  }

  void Open() { Check(op_->Open()); }
  // The operator owns the batch it is handed and moves records out of it
  // (the rvalue ProcessElement), so it gets a copy, and `batch` can be fed
  // again. The copy (into a reused vector: no allocation for short strings)
  // is timed, as a source's building of its records would be.
  void Process(const std::vector<brook::StreamRecord<In>>& batch) {
    scratch_ = batch;
    Check(op_->ProcessBatch(scratch_));
    Check(op_->FlushOutputs());
  }
  void Watermark(int64_t wm) { Check(op_->ProcessWatermark(wm)); }

  Op& op() { return *op_; }
  int64_t out_records() const { return out_.records; }
  int64_t Metric(const std::string& name) const { return registry_.Sum(name).value_or(0); }

 private:
  static void Check(const absl::Status& s) {
    if (!s.ok()) {
      std::fprintf(stderr, "operator failed: %s\n", s.ToString().c_str());
      std::abort();
    }
  }

  std::string name_;
  brook::MetricRegistry registry_;
  brook::MetricGroup group_{&registry_, brook::MetricScope{"bench", name_, 0}};
  NoTimers timers_;
  Discard<Out> out_;
  brook::internal::Output<Out> output_{{&out_}, nullptr};
  std::vector<std::shared_ptr<void>> owned_;
  std::unique_ptr<Op> op_;
  std::vector<brook::StreamRecord<In>> scratch_;
};

}  // namespace brook_bench

#endif  // BROOK_BENCH_OPERATOR_DRIVER_H_
