// File: brook/internal/operators.h  (internal: not part of the API)
//
// The runtime operators that wrap user functions: Map, Filter, FlatMap,
// Process (non-keyed), KeyedProcess (keyed state + timers) and Sink.
#ifndef BROOK_INTERNAL_OPERATORS_H_
#define BROOK_INTERNAL_OPERATORS_H_

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/functions.h"
#include "brook/internal/keyed_state_backend.h"
#include "brook/internal/operator.h"
#include "brook/key_group.h"
#include "brook/serialization.h"
#include "brook/sink.h"
#include "brook/status.h"

namespace brook::internal {

// CheckpointedFunction support shared by ProcessOperator and
// KeyedProcessOperator: the function's own state is the operator state.
template <typename Fn>
absl::Status SnapshotFunctionState(Fn* fn, int64_t checkpoint_id, std::string* out) {
  if (auto* cf = dynamic_cast<CheckpointedFunction*>(fn); cf != nullptr) {
    DataOutputView view(out);
    return cf->SnapshotState(checkpoint_id, view);
  }
  return absl::OkStatus();
}
template <typename Fn>
absl::Status InitializeFunctionState(Fn* fn, const std::vector<std::string>& states,
                                     const std::string& operator_name) {
  if (auto* cf = dynamic_cast<CheckpointedFunction*>(fn); cf != nullptr) {
    return cf->InitializeState(states);
  }
  for (const std::string& st : states) {
    if (!st.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operator '", operator_name, "': the checkpoint has function state but the function "
          "is not a brook::CheckpointedFunction"));
    }
  }
  return absl::OkStatus();
}

template <typename In, typename Out, typename F>
class MapOperator final : public OneInputOperator<In> {
 public:
  explicit MapOperator(F f) : f_(std::move(f)) {}
  absl::Status Open() override {
    out_ = static_cast<Output<Out>*>(this->main_output_);
    return absl::OkStatus();
  }
  absl::Status ProcessBatch(std::vector<StreamRecord<In>>& batch) override {
    this->CountIn(batch.size());
    for (auto& r : batch) out_->Collect(f_(std::move(r.value)), r.timestamp_ms);
    return absl::OkStatus();
  }

 private:
  F f_;
  Output<Out>* out_ = nullptr;
};

template <typename T, typename F>
class FilterOperator final : public OneInputOperator<T> {
 public:
  explicit FilterOperator(F f) : f_(std::move(f)) {}
  absl::Status Open() override {
    out_ = static_cast<Output<T>*>(this->main_output_);
    return absl::OkStatus();
  }
  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    this->CountIn(batch.size());
    for (auto& r : batch) {
      if (f_(static_cast<const T&>(r.value))) out_->Collect(std::move(r.value), r.timestamp_ms);
    }
    return absl::OkStatus();
  }

 private:
  F f_;
  Output<T>* out_ = nullptr;
};

template <typename In, typename Out, typename F>
class FlatMapOperator final : public OneInputOperator<In> {
 public:
  explicit FlatMapOperator(F f) : f_(std::move(f)) {}
  absl::Status Open() override {
    collector_ = CollectorAccess<Out>::Make(static_cast<Output<Out>*>(this->main_output_));
    return absl::OkStatus();
  }
  absl::Status ProcessBatch(std::vector<StreamRecord<In>>& batch) override {
    this->CountIn(batch.size());
    for (auto& r : batch) {
      CollectorAccess<Out>::SetTimestamp(collector_, r.timestamp_ms);
      f_(static_cast<const In&>(r.value), collector_);
    }
    return absl::OkStatus();
  }

 private:
  F f_;
  Collector<Out> collector_ = CollectorAccess<Out>::Make(nullptr);
};

