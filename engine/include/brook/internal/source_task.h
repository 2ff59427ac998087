// File: brook/internal/source_task.h  (internal: not part of the API)
//
// The source side of the runtime: SourceDriver<T>, the head operator of a
// source chain, is the ReaderOutput<T> its SourceReader emits to; it stamps
// timestamps, generates watermarks and checkpoints the reader's position.
// SourceSubtask<T> is the subtask that polls it, serves its mailbox and
// emits periodic watermarks and idleness (DESIGN.md §4).
#ifndef BROOK_INTERNAL_SOURCE_TASK_H_
#define BROOK_INTERNAL_SOURCE_TASK_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/internal/channel.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/internal/subtask.h"
#include "brook/serialization.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/time.h"
#include "brook/watermark_strategy.h"

namespace brook::internal {

// The head of a source chain: polls the reader, stamps timestamps and
// generates watermarks (DESIGN.md §4).
//
// Split-local outputs (Flink's ProgressiveTimestampsAndWatermarks and
// WatermarkOutputMultiplexer): once the reader creates an output for a
// split, each split has its own watermark generator, and the subtask's
// watermark is the minimum over the split outputs that are neither idle nor
// released (a split without a watermark yet counts as kMinTimestampMs). When
// every split output is idle (or all are released) the subtask is idle; a
// record on an idle split makes it, and the subtask, active again. The
// combined watermark is recomputed when the generators are asked (every
// `records_per_watermark` records of a bounded source, periodically for an
// unbounded one, where a split without records for the strategy's idleness
// timeout goes idle) and when a split is marked idle or released, so a
// bounded source's watermarks depend only on the reader's calls, never on
// timing. Readers that create no split output keep the single generator and
// the unchanged per-record path.
template <typename T>
class SourceDriver final : public OperatorBase, public ReaderOutput<T> {
 public:
  SourceDriver(std::unique_ptr<SourceReader<T>> reader, WatermarkStrategy<T> strategy,
               Boundedness boundedness,
               SourceStateDistribution distribution = SourceStateDistribution::kRoundRobin)
      : reader_(std::move(reader)),
        strategy_(std::move(strategy)),
        bounded_(boundedness == Boundedness::kBounded),
        union_state_(distribution == SourceStateDistribution::kUnion),
        assigner_(strategy_.timestamp_assigner()),
        records_per_watermark_(strategy_.records_per_watermark()),
        idleness_ms_(ToMillis(strategy_.idleness())) {}

  OperatorStateDistribution operator_state_distribution() const override {
    return union_state_ ? OperatorStateDistribution::kUnion
                        : OperatorStateDistribution::kRoundRobin;
  }

  absl::Status Open() override {
    out_ = static_cast<Output<T>*>(main_output_);
    generator_ = strategy_.CreateGenerator();
    if (restored_) {
      BROOK_RETURN_IF_ERROR(generator_->RestoreState(restored_generator_));
    }
    BROOK_RETURN_IF_ERROR(reader_->Open());
    // Downstream operators start from no watermark after a restore: give
    // them the one they had seen before the barrier, so that records after
    // it are judged (late or not) as in a run without failure.
    if (restored_ && last_watermark_ms_ > kMinTimestampMs) {
      return ForwardWatermark(last_watermark_ms_);
    }
    return absl::OkStatus();
  }

