// File: brook/testing/test_harness.h
//
// Drive one function by hand and assert exactly what it emits, as Flink's
// KeyedOneInputStreamOperatorTestHarness: feed records, watermarks and
// processing time; read back the records, side outputs and watermarks. With
// state.h's CountPerKey:
// Example:
//   brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> h(
//       CountPerKey(), [](const Event& e) { return e.user_id; });
//   ASSERT_THAT(h.Open(), IsOk());
//   ASSERT_THAT(h.ProcessElement(Event{.user_id = 1, .ts_ms = 10}, /*timestamp_ms=*/10), IsOk());
//   ASSERT_THAT(h.ProcessWatermark(100), IsOk());
//   EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Count{1, 1}));
//   EXPECT_THAT(h.ExtractWatermarks(), ElementsAre(100));
//
// Records and watermarks also come back as one sequence in emission order
// (Flink's harness output queue), so that a test can assert that a watermark
// is never reordered with records, e.g. that a window's result precedes the
// watermark that fired it:
// Example:
//   using E = brook::testing::OutputElement<Count>;
//   EXPECT_THAT(h.ExtractOutputSequence(),
//               ElementsAre(E::Record(Count{1, 1}, /*timestamp_ms=*/99), E::Watermark(100)));
//
// Checkpoints, as Flink's harness snapshot() / initializeState(): Snapshot(id)
// runs an operator's synchronous and asynchronous snapshot parts and returns
// what it would write; a new harness restored from the snapshots of every old
// subtask (RestoreFrom before Open) gets the state of its key groups, so a
// test can go from parallelism 1 to 2 and back:
// Example:
//   absl::StatusOr<brook::OperatorSubtaskState> snap = h.Snapshot(1);  // P = 1
//   ASSERT_THAT(snap, IsOk());
//   brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> a(
//       CountPerKey(), key, {.parallelism = 2});  // subtask 0 of 2
//   ASSERT_THAT(a.RestoreFrom({*snap}), IsOk());
//   ASSERT_THAT(a.Open(), IsOk());
//
// Processing time is manual: it starts at `initial_processing_time_ms` and only
// moves with SetProcessingTime(), which fires due processing-time timers.
// The harness plays subtask `subtask_index` of `parallelism`; records whose key
// group that subtask does not own fail with kInternal, as in a real job.
// Not thread-safe. No gtest dependency: usable from any test framework.
#ifndef BROOK_TESTING_TEST_HARNESS_H_
#define BROOK_TESTING_TEST_HARNESS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/checkpoint_storage.h"
#include "brook/functions.h"
#include "brook/internal/operators.h"
#include "brook/internal/output.h"
#include "brook/internal/restore_assignment.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/record.h"
#include "brook/status.h"

namespace brook::testing {

struct HarnessOptions {
  int max_parallelism = kDefaultMaxParallelism;
  int parallelism = 1;
  int subtask_index = 0;
  int64_t initial_processing_time_ms = 0;
  std::string operator_name = "under-test";
};

// A snapshot not yet serialised: see SnapshotSync().
using PendingSnapshot = std::function<absl::StatusOr<OperatorSubtaskState>()>;

// One element of a harness output, in emission order: a record with its
// timestamp, or a watermark. Compares equal when kind and contents are
// equal (T needs ==); prints as Record(value @ts) or Watermark(ms).
template <typename T>
struct OutputElement {
  std::optional<StreamRecord<T>> record;  // nullopt: a watermark
  int64_t watermark_ms = 0;               // a watermark's; 0 for a record

  static OutputElement Record(T value, int64_t timestamp_ms) {
    return OutputElement{StreamRecord<T>{timestamp_ms, std::move(value)}, 0};
  }
  static OutputElement Watermark(int64_t watermark_ms) {
    return OutputElement{std::nullopt, watermark_ms};
  }
  bool is_watermark() const { return !record.has_value(); }