template <typename In, typename Out>
class ProcessOperator final : public OneInputOperator<In> {
 public:
  explicit ProcessOperator(std::unique_ptr<ProcessFunction<In, Out>> fn) : fn_(std::move(fn)) {}
  absl::Status Open() override {
    collector_ = CollectorAccess<Out>::Make(static_cast<Output<Out>*>(this->main_output_));
    ctx_.side_outputs_ = &this->side_outputs_;
    RuntimeContext rc(&this->setup_);
    return fn_->Open(rc);
  }
  absl::Status Close() override { return fn_->Close(); }
  absl::Status ProcessBatch(std::vector<StreamRecord<In>>& batch) override {
    this->CountIn(batch.size());
    for (auto& r : batch) {
      ctx_.timestamp_ms_ = r.timestamp_ms;
      CollectorAccess<Out>::SetTimestamp(collector_, r.timestamp_ms);
      BROOK_RETURN_IF_ERROR(fn_->ProcessElement(std::move(r.value), ctx_, collector_));
    }
    return this->side_outputs_.status();
  }
  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    ctx_.watermark_ms_ = watermark_ms;
    return this->ForwardWatermark(watermark_ms);
  }

  // Checkpoints: the function's own state, when it is a CheckpointedFunction.
  absl::Status InitializeState(OperatorRestoreData data) override {
    if (!data.key_groups.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operator '", this->setup_.operator_name, "' is not keyed but the checkpoint has "
          "keyed state for it"));
    }
    return InitializeFunctionState(fn_.get(), data.operator_states, this->setup_.operator_name);
  }
  absl::StatusOr<AsyncSnapshot> SnapshotState(int64_t checkpoint_id) override {
    if (dynamic_cast<CheckpointedFunction*>(fn_.get()) == nullptr) return AsyncSnapshot();
    OperatorSnapshotData data;
    BROOK_RETURN_IF_ERROR(SnapshotFunctionState(fn_.get(), checkpoint_id, &data.operator_state));
    return AsyncSnapshot([data = std::move(data)]() -> absl::StatusOr<OperatorSnapshotData> {
      return data;
    });
  }

 private:
  std::unique_ptr<ProcessFunction<In, Out>> fn_;
  ProcessContext ctx_;
  Collector<Out> collector_ = CollectorAccess<Out>::Make(nullptr);
};

// Runs a KeyedProcessFunction: sets the current key per record, owns the
// subtask's keyed state (its key-group range) and its timers.
template <Key K, typename In, typename Out>
class KeyedProcessOperator final : public OneInputOperator<In>, private TimerService {
 public:
  using Fn = KeyedProcessFunction<K, In, Out>;
  using KeySelector = std::function<K(const In&)>;

  KeyedProcessOperator(std::unique_ptr<Fn> fn, KeySelector key_selector)
      : fn_(std::move(fn)), key_selector_(std::move(key_selector)) {}

  absl::Status Open() override {
    const auto& s = this->setup_;
    const auto open_start = std::chrono::steady_clock::now();
    EnsureBackend();
    collector_ = CollectorAccess<Out>::Make(static_cast<Output<Out>*>(this->main_output_));
    ctx_.side_outputs_ = &this->side_outputs_;
    ctx_.timer_service_ = this;
    ctx_.key_ = &current_key_;
    if (s.metrics != nullptr) {
      state_entries_ = s.metrics->GetGauge("state_entries");
      state_bytes_ = s.metrics->GetGauge("state_bytes");
      timers_gauge_ = s.metrics->GetGauge("timers");
    }
    KeyedRuntimeContext<K> rc(&this->setup_, backend_.get());
    BROOK_RETURN_IF_ERROR(fn_->Open(rc));
    if (restored_) {
      absl::Status unclaimed = backend_->FinishRestore();
      restore_ = OperatorRestoreData();  // the restored bytes are no longer viewed
      BROOK_RETURN_IF_ERROR(unclaimed);
      // Restored timers; processing-time ones are scheduled again (those
      // already due fire at the first callback, as in Flink).
      for (auto& t : restored_event_timers_) event_timers_.insert(std::move(t));
      for (auto& t : restored_processing_timers_) processing_timers_.insert(std::move(t));
      restored_event_timers_.clear();
      restored_processing_timers_.clear();
      if (!processing_timers_.empty()) {
        this->setup_.timers->Schedule(this, processing_timers_.begin()->first);
      }
      UpdateGauges();
      restore_time_ += std::chrono::steady_clock::now() - open_start;
      if (s.metrics != nullptr) {
        s.metrics->GetGauge("state_restore_ms")
            ->Set(std::chrono::duration_cast<std::chrono::milliseconds>(restore_time_).count());
      }
    }
    return absl::OkStatus();
  }