  // Checkpointing: the reader's position (SourceReader::SnapshotState), the
  // watermark generator's state, the driver's own watermark progress, and
  // each split output's generator state, watermark and idleness, under its
  // split id.
  absl::StatusOr<AsyncSnapshot> SnapshotState(int64_t checkpoint_id) override {
    absl::StatusOr<std::string> position = reader_->SnapshotState(checkpoint_id);
    if (!position.ok()) return position.status();
    std::string bytes;
    DataOutputView out(&bytes);
    out.WriteUint8(kStateVersion);
    out.WriteString(*position);
    out.WriteString(generator_->SnapshotState());
    out.WriteInt64(last_watermark_ms_);
    out.WriteInt64(since_watermark_);
    out.WriteUint8(idle_ ? 1 : 0);
    out.WriteInt64(emitted_);
    // Restored splits the reader has not (yet) created an output for are
    // carried over, marked as such, so that a checkpoint taken before the
    // reader's first poll loses none.
    out.WriteInt64(static_cast<int64_t>(splits_.size() + restored_splits_.size()));
    for (const auto& [id, split] : splits_) {
      WriteSplitState(out, id, split->generator->SnapshotState(), split->watermark_ms, split->idle,
                      /*carried=*/false);
    }
    for (const auto& [id, split] : restored_splits_) {
      WriteSplitState(out, id, split.generator, split.watermark_ms, split.idle, /*carried=*/true);
    }
    return AsyncSnapshot([bytes = std::move(bytes)]() -> absl::StatusOr<OperatorSnapshotData> {
      return OperatorSnapshotData{bytes, {}};
    });
  }
  // Restore, before Open(): the reader gets every assigned position (its
  // RestoreState before its Open). When several old subtasks merge into
  // this one, the watermark progress of the one furthest behind is kept (a
  // watermark must never overtake records still to come). The split states
  // of every given state are merged by split id (CreateOutputForSplit
  // resumes from them), whichever old subtask had the split. Idleness of the
  // subtask is not restored: downstream channels start active, so idleness
  // is detected and announced again; a split restored idle stays idle until
  // its next record, as it would have without the failure.
  absl::Status InitializeState(OperatorRestoreData data) override {
    if (!data.key_groups.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "source '", setup_.operator_name, "' has no keyed state but the checkpoint has some"));
    }
    std::vector<std::string> positions;
    for (size_t j = 0; j < data.operator_states.size(); ++j) {
      const std::string& state = data.operator_states[j];
      if (state.empty()) continue;
      DataInputView in(state);
      uint8_t version = 0;
      std::string position, generator;
      int64_t last_watermark = 0, since_watermark = 0, emitted = 0;
      uint8_t idle = 0;
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
      if (version != 1 && version != kStateVersion) {
        return absl::DataLossError(
            absl::StrCat("source '", setup_.operator_name, "': unknown state version ", version));
      }
      BROOK_RETURN_IF_ERROR(in.ReadString(&position));
      BROOK_RETURN_IF_ERROR(in.ReadString(&generator));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&last_watermark));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&since_watermark));
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&idle));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&emitted));
      if (version >= 2) BROOK_RETURN_IF_ERROR(ReadSplitStates(in));
      if (!in.AtEnd()) {
        return absl::DataLossError(
            absl::StrCat("source '", setup_.operator_name, "': trailing bytes in its state"));
      }
      if (!restored_ || last_watermark < last_watermark_ms_) {
        restored_generator_ = std::move(generator);
        last_watermark_ms_ = last_watermark;
        since_watermark_ = since_watermark;
      }
      restored_ = true;
      // With kUnion every subtask gets every state: count each old
      // subtask's records once, where round robin would have put them.
      if (!union_state_ || static_cast<int>(j) % setup_.parallelism == setup_.subtask_index) {
        emitted_ += emitted;
      }
      positions.push_back(std::move(position));
    }
    return reader_->RestoreState(std::move(positions));
  }
  absl::Status Close() override { return reader_->Close(); }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return reader_->NotifyCheckpointComplete(checkpoint_id);
  }

  absl::StatusOr<InputStatus> Poll() {
    const int64_t before = emitted_;
    absl::StatusOr<InputStatus> st = reader_->PollNext(*this);
    if (records_in_ != nullptr) records_in_->Inc(emitted_ - before);
    if (!status_.ok()) return status_;
    return st;
  }
  int64_t emitted() const { return emitted_; }
  // Whether the reader has created a split output (then idleness is per split).
  bool uses_split_outputs() const { return split_mode_; }

  // Asks the generator(s) for a watermark and forwards it if it advanced.
  // `now_ms` (processing time) drives the per-split idleness timeout of an
  // unbounded source.
  absl::Status EmitWatermark(int64_t now_ms = 0) {
    if (!split_mode_) {
      std::optional<int64_t> wm = generator_->OnPeriodicEmit();
      if (wm.has_value() && *wm > last_watermark_ms_) {
        last_watermark_ms_ = *wm;
        return ForwardWatermark(*wm);
      }
      return absl::OkStatus();
    }
    for (auto& [id, split] : splits_) {
      std::optional<int64_t> wm = split->generator->OnPeriodicEmit();
      if (wm.has_value() && *wm > split->watermark_ms) split->watermark_ms = *wm;
      if (!bounded_ && idleness_ms_ > 0) CheckSplitIdleness(*split, now_ms);
    }
    return UpdateCombinedWatermark();
  }
  // Flink's LatencyMarker from this source, behind the records emitted so far.
  absl::Status EmitLatencyMarker(int64_t now_us) { return ForwardLatencyMarker(now_us); }
  absl::Status GoIdle() {
    if (idle_) return absl::OkStatus();
    idle_ = true;
    return ForwardWatermarkStatus(true);
  }
  // End of a bounded input: the maximum watermark, then end-of-input.
  absl::Status Finish() {
    if (last_watermark_ms_ < kMaxWatermarkMs) {
      last_watermark_ms_ = kMaxWatermarkMs;
      BROOK_RETURN_IF_ERROR(ForwardWatermark(kMaxWatermarkMs));
    }
    return ForwardEndInput();
  }

  // ReaderOutput<T>: the reader's records reach the batch with one copy
  // (const T&) or move (T&&).
  using ReaderOutput<T>::Collect;
  void Collect(const T& value, int64_t timestamp_ms) override {
    Emit(*generator_, value, timestamp_ms);
  }
  void Collect(T&& value, int64_t timestamp_ms) override {
    Emit(*generator_, std::move(value), timestamp_ms);
  }
  // The whole reader is idle: with split outputs, every split is.
  void MarkIdle() override {
    if (bounded_) return;  // only unbounded sources go idle (DESIGN.md §4)
    if (!split_mode_) return Defer(GoIdle());
    for (auto& [id, split] : splits_) split->idle = true;
    Defer(UpdateCombinedWatermark());
  }
  SourceOutput<T>& CreateOutputForSplit(std::string_view split_id) override {
    split_mode_ = true;
    auto it = splits_.find(split_id);
    if (it != splits_.end()) return *it->second;
    auto split = std::make_unique<SplitOutput>(this, strategy_.CreateGenerator());
    auto restored = restored_splits_.find(split_id);
    if (restored != restored_splits_.end()) {
      absl::Status s = split->generator->RestoreState(restored->second.generator);
      if (!s.ok()) {
        Defer(absl::Status(s.code(), absl::StrCat("source '", setup_.operator_name, "' split '",
                                                  std::string(split_id), "': ", s.message())));
      }
      split->watermark_ms = restored->second.watermark_ms;
      split->idle = restored->second.idle;
      restored_splits_.erase(restored);
    }
    SplitOutput& ref = *split;
    splits_.emplace(std::string(split_id), std::move(split));
    return ref;
  }
  void ReleaseOutputForSplit(std::string_view split_id) override {
    auto it = splits_.find(split_id);
    if (it == splits_.end()) return;
    splits_.erase(it);
    Defer(UpdateCombinedWatermark());
  }

 protected:
  // A watermark from the reader itself (SourceOutput::EmitWatermark).
  void DoEmitWatermark(int64_t watermark_ms) override {
    if (watermark_ms <= last_watermark_ms_) return;
    if (idle_) {
      idle_ = false;
      Defer(ForwardWatermarkStatus(false));
    }
    last_watermark_ms_ = watermark_ms;
    Defer(ForwardWatermark(watermark_ms));
  }

 private:
  // One split's output: its records go through the driver's Emit with the
  // split's own generator (one virtual call per record, no lookup).
  class SplitOutput final : public SourceOutput<T> {
   public:
    SplitOutput(SourceDriver* driver, std::unique_ptr<WatermarkGenerator> g)
        : generator(std::move(g)), driver_(driver) {}
    using SourceOutput<T>::Collect;
    void Collect(const T& value, int64_t timestamp_ms) override {
      driver_->EmitToSplit(*this, value, timestamp_ms);
    }
    void Collect(T&& value, int64_t timestamp_ms) override {
      driver_->EmitToSplit(*this, std::move(value), timestamp_ms);
    }
    void MarkIdle() override {
      idle = true;
      driver_->Defer(driver_->UpdateCombinedWatermark());
    }
    // The reader's own watermark for this split (SourceOutput::EmitWatermark).
    void DoEmitWatermark(int64_t wm) override {
      if (wm <= watermark_ms) return;
      watermark_ms = wm;
      idle = false;
      driver_->Defer(driver_->UpdateCombinedWatermark());
    }

    std::unique_ptr<WatermarkGenerator> generator;
    int64_t watermark_ms = kMinTimestampMs;  // the generator's latest, never decreasing
    bool idle = false;
    int64_t records = 0;
    // Idleness timeout (unbounded): `records` at the last check, and since
    // when (processing time) it has not changed; kMinTimestampMs: unchecked.
    int64_t records_at_check = 0;
    int64_t unchanged_since_ms = kMinTimestampMs;

   private:
    SourceDriver* driver_;
  };

  struct RestoredSplit {
    std::string generator;
    int64_t watermark_ms = kMinTimestampMs;
    bool idle = false;
    bool carried = false;  // by a subtask that had no output for it
  };
  static constexpr uint8_t kSplitIdle = 1;
  static constexpr uint8_t kSplitCarried = 2;

  static void WriteSplitState(DataOutputView& out, const std::string& id,
                              const std::string& generator, int64_t watermark_ms, bool idle,
                              bool carried) {
    out.WriteString(id);
    out.WriteString(generator);
    out.WriteInt64(watermark_ms);
    out.WriteUint8((idle ? kSplitIdle : 0) | (carried ? kSplitCarried : 0));
  }

  template <typename V>
  void Emit(WatermarkGenerator& generator, V&& value, int64_t timestamp_ms) {
    if (assigner_) timestamp_ms = assigner_(static_cast<const T&>(value));
    if (idle_) {
      idle_ = false;
      Defer(ForwardWatermarkStatus(false));
    }
    generator.OnEvent(timestamp_ms);
    out_->Collect(std::forward<V>(value), timestamp_ms);
    ++emitted_;
    if (bounded_ && ++since_watermark_ >= records_per_watermark_) {
      since_watermark_ = 0;
      Defer(EmitWatermark());
    }
  }
  template <typename V>
  void EmitToSplit(SplitOutput& split, V&& value, int64_t timestamp_ms) {
    ++split.records;
    split.idle = false;
    Emit(*split.generator, std::forward<V>(value), timestamp_ms);
  }

  // Flink's WatermarksWithIdleness, per split: idle once no record arrived
  // for the timeout, measured between periodic emits.
  void CheckSplitIdleness(SplitOutput& split, int64_t now_ms) {
    if (split.unchanged_since_ms == kMinTimestampMs || split.records != split.records_at_check) {
      split.records_at_check = split.records;
      split.unchanged_since_ms = now_ms;
    } else if (now_ms - split.unchanged_since_ms >= idleness_ms_) {
      split.idle = true;
    }
  }

  // The subtask's watermark from its split outputs' (see the class comment).
  absl::Status UpdateCombinedWatermark() {
    bool any_active = false;
    int64_t combined = std::numeric_limits<int64_t>::max();
    for (const auto& [id, split] : splits_) {
      if (split->idle && !bounded_) continue;
      any_active = true;
      combined = std::min(combined, split->watermark_ms);
    }
    // A bounded source is never idle: it is never waiting for data. With
    // every split released, its watermark stays until Finish() sends the
    // maximum, which downstream would ignore from an idle channel (and an
    // idle channel would let their watermark pass records still in flight
    // from it), so the output would depend on timing.
    if (!any_active) return bounded_ ? absl::OkStatus() : GoIdle();
    if (idle_) {
      // A new split output is active (and holds the watermark back).
      idle_ = false;
      BROOK_RETURN_IF_ERROR(ForwardWatermarkStatus(false));
    }
    if (combined > last_watermark_ms_) {
      last_watermark_ms_ = combined;
      return ForwardWatermark(combined);
    }
    return absl::OkStatus();
  }

  absl::Status ReadSplitStates(DataInputView& in) {
    int64_t n = 0;
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&n));
    if (n < 0) {
      return absl::DataLossError(
          absl::StrCat("source '", setup_.operator_name, "': negative split count ", n));
    }
    for (int64_t i = 0; i < n; ++i) {
      std::string id;
      RestoredSplit split;
      uint8_t flags = 0;
      BROOK_RETURN_IF_ERROR(in.ReadString(&id));
      BROOK_RETURN_IF_ERROR(in.ReadString(&split.generator));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&split.watermark_ms));
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&flags));
      split.idle = (flags & kSplitIdle) != 0;
      split.carried = (flags & kSplitCarried) != 0;
      // The state of the subtask that read the split beats copies carried
      // by others (older); between equals, keep the one furthest behind.
      auto [it, inserted] = restored_splits_.try_emplace(std::move(id), split);
      RestoredSplit& kept = it->second;
      if (!inserted &&
          (kept.carried != split.carried ? kept.carried : split.watermark_ms < kept.watermark_ms)) {
        kept = std::move(split);
      }
    }
    return absl::OkStatus();
  }

  void Defer(absl::Status s) {
    if (!s.ok() && status_.ok()) status_ = std::move(s);
  }

  // 1: no split states; 2: the split states after `emitted` (id,
  // generator state, watermark, flags kSplitIdle | kSplitCarried).
  static constexpr uint8_t kStateVersion = 2;

  std::unique_ptr<SourceReader<T>> reader_;
  WatermarkStrategy<T> strategy_;
  bool bounded_;
  bool union_state_;
  typename WatermarkStrategy<T>::TimestampAssigner assigner_;
  int64_t records_per_watermark_;
  int64_t idleness_ms_;
  std::unique_ptr<WatermarkGenerator> generator_;
  Output<T>* out_ = nullptr;
  int64_t last_watermark_ms_ = kMinTimestampMs;
  int64_t since_watermark_ = 0;
  int64_t emitted_ = 0;
  bool idle_ = false;
  absl::Status status_;
  bool restored_ = false;
  std::string restored_generator_;
  // Split outputs by split id (ordered: deterministic snapshots).
  bool split_mode_ = false;
  std::map<std::string, std::unique_ptr<SplitOutput>, std::less<>> splits_;
  std::map<std::string, RestoredSplit, std::less<>> restored_splits_;
};