  friend bool operator==(const OutputElement&, const OutputElement&) = default;
  friend std::ostream& operator<<(std::ostream& os, const OutputElement& e) {
    if (e.is_watermark()) return os << "Watermark(" << e.watermark_ms << ")";
    os << "Record(";
    if constexpr (requires { os << e.record->value; }) {
      os << e.record->value;
    } else {
      os << "?";
    }
    return os << " @" << e.record->timestamp_ms << ")";
  }
};

namespace harness_internal {

// Records every batch and control element that reaches it; records and
// watermarks in one sequence, in arrival order.
template <typename T>
class CaptureConsumer final : public internal::RecordConsumer<T> {
 public:
  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    for (auto& r : batch) elements.push_back(OutputElement<T>{std::move(r), 0});
    return absl::OkStatus();
  }
  absl::Status ProcessWatermark(int64_t wm) override {
    elements.push_back(OutputElement<T>::Watermark(wm));
    return absl::OkStatus();
  }
  absl::Status ProcessWatermarkStatus(bool idle) override {
    statuses.push_back(idle);
    return absl::OkStatus();
  }
  absl::Status EndInput() override {
    ended = true;
    return absl::OkStatus();
  }
  // Takes the records out of `elements`, leaving the watermarks.
  std::vector<StreamRecord<T>> TakeRecords() {
    std::vector<StreamRecord<T>> records;
    std::vector<OutputElement<T>> rest;
    for (auto& e : elements) {
      if (e.is_watermark()) {
        rest.push_back(std::move(e));
      } else {
        records.push_back(std::move(*e.record));
      }
    }
    elements = std::move(rest);
    return records;
  }
  // Takes the watermarks out of `elements`, leaving the records.
  std::vector<int64_t> TakeWatermarks() {
    std::vector<int64_t> watermarks;
    std::erase_if(elements, [&](const OutputElement<T>& e) {
      if (e.is_watermark()) watermarks.push_back(e.watermark_ms);
      return e.is_watermark();
    });
    return watermarks;
  }

  std::vector<OutputElement<T>> elements;
  std::vector<bool> statuses;
  bool ended = false;
};

class ManualScheduler final : public internal::TimerScheduler {
 public:
  int64_t NowMs() override { return now_ms; }
  void Schedule(internal::OperatorBase* op, int64_t ts) override { pending.emplace_back(op, ts); }
  int64_t now_ms = 0;
  std::vector<std::pair<internal::OperatorBase*, int64_t>> pending;
};

// Shared plumbing of both harnesses, over the runtime operator `Op`.
template <typename In, typename Out>
class HarnessBase {
 public:
  // Side outputs must be registered before Open() (and RestoreFrom) to be captured; records
  // sent to an unregistered tag are counted as discarded, as in a job.
  template <typename X>
  void RegisterSideOutput(const OutputTag<X>& tag) {
    auto capture = std::make_unique<CaptureConsumer<X>>();
    auto output = std::make_unique<internal::Output<X>>(
        std::vector<internal::RecordConsumer<X>*>{capture.get()}, nullptr);
    side_[tag.id()] = SideOutput{capture.get(), output.get()};
    side_owned_.push_back(std::shared_ptr<void>(std::move(capture)));
    side_owned_.push_back(std::shared_ptr<void>(std::move(output)));
  }

  // Restores this harness's subtask from the snapshots of every old subtask
  // (Snapshot() of each, any old parallelism), redistributed as the runtime
  // does; call before Open(). Errors are the operator's (kDataLoss for bytes
  // that do not decode, kFailedPrecondition for state it cannot take).
  absl::Status RestoreFrom(const std::vector<OperatorSubtaskState>& snapshots,
                           int64_t checkpoint_id = 1) {
    // The operator views the key groups' bytes until Open(): keep them.
    restored_snapshots_ = snapshots;
    std::vector<const OperatorSubtaskState*> states;
    for (const OperatorSubtaskState& s : restored_snapshots_) states.push_back(&s);
    SetupOnce();
    return op_->InitializeState(
        internal::AssignRestoreData(checkpoint_id, states, options_.max_parallelism,
                                    options_.parallelism, options_.subtask_index,
                                    op_->operator_state_distribution()));
  }

  absl::Status Open() {
    SetupOnce();
    return op_->Open();
  }