  // Restore (before Open): the function's own state (CheckpointedFunction)
  // and the blobs of this subtask's key groups: keyed state tables (filled
  // as the function creates them in Open) and timers (registered in Open).
  // kDataLoss: corrupt or truncated blob; kFailedPrecondition: a key group
  // outside the range, another max parallelism, or timers of a key type
  // without serializer.
  absl::Status InitializeState(OperatorRestoreData data) override {
    const auto start = std::chrono::steady_clock::now();
    EnsureBackend();
    restored_ = true;
    restore_ = std::move(data);  // views the backend keeps until Open()
    // A large state restores its key groups on several threads: the cores
    // this operator's other subtasks, restoring at the same time, leave.
    backend_->set_restore_threads(
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) /
        std::max(this->setup_.parallelism, 1));
    BROOK_RETURN_IF_ERROR(InitializeFunctionState(fn_.get(), restore_.operator_states,
                                                  this->setup_.operator_name));
    const int maxp = this->setup_.max_parallelism;
    // A chain gives a key group's full blob, then its increments in order;
    // an increment's timers replace the key group's earlier ones.
    int last_kg = -1;
    size_t event_start = 0;
    size_t processing_start = 0;
    for (const auto& [kg, blob] : restore_.key_groups) {
      if (!range_.Contains(kg)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "operator '", this->setup_.operator_name, "' subtask ", this->setup_.subtask_index,
            ": restored key group ", kg, " is outside its range [", range_.start, ", ",
            range_.end, "]"));
      }
      bool delta = false;
      BROOK_ASSIGN_OR_RETURN(std::string_view body, OpenKeyGroupBlob(blob, kg, maxp, &delta));
      if (kg != last_kg) {
        last_kg = kg;
        event_start = restored_event_timers_.size();
        processing_start = restored_processing_timers_.size();
      } else if (delta) {
        restored_event_timers_.resize(event_start, {0, K{}});
        restored_processing_timers_.resize(processing_start, {0, K{}});
      }
      DataInputView in(body);
      BROOK_RETURN_IF_ERROR(backend_->AddRestoredKeyGroup(kg, in, delta));
      BROOK_RETURN_IF_ERROR(ReadTimers(in, kg, &restored_event_timers_));
      BROOK_RETURN_IF_ERROR(ReadTimers(in, kg, &restored_processing_timers_));
      if (!in.AtEnd()) {
        return absl::DataLossError(absl::StrCat("key group ", kg, ": ", in.remaining(),
                                                " unexpected bytes after the timers"));
      }
    }
    if (!restore_.rescaled) backend_->TrackChangesSince(restore_.checkpoint_id);
    restore_time_ = std::chrono::steady_clock::now() - start;
    return absl::OkStatus();
  }

  // The synchronous part: the function's own state, a copy-on-write view of
  // the keyed state (O(key groups)) and a copy of the timers (O(timers));
  // the returned AsyncSnapshot writes one blob per non-empty key group.
  absl::StatusOr<AsyncSnapshot> SnapshotState(int64_t checkpoint_id) override {
    std::string function_state;
    BROOK_RETURN_IF_ERROR(SnapshotFunctionState(fn_.get(), checkpoint_id, &function_state));
    if constexpr (!Serializable<K>) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operator '", this->setup_.operator_name,
          "' cannot be checkpointed: its key type has no brook::TypeSerializer"));
    } else {
      const SnapshotOptions& o = this->snapshot_options_;
      BROOK_ASSIGN_OR_RETURN(auto keyed, backend_->CaptureSnapshot(checkpoint_id, o.incremental,
                                                                   o.base_checkpoint_id));
      auto event = std::make_shared<const TimerSet>(event_timers_);
      auto processing = std::make_shared<const TimerSet>(processing_timers_);
      const int maxp = this->setup_.max_parallelism;
      return AsyncSnapshot([keyed = std::move(keyed), event = std::move(event),
                            processing = std::move(processing), maxp,
                            function_state = std::move(function_state)]()
                               -> absl::StatusOr<OperatorSnapshotData> {
        const KeyGroupRange range = keyed->key_group_range();
        using TimerRefs = std::vector<std::vector<const std::pair<int64_t, K>*>>;
        auto bucket = [&](const TimerSet& timers) {
          TimerRefs by_kg(static_cast<size_t>(range.size()));
          for (const auto& t : timers) {
            const int kg = AssignToKeyGroup(t.second, maxp);
            if (range.Contains(kg)) by_kg[static_cast<size_t>(kg - range.start)].push_back(&t);
          }
          return by_kg;
        };
        const TimerRefs event_by_kg = bucket(*event);
        const TimerRefs processing_by_kg = bucket(*processing);
        OperatorSnapshotData data;
        data.operator_state = function_state;
        // An increment has a blob for every key group: its timers are
        // written whole (they may have gone without a state change).
        const bool delta = keyed->delta_base() > 0;
        data.incremental_base = keyed->delta_base();
        for (int kg = range.start; kg <= range.end; ++kg) {
          const size_t i = static_cast<size_t>(kg - range.start);
          if (!delta && keyed->Empty(kg) && event_by_kg[i].empty() &&
              processing_by_kg[i].empty()) {
            continue;
          }
          std::string blob;
          DataOutputView out(&blob);
          BeginKeyGroupBlob(out, maxp, delta);
          keyed->WriteKeyGroup(kg, out);
          for (const auto* timers : {&event_by_kg[i], &processing_by_kg[i]}) {
            out.WriteVarint(timers->size());
            for (const auto* t : *timers) {
              out.WriteInt64(t->first);
              TypeSerializer<K>::Serialize(t->second, out);
            }
          }
          FinishKeyGroupBlob(&blob);
          data.key_groups.emplace_back(kg, std::move(blob));
        }
        return data;
      });
    }
  }

  absl::Status Close() override { return fn_->Close(); }

  // The batch a record at a time, its keys and key groups computed first
  // (once per record) so that state slots can be prefetched: a block of
  // kPrefetchBlock records at a time, one block ahead of the record being
  // processed. Issued together, the prefetches' TLB misses (page walks of a
  // table far beyond the caches) overlap; one prefetch per record between
  // the records' work stalled on each walk in turn (docs/performance.md:
  // 20M events with ids kept forever, 0.34 -> 0.31 CPU-s per million).
  absl::Status ProcessBatch(std::vector<StreamRecord<In>>& batch) override {
    this->CountIn(batch.size());
    ctx_.time_domain_ = TimeDomain::kEventTime;
    const size_t n = batch.size();
    keys_.clear();
    key_groups_.clear();
    for (const auto& r : batch) {
      const int kg = AssignToKeyGroup(keys_.emplace_back(key_selector_(r.value)),
                                      this->setup_.max_parallelism);
      // Out of range: an internal error, reported when the record's turn comes.
      key_groups_.push_back(range_.Contains(kg) ? kg - range_.start : -1 - kg);
    }
    for (size_t i = 0; i < std::min(n, kPrefetchBlock); ++i) Prefetch(i);
    for (size_t i = 0; i < n; ++i) {
      if (i % kPrefetchBlock == 0) {
        const size_t end = std::min(n, i + 2 * kPrefetchBlock);
        for (size_t j = i + kPrefetchBlock; j < end; ++j) Prefetch(j);
      }
      BROOK_RETURN_IF_ERROR(SetCurrentKey(std::move(keys_[i]), key_groups_[i]));
      SetTimestamp(batch[i].timestamp_ms);
      BROOK_RETURN_IF_ERROR(fn_->ProcessElement(std::move(batch[i].value), ctx_, collector_));
    }
    return this->side_outputs_.status();
  }

  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    if (watermark_ms <= watermark_ms_) return absl::OkStatus();  // never backwards
    watermark_ms_ = watermark_ms;
    ctx_.watermark_ms_ = watermark_ms;
    backend_->context().watermark_ms = watermark_ms;
    ctx_.time_domain_ = TimeDomain::kEventTime;
    // Timers registered while firing (at or below the watermark) fire too.
    while (!event_timers_.empty() && event_timers_.begin()->first <= watermark_ms) {
      auto node = event_timers_.extract(event_timers_.begin());
      BROOK_RETURN_IF_ERROR(FireTimer(node.value().first, std::move(node.value().second)));
    }
    backend_->AdvanceWatermark(watermark_ms);
    UpdateGauges();
    BROOK_RETURN_IF_ERROR(this->side_outputs_.status());
    return this->ForwardWatermark(watermark_ms);
  }

  absl::Status OnProcessingTime(int64_t now_ms) override {
    ctx_.time_domain_ = TimeDomain::kProcessingTime;
    while (!processing_timers_.empty() && processing_timers_.begin()->first <= now_ms) {
      auto node = processing_timers_.extract(processing_timers_.begin());
      BROOK_RETURN_IF_ERROR(FireTimer(node.value().first, std::move(node.value().second)));
    }
    if (!processing_timers_.empty()) {
      this->setup_.timers->Schedule(this, processing_timers_.begin()->first);
    }
    UpdateGauges();
    return this->side_outputs_.status();
  }

  // The function's EndInput hook (functions.h), after the final watermark has
  // fired every event-time timer; its output goes out before end-of-input.
  absl::Status EndInput() override {
    ctx_.time_domain_ = TimeDomain::kEventTime;
    BROOK_RETURN_IF_ERROR(fn_->EndInput(ctx_, collector_));
    BROOK_RETURN_IF_ERROR(this->side_outputs_.status());
    return this->ForwardEndInput();
  }

  int64_t NumStateEntries() const { return backend_->NumEntries(); }
  // The keyed-state backend (for tests and benchmarks).
  HeapKeyedStateBackend<K>* backend() { return backend_.get(); }
  int64_t StateBytes() const { return backend_->ApproxBytes(); }
  size_t NumTimers() const { return event_timers_.size() + processing_timers_.size(); }

 private:
  using TimerSet = absl::btree_set<std::pair<int64_t, K>>;

  void EnsureBackend() {
    if (backend_ != nullptr) return;
    const auto& s = this->setup_;
    range_ = ComputeKeyGroupRangeForOperatorIndex(s.max_parallelism, s.parallelism,
                                                   s.subtask_index);
    backend_ = std::make_unique<HeapKeyedStateBackend<K>>(range_);
  }
  // [varint n] n x ([i64 timestamp][key]) of key group `kg`.
  absl::Status ReadTimers(DataInputView& in, int kg,
                          std::vector<std::pair<int64_t, K>>* timers) {
    size_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadLength(&n, 8));
    if (n == 0) return absl::OkStatus();
    if constexpr (!Serializable<K>) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operator '", this->setup_.operator_name,
          "': the checkpoint has timers but the key type has no brook::TypeSerializer"));
    } else {
      for (size_t i = 0; i < n; ++i) {
        std::pair<int64_t, K> t{0, K{}};
        BROOK_RETURN_IF_ERROR(in.ReadInt64(&t.first));
        BROOK_RETURN_IF_ERROR(TypeSerializer<K>::Deserialize(in, &t.second));
        if (AssignToKeyGroup(t.second, this->setup_.max_parallelism) != kg) {
          return absl::DataLossError(
              absl::StrCat("key group ", kg, ": a timer's key belongs to another key group"));
        }
        timers->push_back(std::move(t));
      }
      return absl::OkStatus();
    }
  }

  absl::Status SetCurrentKey(K key) {
    const int kg = AssignToKeyGroup(key, this->setup_.max_parallelism);
    return SetCurrentKey(std::move(key), range_.Contains(kg) ? kg - range_.start : -1 - kg);
  }
  // `key_group_index`: the key's group - range_.start, or -1 - group when
  // outside the range.
  absl::Status SetCurrentKey(K key, int key_group_index) {
    if (ABSL_PREDICT_FALSE(key_group_index < 0)) {
      return absl::InternalError(absl::StrCat(
          "operator '", this->setup_.operator_name, "' subtask ", this->setup_.subtask_index,
          " got a record of key group ", -1 - key_group_index, " outside its range [",
          range_.start, ", ", range_.end, "]: its input is not partitioned by the same key"));
    }
    current_key_ = std::move(key);
    auto& kc = backend_->context();
    kc.key = &current_key_;
    kc.key_group_index = key_group_index;
    return absl::OkStatus();
  }
  void Prefetch(size_t i) const {
    if (key_groups_[i] >= 0) backend_->Prefetch(key_groups_[i], keys_[i]);
  }
  void SetTimestamp(int64_t ts) {
    ctx_.timestamp_ms_ = ts;
    backend_->context().timestamp_ms = ts;
    CollectorAccess<Out>::SetTimestamp(collector_, ts);
  }
  absl::Status FireTimer(int64_t ts, K key) {
    BROOK_RETURN_IF_ERROR(SetCurrentKey(std::move(key)));
    SetTimestamp(ts);
    return fn_->OnTimer(ts, ctx_, collector_);
  }
  void UpdateGauges() {
    if (state_entries_ == nullptr) return;
    state_entries_->Set(backend_->NumEntries());
    state_bytes_->Set(backend_->ApproxBytes());
    timers_gauge_->Set(static_cast<int64_t>(NumTimers()));
  }

  // TimerService, for the current key.
  int64_t CurrentProcessingTime() const override { return this->setup_.timers->NowMs(); }
  int64_t CurrentWatermark() const override { return watermark_ms_; }
  void RegisterEventTimeTimer(int64_t ts) override { event_timers_.emplace(ts, current_key_); }
  void RegisterProcessingTimeTimer(int64_t ts) override {
    const bool earliest = processing_timers_.empty() || ts < processing_timers_.begin()->first;
    if (processing_timers_.emplace(ts, current_key_).second && earliest) {
      this->setup_.timers->Schedule(this, ts);
    }
  }
  void DeleteEventTimeTimer(int64_t ts) override { event_timers_.erase({ts, current_key_}); }
  void DeleteProcessingTimeTimer(int64_t ts) override {
    processing_timers_.erase({ts, current_key_});
  }

  // A slot is prefetched 8 to 16 records before its probe: far enough for
  // the prefetch to land, near enough that it is still cached (blocks of 4
  // to 64 were measured; 8 was the fastest).
  static constexpr size_t kPrefetchBlock = 8;

  std::unique_ptr<Fn> fn_;
  KeySelector key_selector_;
  KeyGroupRange range_;
  std::vector<K> keys_;          // of the batch being processed
  std::vector<int> key_groups_;  // of the batch: index in range_, or -1 - group
  std::unique_ptr<HeapKeyedStateBackend<K>> backend_;
  K current_key_{};
  int64_t watermark_ms_ = kMinTimestampMs;
  KeyedContext<K> ctx_;
  Collector<Out> collector_ = CollectorAccess<Out>::Make(nullptr);
  // Ordered by (timestamp, key): deduplicated, fired in a deterministic order.
  TimerSet event_timers_;
  TimerSet processing_timers_;
  // Restore: the checkpoint's bytes until Open() has consumed them.
  bool restored_ = false;
  OperatorRestoreData restore_;
  // InitializeState + the restoring part of Open: the state_restore_ms gauge.
  std::chrono::steady_clock::duration restore_time_{};
  std::vector<std::pair<int64_t, K>> restored_event_timers_;
  std::vector<std::pair<int64_t, K>> restored_processing_timers_;
  Counter* state_entries_ = nullptr;
  Counter* state_bytes_ = nullptr;
  Counter* timers_gauge_ = nullptr;
};

