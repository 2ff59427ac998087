// File: brook/internal/operator.h  (internal: not part of the API)
//
// The runtime's side of an operator (Flink's StreamOperator): lifecycle
// Setup -> Open -> process records/watermarks/timers -> EndInput -> Close,
// all called from the subtask's single thread.
#ifndef BROOK_INTERNAL_OPERATOR_H_
#define BROOK_INTERNAL_OPERATOR_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/output.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/time.h"

namespace brook::internal {

class OperatorBase;

// Checkpointing (DESIGN.md §7). What one operator subtask contributes to a
// checkpoint: non-keyed operator state (a source's position, a sink's
// pending transaction, a function's own state) and, for a keyed operator,
// one blob per key group of its range (keyed state tables with TTL
// metadata, timers, window contents), so that state can be redistributed
// when parallelism changes. Either may be empty.
struct OperatorSnapshotData {
  std::string operator_state;
  std::vector<std::pair<int32_t, KeyGroupBytes>> key_groups;  // (key group, bytes)
  // Incremental checkpoints: when not 0, `key_groups` hold only what changed
  // since checkpoint `incremental_base` (a complete checkpoint whose file of
  // this operator subtask, with its own chain, the restore applies first).
  int64_t incremental_base = 0;
};

// How the runtime wants the next snapshot taken (set before SnapshotState).
struct SnapshotOptions {
  // Keyed state keeps change logs and may write increments.
  bool incremental = false;
  // The newest complete checkpoint the runtime can chain an increment on;
  // 0: write a full snapshot (savepoints, materialisation, first checkpoint).
  int64_t base_checkpoint_id = 0;
};

// The asynchronous part of a snapshot: serialises what the synchronous part
// captured. It runs on a checkpoint I/O thread, concurrently with the
// subtask, so it must not touch the operator, only what it captured (a copy
// or a copy-on-write view). Called at most once.
using AsyncSnapshot = std::function<absl::StatusOr<OperatorSnapshotData>()>;

// What a restored operator subtask gets, before Open(): the operator states
// of the old subtasks assigned to it (OperatorStateDistribution: by default
// old subtask j goes to new subtask j % new_parallelism, so exactly one when
// parallelism did not change) and the key groups of its new key-group range.
struct OperatorRestoreData {
  int64_t checkpoint_id = 0;
  // The checkpoint was taken at another parallelism (key-group ranges moved).
  bool rescaled = false;
  // In order of old subtask index.
  std::vector<std::string> operator_states;
  // (key group, bytes): views into the restored checkpoint (no copy of the
  // state), which the runtime (or the test harness) keeps alive until the
  // operator's Open() has returned; an operator must not keep them longer.
  std::vector<std::pair<int32_t, std::string_view>> key_groups;
};

// How an operator's operator state (not its key groups) is handed to the new
// subtasks on restore (Flink's ListState vs UnionListState redistribution).
enum class OperatorStateDistribution {
  // Old subtask j goes to new subtask j % new_parallelism.
  kRoundRobin,
  // Every new subtask gets every old subtask's state, in order of j, and
  // keeps what it now owns (a source whose split ownership is a function of
  // the parallelism, e.g. Kafka partitions).
  kUnion,
};

// Latency markers (ExecutionConfig::latency_tracking_interval) are stamped
// and measured with the wall clock, in microseconds since the epoch.
inline int64_t WallClockMicros() { return absl::GetCurrentTimeNanos() / 1000; }
// Bucket upper bounds of the "latency_us" histograms: 50 us to 60 s, about
// 1.5x apart (p99 read from them is within a bucket's width).
inline std::vector<int64_t> LatencyBucketsUs() {
  return {50,      100,     200,     300,     500,     750,      1000,     1500,
          2000,    3000,    5000,    7500,    10000,   15000,    20000,    30000,
          50000,   75000,   100000,  150000,  200000,  300000,   500000,   750000,
          1000000, 2000000, 5000000, 10000000, 20000000, 60000000};
}

// Processing time for one subtask: the clock, and callbacks into the
// subtask's thread (through its mailbox) once a time is reached.
class TimerScheduler {
 public:
  virtual ~TimerScheduler() = default;
  virtual int64_t NowMs() = 0;
  // Arranges for op->OnProcessingTime(now) to run in the subtask's thread at or
  // after `timestamp_ms`. Calls may coalesce; the operator re-checks its timers.
  virtual void Schedule(OperatorBase* op, int64_t timestamp_ms) = 0;
};

// What the runtime gives an operator before Open().
struct OperatorSetup {
  std::string job_name;
  std::string operator_name;
  int subtask_index = 0;
  int parallelism = 1;
  int max_parallelism = 128;
  MetricGroup* metrics = nullptr;
  TimerScheduler* timers = nullptr;
};

// Side outputs of one operator, by tag id.
class SideOutputs {
 public:
  void Add(const std::string& tag, OutputBase* out) { outputs_[tag] = out; }
  void set_discarded_counter(Counter* c) { discarded_ = c; }