  // The synchronous part of checkpoint `checkpoint_id` (after flushing the
  // outputs, as the runtime does); run the result to serialise, possibly
  // after more input (copy-on-write keeps it at the checkpoint's state).
  absl::StatusOr<PendingSnapshot> SnapshotSync(int64_t checkpoint_id) {
    BROOK_RETURN_IF_ERROR(op_->FlushOutputs());
    BROOK_ASSIGN_OR_RETURN(internal::AsyncSnapshot async, op_->SnapshotState(checkpoint_id));
    OperatorSubtaskState state{options_.operator_name, options_.subtask_index,
                               options_.parallelism, {}, {}};
    return PendingSnapshot([state = std::move(state), async = std::move(async)]() mutable
                           -> absl::StatusOr<OperatorSubtaskState> {
      if (!async) return state;
      BROOK_ASSIGN_OR_RETURN(internal::OperatorSnapshotData data, async());
      state.operator_state = std::move(data.operator_state);
      state.key_groups = std::move(data.key_groups);
      return state;
    });
  }
  // Both parts of checkpoint `checkpoint_id`: what this subtask contributes.
  absl::StatusOr<OperatorSubtaskState> Snapshot(int64_t checkpoint_id) {
    BROOK_ASSIGN_OR_RETURN(PendingSnapshot pending, SnapshotSync(checkpoint_id));
    return pending();
  }
  // Checkpoint `checkpoint_id` with incremental checkpoints on
  // (CheckpointConfig::incremental): keyed state writes only its changes
  // since checkpoint `base_checkpoint_id` (0: full) when it can, and
  // `*incremental_base` (when not null) says on which checkpoint it did, or
  // 0. RestoreFrom takes a chain as the full snapshot followed by its
  // increments, oldest first.
  absl::StatusOr<OperatorSubtaskState> SnapshotIncremental(int64_t checkpoint_id,
                                                           int64_t base_checkpoint_id,
                                                           int64_t* incremental_base = nullptr) {
    op_->set_snapshot_options(internal::SnapshotOptions{true, base_checkpoint_id});
    BROOK_RETURN_IF_ERROR(op_->FlushOutputs());
    absl::StatusOr<internal::AsyncSnapshot> async = op_->SnapshotState(checkpoint_id);
    op_->set_snapshot_options({});
    BROOK_RETURN_IF_ERROR(async.status());
    OperatorSubtaskState state{options_.operator_name, options_.subtask_index,
                               options_.parallelism, {}, {}};
    if (incremental_base != nullptr) *incremental_base = 0;
    if (!*async) return state;
    BROOK_ASSIGN_OR_RETURN(internal::OperatorSnapshotData data, (*async)());
    if (incremental_base != nullptr) *incremental_base = data.incremental_base;
    state.operator_state = std::move(data.operator_state);
    state.key_groups = std::move(data.key_groups);
    return state;
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) {
    return Flushed(op_->NotifyCheckpointComplete(checkpoint_id));
  }

  absl::Status ProcessElement(In value, int64_t timestamp_ms) {
    std::vector<StreamRecord<In>> batch;
    batch.push_back(StreamRecord<In>{timestamp_ms, std::move(value)});
    return Flushed(consumer()->ProcessBatch(batch));
  }
  absl::Status ProcessWatermark(int64_t watermark_ms) {
    return Flushed(consumer()->ProcessWatermark(watermark_ms));
  }
  // Moves processing time to `now_ms` and fires the timers now due.
  absl::Status SetProcessingTime(int64_t now_ms) {
    scheduler_.now_ms = now_ms;
    bool due = false;
    std::vector<std::pair<internal::OperatorBase*, int64_t>> still;
    for (const auto& p : scheduler_.pending) {
      if (p.second <= now_ms) {
        due = true;
      } else {
        still.push_back(p);
      }
    }
    scheduler_.pending = std::move(still);
    if (!due) return absl::OkStatus();
    return Flushed(op_->OnProcessingTime(now_ms));
  }
  // The end of a bounded input (call ProcessWatermark(kMaxWatermarkMs) first,
  // as the runtime does, to fire every event-time timer).
  absl::Status EndInput() { return Flushed(consumer()->EndInput()); }
  absl::Status Close() { return op_->Close(); }

  // Records emitted since the last Extract, in order, with timestamps.
  std::vector<StreamRecord<Out>> ExtractOutput() { return main_.TakeRecords(); }
  std::vector<Out> ExtractOutputValues() {
    std::vector<Out> v;
    for (auto& r : ExtractOutput()) v.push_back(std::move(r.value));
    return v;
  }
  // Watermarks forwarded downstream since the last Extract.
  std::vector<int64_t> ExtractWatermarks() { return main_.TakeWatermarks(); }
  // Records and watermarks not yet extracted, as one sequence in the order
  // they were emitted.
  std::vector<OutputElement<Out>> ExtractOutputSequence() {
    return std::exchange(main_.elements, {});
  }
  template <typename X>
  std::vector<StreamRecord<X>> ExtractSideOutput(const OutputTag<X>& tag) {
    CaptureConsumer<X>* capture = SideCapture(tag);
    return capture == nullptr ? std::vector<StreamRecord<X>>() : capture->TakeRecords();
  }
  // The side output `tag`'s records and watermarks (every watermark reaches
  // every output) not yet extracted, in emission order.
  template <typename X>
  std::vector<OutputElement<X>> ExtractSideOutputSequence(const OutputTag<X>& tag) {
    CaptureConsumer<X>* capture = SideCapture(tag);
    return capture == nullptr ? std::vector<OutputElement<X>>()
                              : std::exchange(capture->elements, {});
  }
  bool ended() const { return main_.ended; }