// A source subtask's timing settings from ExecutionConfig, in whole ms.
struct SourceTiming {
  int64_t buffer_timeout_ms = 5;  // < 0: off
  int64_t latency_tracking_interval_ms = 0;  // 0: off
};

template <typename T>
class SourceSubtask final : public SubtaskBase {
 public:
  SourceSubtask(SourceDriver<T>* driver, const WatermarkStrategy<T>& strategy,
                Boundedness boundedness, TimerScheduler* clock, SourceTiming timing = {})
      : driver_(driver),
        bounded_(boundedness == Boundedness::kBounded),
        interval_ms_(std::max<int64_t>(1, ToMillis(strategy.auto_watermark_interval()))),
        idleness_ms_(ToMillis(strategy.idleness())),
        clock_(clock),
        timing_(timing) {}

  Mailbox* mailbox() override { return &mailbox_; }

  // Runs between two PollNext() calls, so the reader's position is exactly
  // that of the last record emitted before the barrier.
  void TriggerCheckpoint(const CheckpointBarrier& barrier) override {
    mailbox_.Post([this, barrier] { return PerformCheckpoint(barrier, /*alignment_ms=*/0); });
  }

 protected:
  absl::Status RunLoop() override {
    int64_t next_watermark_ms = clock_->NowMs() + interval_ms_;
    int64_t last_record_ms = clock_->NowMs();
    int64_t last_flush_ms = last_record_ms;
    int64_t next_marker_ms = last_record_ms;
    absl::Duration wait = absl::ZeroDuration();
    while (true) {
      std::deque<Mail> mail = mailbox_.TakeMail(wait);
      BROOK_RETURN_IF_ERROR(RunMail(mail));
      if (mailbox_.cancelled()) return absl::CancelledError("job cancelled");
      const int64_t before = driver_->emitted();
      BROOK_ASSIGN_OR_RETURN(InputStatus st, driver_->Poll());
      if (st == InputStatus::kEndOfInput) {
        BROOK_RETURN_IF_ERROR(driver_->Finish());
        return FlushAll();
      }
      wait = absl::ZeroDuration();
      if (timing_.latency_tracking_interval_ms > 0) {
        const int64_t now = clock_->NowMs();
        if (now >= next_marker_ms) {
          BROOK_RETURN_IF_ERROR(driver_->EmitLatencyMarker(WallClockMicros()));
          next_marker_ms = now + timing_.latency_tracking_interval_ms;
        }
      }
      if (!bounded_) {
        const int64_t now = clock_->NowMs();
        // Buffer timeout; a poll with nothing available flushes below.
        if (timing_.buffer_timeout_ms >= 0 && st != InputStatus::kNothingAvailable &&
            now - last_flush_ms >= timing_.buffer_timeout_ms) {
          BROOK_RETURN_IF_ERROR(FlushAll());
          last_flush_ms = now;
        }
        if (driver_->emitted() != before) last_record_ms = now;
        if (now >= next_watermark_ms) {
          BROOK_RETURN_IF_ERROR(driver_->EmitWatermark(now));
          next_watermark_ms = now + interval_ms_;
        }
        // With split outputs, idleness is per split (in EmitWatermark).
        if (idleness_ms_ > 0 && !driver_->uses_split_outputs() &&
            now - last_record_ms >= idleness_ms_) {
          BROOK_RETURN_IF_ERROR(driver_->GoIdle());
        }
        if (st == InputStatus::kNothingAvailable) {
          wait = absl::Milliseconds(std::clamp<int64_t>(next_watermark_ms - now, 1, 5));
          last_flush_ms = now;
        }
      } else if (st == InputStatus::kNothingAvailable) {
        wait = absl::Milliseconds(1);
      }
      if (st == InputStatus::kNothingAvailable) BROOK_RETURN_IF_ERROR(FlushAll());
    }
  }

 private:
  SourceDriver<T>* driver_;
  bool bounded_;
  int64_t interval_ms_;
  int64_t idleness_ms_;
  TimerScheduler* clock_;
  SourceTiming timing_;
  Mailbox mailbox_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_SOURCE_TASK_H_