  template <typename X>
  void Emit(const OutputTag<X>& tag, X value, int64_t timestamp_ms) {
    auto it = outputs_.find(tag.id());
    if (it == outputs_.end()) {
      // Nobody reads this side output: count what is discarded.
      if (discarded_ != nullptr) discarded_->Inc();
      return;
    }
    if (it->second->type() != std::type_index(typeid(X))) {
      if (status_.ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("side output '", tag.id(), "' emitted with a different type than the "
                         "OutputTag used by GetSideOutput"));
      }
      return;
    }
    static_cast<Output<X>*>(it->second)->Collect(std::move(value), timestamp_ms);
  }
  const absl::Status& status() const { return status_; }
  const absl::flat_hash_map<std::string, OutputBase*>& outputs() const { return outputs_; }

 private:
  absl::flat_hash_map<std::string, OutputBase*> outputs_;
  Counter* discarded_ = nullptr;
  absl::Status status_;
};

class OperatorBase {
 public:
  virtual ~OperatorBase() = default;

  void Setup(OperatorSetup setup) {
    setup_ = std::move(setup);
    if (setup_.metrics != nullptr) {
      records_in_ = setup_.metrics->GetCounter("num_records_in");
      watermark_gauge_ = setup_.metrics->GetGauge("current_watermark_ms");
      side_outputs_.set_discarded_counter(
          setup_.metrics->GetCounter("num_side_output_records_discarded"));
    }
  }
  void SetMainOutput(OutputBase* out) { main_output_ = out; }
  void set_snapshot_options(SnapshotOptions options) { snapshot_options_ = options; }
  void AddSideOutput(const std::string& tag, OutputBase* out) { side_outputs_.Add(tag, out); }

  virtual absl::Status Open() { return absl::OkStatus(); }
  virtual absl::Status Close() { return absl::OkStatus(); }
  // Processing time reached `now_ms` (see TimerScheduler::Schedule).
  virtual absl::Status OnProcessingTime(int64_t /*now_ms*/) { return absl::OkStatus(); }