  // The metric `name` the function reported (MetricRegistry::Sum);
  // kNotFound when it registered none of that name.
  absl::StatusOr<int64_t> Metric(const std::string& name) const { return registry_.Sum(name); }
  MetricRegistry& metrics() { return registry_; }

 protected:
  HarnessBase(std::unique_ptr<internal::OneInputOperator<In>> op, HarnessOptions options)
      : options_(std::move(options)),
        metrics_group_(&registry_, MetricScope{"test-job", options_.operator_name,
                                               options_.subtask_index}),
        op_(std::move(op)) {
    scheduler_.now_ms = options_.initial_processing_time_ms;
  }

  void SetupOnce() {
    if (set_up_) return;
    set_up_ = true;
    op_->Setup(internal::OperatorSetup{"test-job", options_.operator_name,
                                       options_.subtask_index, options_.parallelism,
                                       options_.max_parallelism, &metrics_group_, &scheduler_});
    op_->SetMainOutput(&main_output_);
    for (auto& [id, side] : side_) op_->AddSideOutput(id, side.output);
  }
  internal::RecordConsumer<In>* consumer() { return op_.get(); }
  template <typename X>
  CaptureConsumer<X>* SideCapture(const OutputTag<X>& tag) {
    auto it = side_.find(tag.id());
    return it == side_.end() ? nullptr : static_cast<CaptureConsumer<X>*>(it->second.capture);
  }
  absl::Status Flushed(absl::Status s) {
    absl::Status f = op_->FlushOutputs();
    return s.ok() ? f : s;
  }

  struct SideOutput {
    void* capture;
    internal::OutputBase* output;
  };

  HarnessOptions options_;
  MetricRegistry registry_;
  MetricGroup metrics_group_;
  ManualScheduler scheduler_;
  CaptureConsumer<Out> main_;
  internal::Output<Out> main_output_{{&main_}, nullptr};
  absl::flat_hash_map<std::string, SideOutput> side_;
  std::vector<std::shared_ptr<void>> side_owned_;
  std::vector<OperatorSubtaskState> restored_snapshots_;  // what RestoreFrom's views see
  std::unique_ptr<internal::OneInputOperator<In>> op_;
  bool set_up_ = false;
};

}  // namespace harness_internal

// Drives a KeyedProcessFunction (keyed state, timers, side outputs).
template <typename Fn>
class KeyedProcessFunctionTestHarness
    : public harness_internal::HarnessBase<typename Fn::InputType, typename Fn::OutputType> {
  using K = typename Fn::KeyType;
  using In = typename Fn::InputType;
  using Out = typename Fn::OutputType;
  using Op = internal::KeyedProcessOperator<K, In, Out>;

 public:
  KeyedProcessFunctionTestHarness(Fn fn, std::function<K(const In&)> key_selector,
                                  HarnessOptions options = {})
      : harness_internal::HarnessBase<In, Out>(
            std::make_unique<Op>(std::make_unique<Fn>(std::move(fn)), std::move(key_selector)),
            std::move(options)) {}

  // Keyed state entries and bytes held, and timers pending.
  int64_t NumStateEntries() const { return op()->NumStateEntries(); }
  int64_t StateBytes() const { return op()->StateBytes(); }
  size_t NumTimers() const { return op()->NumTimers(); }

 private:
  const Op* op() const { return static_cast<const Op*>(this->op_.get()); }
};

// Drives a (non-keyed) ProcessFunction.
template <typename Fn>
class ProcessFunctionTestHarness
    : public harness_internal::HarnessBase<typename Fn::InputType, typename Fn::OutputType> {
  using In = typename Fn::InputType;
  using Out = typename Fn::OutputType;

 public:
  explicit ProcessFunctionTestHarness(Fn fn, HarnessOptions options = {})
      : harness_internal::HarnessBase<In, Out>(
            std::make_unique<internal::ProcessOperator<In, Out>>(
                std::make_unique<Fn>(std::move(fn))),
            std::move(options)) {}
};

}  // namespace brook::testing

#endif  // BROOK_TESTING_TEST_HARNESS_H_