template <typename T>
class SinkOperator final : public OneInputOperator<T> {
 public:
  explicit SinkOperator(std::unique_ptr<SinkWriter<T>> writer) : writer_(std::move(writer)) {}
  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    this->CountIn(batch.size());
    return writer_->Write(batch);
  }
  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    if (this->watermark_gauge_ != nullptr) this->watermark_gauge_->Set(watermark_ms);
    return writer_->OnWatermark(watermark_ms);
  }
  absl::Status ProcessWatermarkStatus(bool) override { return absl::OkStatus(); }
  // The end of a marker's path: recorded, not forwarded.
  absl::Status ProcessLatencyMarker(int64_t marked_time_us) override {
    this->RecordLatency(marked_time_us);
    return absl::OkStatus();
  }
  absl::Status EndInput() override { return writer_->Flush(); }
  absl::Status Close() override { return writer_->Close(); }

  // Two-phase commit (sink.h): the pre-commit at the barrier is the sink's
  // operator state; the commit follows the checkpoint's completion; a
  // restored writer commits what its checkpoint pre-committed.
  absl::StatusOr<AsyncSnapshot> SnapshotState(int64_t checkpoint_id) override {
    absl::StatusOr<std::string> state = writer_->SnapshotState(checkpoint_id);
    if (!state.ok()) return state.status();
    return AsyncSnapshot([state = std::move(*state)]() -> absl::StatusOr<OperatorSnapshotData> {
      return OperatorSnapshotData{state, {}};
    });
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return writer_->NotifyCheckpointComplete(checkpoint_id);
  }
  absl::Status InitializeState(OperatorRestoreData data) override {
    if (!data.key_groups.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sink '", this->setup_.operator_name, "' has no keyed state but the checkpoint has some"));
    }
    return writer_->RestoreState(std::move(data.operator_states));
  }

 private:
  std::unique_ptr<SinkWriter<T>> writer_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_OPERATORS_H_
