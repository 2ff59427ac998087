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
#include <memory>
#include <optional>
#include <string>
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
template <typename T>
class SourceDriver final : public OperatorBase, public ReaderOutput<T> {
 public:
  SourceDriver(std::unique_ptr<SourceReader<T>> reader, WatermarkStrategy<T> strategy,
               Boundedness boundedness)
      : reader_(std::move(reader)),
        strategy_(std::move(strategy)),
        bounded_(boundedness == Boundedness::kBounded),
        assigner_(strategy_.timestamp_assigner()),
        records_per_watermark_(strategy_.records_per_watermark()) {}

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
  // watermark generator's state and the driver's own watermark progress.
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
    return AsyncSnapshot([bytes = std::move(bytes)]() -> absl::StatusOr<OperatorSnapshotData> {
      return OperatorSnapshotData{bytes, {}};
    });
  }
  // Restore, before Open(): the reader gets every assigned position (its
  // RestoreState before its Open). When several old subtasks merge into
  // this one, the watermark progress of the one furthest behind is kept (a
  // watermark must never overtake records still to come). Idleness is not
  // restored: downstream channels start active, so idleness is detected and
  // announced again.
  absl::Status InitializeState(OperatorRestoreData data) override {
    if (!data.key_groups.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "source '", setup_.operator_name, "' has no keyed state but the checkpoint has some"));
    }
    std::vector<std::string> positions;
    for (const std::string& state : data.operator_states) {
      if (state.empty()) continue;
      DataInputView in(state);
      uint8_t version = 0;
      std::string position, generator;
      int64_t last_watermark = 0, since_watermark = 0, emitted = 0;
      uint8_t idle = 0;
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&version));
      if (version != kStateVersion) {
        return absl::DataLossError(absl::StrCat("source '", setup_.operator_name,
                                                "': unknown state version ", version));
      }
      BROOK_RETURN_IF_ERROR(in.ReadString(&position));
      BROOK_RETURN_IF_ERROR(in.ReadString(&generator));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&last_watermark));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&since_watermark));
      BROOK_RETURN_IF_ERROR(in.ReadUint8(&idle));
      BROOK_RETURN_IF_ERROR(in.ReadInt64(&emitted));
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
      emitted_ += emitted;
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

  // Asks the generator for a watermark and forwards it if it advanced.
  absl::Status EmitWatermark() {
    std::optional<int64_t> wm = generator_->OnPeriodicEmit();
    if (wm.has_value() && *wm > last_watermark_ms_) {
      last_watermark_ms_ = *wm;
      return ForwardWatermark(*wm);
    }
    return absl::OkStatus();
  }
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
  void Collect(const T& value, int64_t timestamp_ms) override { Emit(value, timestamp_ms); }
  void Collect(T&& value, int64_t timestamp_ms) override { Emit(std::move(value), timestamp_ms); }
  void MarkIdle() override { Defer(GoIdle()); }
  // TODO(split outputs): one watermark generator per split.
  SourceOutput<T>& CreateOutputForSplit(std::string_view /*split_id*/) override { return *this; }
  void ReleaseOutputForSplit(std::string_view /*split_id*/) override {}

 private:
  template <typename V>
  void Emit(V&& value, int64_t timestamp_ms) {
    if (assigner_) timestamp_ms = assigner_(static_cast<const T&>(value));
    if (idle_) {
      idle_ = false;
      Defer(ForwardWatermarkStatus(false));
    }
    generator_->OnEvent(timestamp_ms);
    out_->Collect(std::forward<V>(value), timestamp_ms);
    ++emitted_;
    if (bounded_ && ++since_watermark_ >= records_per_watermark_) {
      since_watermark_ = 0;
      Defer(EmitWatermark());
    }
  }

  void Defer(absl::Status s) {
    if (!s.ok() && status_.ok()) status_ = std::move(s);
  }

  static constexpr uint8_t kStateVersion = 1;

  std::unique_ptr<SourceReader<T>> reader_;
  WatermarkStrategy<T> strategy_;
  bool bounded_;
  typename WatermarkStrategy<T>::TimestampAssigner assigner_;
  int64_t records_per_watermark_;
  std::unique_ptr<WatermarkGenerator> generator_;
  Output<T>* out_ = nullptr;
  int64_t last_watermark_ms_ = kMinTimestampMs;
  int64_t since_watermark_ = 0;
  int64_t emitted_ = 0;
  bool idle_ = false;
  absl::Status status_;
  bool restored_ = false;
  std::string restored_generator_;
};

template <typename T>
class SourceSubtask final : public SubtaskBase {
 public:
  SourceSubtask(SourceDriver<T>* driver, const WatermarkStrategy<T>& strategy,
                Boundedness boundedness, TimerScheduler* clock)
      : driver_(driver),
        bounded_(boundedness == Boundedness::kBounded),
        interval_ms_(std::max<int64_t>(1, ToMillis(strategy.auto_watermark_interval()))),
        idleness_ms_(ToMillis(strategy.idleness())),
        clock_(clock) {}

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
      if (!bounded_) {
        const int64_t now = clock_->NowMs();
        if (driver_->emitted() != before) last_record_ms = now;
        if (now >= next_watermark_ms) {
          BROOK_RETURN_IF_ERROR(driver_->EmitWatermark());
          next_watermark_ms = now + interval_ms_;
        }
        if (idleness_ms_ > 0 && now - last_record_ms >= idleness_ms_) {
          BROOK_RETURN_IF_ERROR(driver_->GoIdle());
        }
        if (st == InputStatus::kNothingAvailable) {
          wait = absl::Milliseconds(std::clamp<int64_t>(next_watermark_ms - now, 1, 5));
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
  Mailbox mailbox_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_SOURCE_TASK_H_