  // Checkpointing (DESIGN.md §7), all on the subtask's thread.
  //
  // Which old subtasks' operator states InitializeState() receives.
  virtual OperatorStateDistribution operator_state_distribution() const {
    return OperatorStateDistribution::kRoundRobin;
  }
  //
  // Restore: called once before Open() when the job starts from a checkpoint
  // or savepoint. The default accepts only empty state (an operator that
  // keeps none). Errors: kDataLoss for bytes that do not decode,
  // kFailedPrecondition for state the operator cannot take.
  virtual absl::Status InitializeState(OperatorRestoreData data) {
    // After a change of parallelism a subtask may get several (empty) states.
    const bool any_state =
        !data.key_groups.empty() ||
        std::any_of(data.operator_states.begin(), data.operator_states.end(),
                    [](const std::string& s) { return !s.empty(); });
    if (any_state) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operator '", setup_.operator_name, "' keeps no state but the checkpoint has some"));
    }
    return absl::OkStatus();
  }
  // The synchronous part of checkpoint `checkpoint_id`: called once every
  // record before the barrier has been processed and every output flushed,
  // and before any record after it. Must be quick (the subtask is paused):
  // capture a consistent copy or copy-on-write view, and return the work of
  // serialising it. Returns nullptr-equivalent (an empty function) when the
  // operator has no state. kFailedPrecondition / kUnimplemented: the
  // operator cannot be checkpointed (the checkpoint is declined and the
  // reason reported).
  virtual absl::StatusOr<AsyncSnapshot> SnapshotState(int64_t /*checkpoint_id*/) {
    return AsyncSnapshot();
  }
  // Checkpoint `checkpoint_id` is complete (its _metadata is durable): a
  // two-phase-commit sink makes the output it covers visible. Notifications
  // may be skipped (a later one covers the earlier ones).
  virtual absl::Status NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {
    return absl::OkStatus();
  }

  // Flushes every output's buffered batch downstream.
  absl::Status FlushOutputs() {
    if (main_output_ != nullptr) {
      if (absl::Status s = main_output_->Flush(); !s.ok()) return s;
    }
    for (const auto& [tag, out] : side_outputs_.outputs()) {
      if (absl::Status s = out->Flush(); !s.ok()) return s;
    }
    return side_outputs_.status();
  }

  const OperatorSetup& setup() const { return setup_; }

 protected:
  // Forwards a control element to the main and every side output (side
  // outputs see the operator's watermarks too, as in Flink).
  template <typename F>
  absl::Status ForEachOutput(F f) {
    if (main_output_ != nullptr) {
      if (absl::Status s = f(main_output_); !s.ok()) return s;
    }
    for (const auto& [tag, out] : side_outputs_.outputs()) {
      if (absl::Status s = f(out); !s.ok()) return s;
    }
    return side_outputs_.status();
  }
  absl::Status ForwardWatermark(int64_t watermark_ms) {
    if (watermark_gauge_ != nullptr) watermark_gauge_->Set(watermark_ms);
    return ForEachOutput([&](OutputBase* o) { return o->EmitWatermark(watermark_ms); });
  }
  absl::Status ForwardWatermarkStatus(bool idle) {
    return ForEachOutput([&](OutputBase* o) { return o->EmitWatermarkStatus(idle); });
  }
  absl::Status ForwardEndInput() {
    return ForEachOutput([&](OutputBase* o) { return o->EmitEndInput(); });
  }
  // A latency marker: to the main output only, as Flink.
  absl::Status ForwardLatencyMarker(int64_t marked_time_us) {
    if (main_output_ == nullptr) return absl::OkStatus();
    return main_output_->EmitLatencyMarker(marked_time_us);
  }
  // Records the time since a latency marker's source emitted it in this
  // subtask's histogram "latency_us" (created by the first marker, so
  // that a job without latency tracking shows none).
  void RecordLatency(int64_t marked_time_us) {
    if (setup_.metrics == nullptr) return;
    if (latency_us_ == nullptr) {
      latency_us_ = setup_.metrics->GetHistogram("latency_us", LatencyBucketsUs());
    }
    latency_us_->Observe(std::max<int64_t>(0, WallClockMicros() - marked_time_us));
  }

  SnapshotOptions snapshot_options_;
  OperatorSetup setup_;
  OutputBase* main_output_ = nullptr;
  SideOutputs side_outputs_;
  Counter* records_in_ = nullptr;
  Counter* watermark_gauge_ = nullptr;
  Histogram* latency_us_ = nullptr;
};

// An operator with one typed input; it is itself the consumer that the
// previous operator of a chain (or the subtask's input gate) feeds.
template <typename In>
class OneInputOperator : public OperatorBase, public RecordConsumer<In> {
 public:
  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    return ForwardWatermark(watermark_ms);
  }
  absl::Status ProcessWatermarkStatus(bool idle) override { return ForwardWatermarkStatus(idle); }
  absl::Status EndInput() override { return ForwardEndInput(); }
  // Flink's AbstractStreamOperator: record, then forward (never waits for
  // the operator's own buffers or timers: a window passes it on at once).
  absl::Status ProcessLatencyMarker(int64_t marked_time_us) override {
    RecordLatency(marked_time_us);
    return ForwardLatencyMarker(marked_time_us);
  }

 protected:
  void CountIn(size_t n) {
    if (records_in_ != nullptr) records_in_->Inc(static_cast<int64_t>(n));
  }
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_OPERATOR_H_
