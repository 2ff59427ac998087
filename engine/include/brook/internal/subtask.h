// File: brook/internal/subtask.h  (internal: not part of the API)
//
// A subtask runs one operator chain on one thread. Source subtasks poll a
// SourceReader; the others take batches and control elements from their
// InputGate. Both serve their mailbox between batches and, whenever their
// input has nothing ready, flush every partly filled batch downstream, so
// latency stays low when the stream is slow and batches stay full when it is
// fast.
#ifndef BROOK_INTERNAL_SUBTASK_H_
#define BROOK_INTERNAL_SUBTASK_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/internal/channel.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/internal/watermark_valve.h"
#include "brook/key_group.h"
#include "brook/serialization.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/watermark_strategy.h"

namespace brook::internal {

enum class Partitioning { kForward, kRebalance, kHash, kBroadcast };

struct PartitionerBase {
  explicit PartitionerBase(Partitioning k) : kind(k) {}
  virtual ~PartitionerBase() = default;
  Partitioning kind;
};

// For kHash: the record's key hash (KeyHash of its key); the writer maps it to
// a key group and the key group to a subtask (DESIGN.md §3).
template <typename T>
struct Partitioner final : PartitionerBase {
  using PartitionerBase::PartitionerBase;
  std::function<int32_t(const T&)> key_hash;
};

// Checkpoint barrier `checkpoint_id` as the runtime passes it around
// (DESIGN.md §7; Flink's CheckpointBarrier).
struct CheckpointBarrier {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
};

// What one subtask measured while taking its part of a checkpoint.
struct SubtaskCheckpointStats {
  // First to last barrier of an aligned checkpoint (0 for a source or a
  // single-channel gate), ms.
  int64_t alignment_ms = 0;
  // Time stopped in the operators' synchronous SnapshotState() calls (the
  // flush before them excluded), µs.
  int64_t sync_pause_us = 0;
};

// Where subtasks report their part of a checkpoint: the checkpoint
// coordinator. Thread-safe: called from the subtask threads.
class CheckpointListener {
 public:
  virtual ~CheckpointListener() = default;
  // Subtask `task` took its snapshot of checkpoint `checkpoint_id` and
  // forwarded the barrier: `snapshots` holds one entry per operator of its
  // chain, head first (an empty function: the operator has no state).
  virtual void Acknowledge(int task, int64_t checkpoint_id, std::vector<AsyncSnapshot> snapshots,
                           SubtaskCheckpointStats stats) = 0;
  // Subtask `task` could not snapshot checkpoint `checkpoint_id` (e.g. a
  // source that cannot be replayed): the checkpoint must be aborted.
  virtual void Decline(int task, int64_t checkpoint_id, absl::Status reason) = 0;
};

// The producing end of the channels from one subtask to the subtasks of the
// next operator.
class WriterBase {
 public:
  virtual ~WriterBase() = default;
  // Pushes partly filled per-target batches.
  virtual absl::Status Flush() = 0;
  // Flushes, then sends `barrier` on every target channel, behind the
  // records that precede it.
  virtual absl::Status EmitBarrier(const CheckpointBarrier& barrier) = 0;
};

template <typename T>
class RecordWriter final : public RecordConsumer<T>, public WriterBase {
 public:
  // `channel`: this writer's channel in every target gate; `subtask`: the
  // producing subtask's index (a forward edge feeds the same index).
  RecordWriter(Partitioning kind, std::function<int32_t(const T&)> key_hash,
               std::vector<InputGate<T>*> targets, int channel, int subtask,
               int max_parallelism, size_t batch_size, Counter* backpressured_ms)
      : kind_(kind),
        forward_target_(subtask),
        key_hash_(std::move(key_hash)),
        targets_(std::move(targets)),
        channel_(channel),
        max_parallelism_(max_parallelism),
        batch_size_(batch_size),
        backpressured_ms_(backpressured_ms),
        buffers_(kind == Partitioning::kHash ? targets_.size() : 0) {}

  absl::Status ProcessBatch(std::vector<StreamRecord<T>>& batch) override {
    const int n = static_cast<int>(targets_.size());
    switch (kind_) {
      case Partitioning::kForward:
        return Push(forward_target_ % n, std::move(batch));
      case Partitioning::kRebalance: {
        const int t = next_target_;
        next_target_ = (next_target_ + 1) % n;
        return Push(t, std::move(batch));
      }
      case Partitioning::kBroadcast:
        for (int t = 0; t + 1 < n; ++t) BROOK_RETURN_IF_ERROR(Push(t, batch));
        return Push(n - 1, std::move(batch));
      case Partitioning::kHash:
        for (auto& r : batch) {
          const int kg = AssignKeyHashToKeyGroup(key_hash_(r.value), max_parallelism_);
          const int t = ComputeOperatorIndexForKeyGroup(max_parallelism_, n, kg);
          auto& buf = buffers_[t];
          if (buf.capacity() == 0) buf.reserve(batch_size_);
          buf.push_back(std::move(r));
          if (buf.size() >= batch_size_) BROOK_RETURN_IF_ERROR(Push(t, std::move(buf)));
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    for (size_t t = 0; t < buffers_.size(); ++t) {
      if (!buffers_[t].empty()) {
        BROOK_RETURN_IF_ERROR(Push(static_cast<int>(t), std::move(buffers_[t])));
      }
    }
    return absl::OkStatus();
  }
  absl::Status ProcessWatermark(int64_t watermark_ms) override {
    return BroadcastControl(ChannelElement<T>::Kind::kWatermark, watermark_ms);
  }
  absl::Status ProcessWatermarkStatus(bool idle) override {
    return BroadcastControl(idle ? ChannelElement<T>::Kind::kIdle
                                 : ChannelElement<T>::Kind::kActive, 0);
  }
  absl::Status EndInput() override {
    return BroadcastControl(ChannelElement<T>::Kind::kEndOfInput, 0);
  }
  absl::Status EmitBarrier(const CheckpointBarrier& barrier) override {
    BROOK_RETURN_IF_ERROR(Flush());
    for (size_t t = 0; t < targets_.size(); ++t) {
      ChannelElement<T> e;
      e.kind = ChannelElement<T>::Kind::kBarrier;
      e.checkpoint_id = barrier.checkpoint_id;
      e.savepoint = barrier.savepoint;
      BROOK_RETURN_IF_ERROR(PushElement(static_cast<int>(t), std::move(e)));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Push(int target, std::vector<StreamRecord<T>> records) {
    ChannelElement<T> e;
    e.kind = ChannelElement<T>::Kind::kRecords;
    e.records = std::move(records);
    return PushElement(target, std::move(e));
  }
  absl::Status PushElement(int target, ChannelElement<T> e) {
    if (!targets_[target]->Push(channel_, std::move(e), backpressured_ms_)) {
      return absl::CancelledError("job cancelled");
    }
    return absl::OkStatus();
  }
  absl::Status BroadcastControl(typename ChannelElement<T>::Kind kind, int64_t watermark_ms) {
    BROOK_RETURN_IF_ERROR(Flush());
    for (size_t t = 0; t < targets_.size(); ++t) {
      ChannelElement<T> e;
      e.kind = kind;
      e.watermark_ms = watermark_ms;
      BROOK_RETURN_IF_ERROR(PushElement(static_cast<int>(t), std::move(e)));
    }
    return absl::OkStatus();
  }

  Partitioning kind_;
  int forward_target_;
  std::function<int32_t(const T&)> key_hash_;
  std::vector<InputGate<T>*> targets_;
  int channel_;  // this writer's channel index in every target gate
  int max_parallelism_;
  size_t batch_size_;
  Counter* backpressured_ms_;
  std::vector<std::vector<StreamRecord<T>>> buffers_;  // kHash: one per target
  int next_target_ = 0;
};

// One subtask: an operator chain (head first) and the objects that connect it.
class SubtaskBase {
 public:
  virtual ~SubtaskBase() = default;

  // Opens the chain (tail first, so consumers are ready), runs until the input
  // ends, the job is cancelled or an operator fails, then closes the chain.
  absl::Status Run() {
    absl::Status status;
    size_t opened = 0;
    for (auto it = operators.rbegin(); it != operators.rend(); ++it, ++opened) {
      status = (*it)->Open();
      if (!status.ok()) break;
    }
    if (status.ok()) status = RunLoop();
    for (size_t i = operators.size() - opened; i < operators.size(); ++i) {
      absl::Status s = operators[i]->Close();
      if (status.ok()) status = s;
    }
    return status;
  }
  virtual Mailbox* mailbox() = 0;

  // Checkpointing (DESIGN.md §7). Set before the thread starts: where this
  // subtask acknowledges, and its index there.
  void set_checkpoint_listener(CheckpointListener* listener, int task) {
    checkpoint_listener_ = listener;
    checkpoint_task_ = task;
  }
  // Thread-safe. A source subtask takes its snapshot of `barrier` and injects
  // it at its next mailbox turn; other subtasks ignore this (they act on the
  // barriers that reach their input).
  virtual void TriggerCheckpoint(const CheckpointBarrier& /*barrier*/) {}
  // Thread-safe. Checkpoint `checkpoint_id` is complete: every operator's
  // NotifyCheckpointComplete runs at the subtask's next mailbox turn (not at
  // all if the subtask has finished: a finished sink has committed all).
  void NotifyCheckpointComplete(int64_t checkpoint_id) {
    mailbox()->Post([this, checkpoint_id]() -> absl::Status {
      for (auto& op : operators) BROOK_RETURN_IF_ERROR(op->NotifyCheckpointComplete(checkpoint_id));
      return absl::OkStatus();
    });
  }

  std::string name;
  std::vector<std::unique_ptr<OperatorBase>> operators;  // chain order, head first
  std::vector<std::unique_ptr<OutputBase>> outputs;
  std::vector<std::unique_ptr<WriterBase>> writers;

 protected:
  virtual absl::Status RunLoop() = 0;

  // Head first: what an operator flushes reaches the next operator of the
  // chain before that one flushes in turn, and the writers go last.
  absl::Status FlushAll() {
    for (auto& op : operators) BROOK_RETURN_IF_ERROR(op->FlushOutputs());
    for (auto& w : writers) BROOK_RETURN_IF_ERROR(w->Flush());
    return absl::OkStatus();
  }

  // This subtask's part of checkpoint `barrier`, once every record before
  // the barrier has reached the head of the chain: flush every record
  // buffered inside the chain to its operator, take every operator's
  // synchronous snapshot, forward the barrier, and acknowledge. A snapshot
  // that cannot be taken (kFailedPrecondition, kUnimplemented: state without
  // a serializer, a source that cannot be replayed) declines the checkpoint;
  // the barrier is forwarded anyway so that downstream alignment never waits
  // for it. Any other snapshot error, a failed flush or a cancelled job stops
  // the subtask (and so the job) with that error.
  absl::Status PerformCheckpoint(const CheckpointBarrier& barrier, int64_t alignment_ms) {
    BROOK_RETURN_IF_ERROR(FlushAll());
    const absl::Time start = absl::Now();
    std::vector<AsyncSnapshot> snapshots;
    snapshots.reserve(operators.size());
    absl::Status declined;
    for (auto& op : operators) {
      absl::StatusOr<AsyncSnapshot> s = op->SnapshotState(barrier.checkpoint_id);
      if (!s.ok() && !absl::IsFailedPrecondition(s.status()) &&
          !absl::IsUnimplemented(s.status())) {
        // A real failure (e.g. a sink's pre-commit fsync failed): the job
        // fails and restarts from the last complete checkpoint, as Flink does
        // with no tolerable checkpoint failures; going on could commit output
        // that is not durable.
        return absl::Status(s.status().code(),
                            absl::StrCat("operator '", op->setup().operator_name, "' subtask ",
                                         op->setup().subtask_index, " failed checkpoint ",
                                         barrier.checkpoint_id, ": ", s.status().message()));
      }
      if (!s.ok()) {
        declined = absl::Status(s.status().code(),
                                absl::StrCat("operator '", op->setup().operator_name,
                                             "' subtask ", op->setup().subtask_index,
                                             " declined checkpoint ", barrier.checkpoint_id,
                                             ": ", s.status().message()));
        break;
      }
      snapshots.push_back(std::move(*s));
    }
    const int64_t pause_us = absl::ToInt64Microseconds(absl::Now() - start);
    for (auto& w : writers) BROOK_RETURN_IF_ERROR(w->EmitBarrier(barrier));
    if (checkpoint_listener_ != nullptr) {
      if (declined.ok()) {
        checkpoint_listener_->Acknowledge(checkpoint_task_, barrier.checkpoint_id,
                                          std::move(snapshots),
                                          SubtaskCheckpointStats{alignment_ms, pause_us});
      } else {
        checkpoint_listener_->Decline(checkpoint_task_, barrier.checkpoint_id,
                                      std::move(declined));
      }
    }
    return absl::OkStatus();
  }

  CheckpointListener* checkpoint_listener_ = nullptr;
  int checkpoint_task_ = 0;
  static absl::Status RunMail(std::deque<Mail>& mail) {
    for (Mail& m : mail) BROOK_RETURN_IF_ERROR(m());
    return absl::OkStatus();
  }
};

// Watermark alignment (`align_watermarks`, set when every source of the job
// is bounded): a channel that has delivered a watermark beyond the combined
// one is not read until the other channels catch up. Each record is then
// processed under exactly the watermark that preceded it upstream, whatever
// the threads' timing, so lateness, firings and what a sink holds at each
// watermark are the same on every run and at any parallelism (DESIGN.md §4:
// file sources are deterministic). The combined watermark is still Flink's
// minimum over the inputs. It cannot deadlock as long as every operator
// forwards its input watermark unchanged (true of all of brook's; an operator
// that held watermarks back could, in a diamond): a channel holding the
// global minimum is never paused, and neither are its producer's inputs.
// Unbounded jobs are not aligned: there a stalled input would stop the
// others' records, not just their event time.
//
// Checkpoint barriers are aligned (Flink's aligned checkpoints,
// CheckpointBarrierHandler): once barrier n arrives on a channel, that
// channel is not read until barrier n has arrived on every channel that has
// not ended (a channel that ends meanwhile counts as aligned); then the
// subtask snapshots its chain, forwards the barrier and reads every channel
// again. So the snapshot reflects exactly the records before the barrier on
// every input. A newer barrier abandons an unfinished alignment (the
// coordinator has given up on the older checkpoint); an older one is
// ignored. The two kinds of pause compose: a channel is paused while it is
// blocked by a barrier or ahead in event time. If, while aligning, every
// channel that is neither blocked nor ended is paused only for being ahead
// in event time, the alignment could never finish (the channels behind are
// the blocked ones), so the event-time pauses are lifted until the barrier
// is aligned: the checkpoint wins over watermark alignment, which then no
// longer guarantees the same interleaving on every run (possible only with
// several sources).
template <typename T>
class InputSubtask final : public SubtaskBase {
 public:
  InputSubtask(std::unique_ptr<InputGate<T>> gate, RecordConsumer<T>* head,
               bool align_watermarks = false)
      : gate_(std::move(gate)),
        head_(head),
        valve_(gate_->num_channels()),
        align_watermarks_(align_watermarks && gate_->num_channels() > 1),
        barrier_blocked_(gate_->num_channels(), false),
        ended_(gate_->num_channels(), false) {}

  Mailbox* mailbox() override { return gate_.get(); }

 protected:
  absl::Status RunLoop() override {
    std::deque<Mail> mail;
    ChannelElement<T> element;
    int channel = 0;
    while (true) {
      auto next = gate_->Poll(/*block=*/false, &mail, &element, &channel);
      if (next == InputGate<T>::Next::kNothing) {
        BROOK_RETURN_IF_ERROR(FlushAll());
        next = gate_->Poll(/*block=*/true, &mail, &element, &channel);
      }
      switch (next) {
        case InputGate<T>::Next::kCancelled:
          return absl::CancelledError("job cancelled");
        case InputGate<T>::Next::kNothing:
          break;
        case InputGate<T>::Next::kMail:
          BROOK_RETURN_IF_ERROR(RunMail(mail));
          mail.clear();
          break;
        case InputGate<T>::Next::kElement:
          BROOK_RETURN_IF_ERROR(Handle(channel, element));
          if (valve_.AllEnded()) {
            BROOK_RETURN_IF_ERROR(head_->EndInput());
            return FlushAll();
          }
          break;
      }
    }
  }

 private:
  using Kind = typename ChannelElement<T>::Kind;

  absl::Status Handle(int channel, ChannelElement<T>& e) {
    switch (e.kind) {
      case Kind::kRecords: {
        absl::Status s = head_->ProcessBatch(e.records);
        e.records.clear();
        return s;
      }
      case Kind::kWatermark:
        return Apply(valve_.OnWatermark(channel, e.watermark_ms));
      case Kind::kIdle:
        return Apply(valve_.OnIdle(channel));
      case Kind::kActive:
        return Apply(valve_.OnActive(channel));
      case Kind::kEndOfInput:
        ended_[channel] = true;
        BROOK_RETURN_IF_ERROR(Apply(valve_.OnEndOfInput(channel)));
        return MaybeCompleteAlignment();
      case Kind::kBarrier:
        return OnBarrier(channel, CheckpointBarrier{e.checkpoint_id, e.savepoint});
    }
    return absl::OkStatus();
  }

  absl::Status OnBarrier(int channel, const CheckpointBarrier& barrier) {
    if (barrier.checkpoint_id <= last_barrier_id_) return absl::OkStatus();  // stale
    if (aligning_ && barrier.checkpoint_id < pending_.checkpoint_id) return absl::OkStatus();
    if (aligning_ && barrier.checkpoint_id > pending_.checkpoint_id) {
      // The older checkpoint was abandoned upstream: start over.
      std::fill(barrier_blocked_.begin(), barrier_blocked_.end(), false);
      aligning_ = false;
    }
    if (!aligning_) {
      aligning_ = true;
      pending_ = barrier;
      alignment_start_ = absl::Now();
    }
    barrier_blocked_[channel] = true;
    UpdatePauses();
    return MaybeCompleteAlignment();
  }
  absl::Status MaybeCompleteAlignment() {
    if (!aligning_) return absl::OkStatus();
    for (int c = 0; c < gate_->num_channels(); ++c) {
      if (!barrier_blocked_[c] && !ended_[c]) return absl::OkStatus();
    }
    const int64_t alignment_ms = absl::ToInt64Milliseconds(absl::Now() - alignment_start_);
    aligning_ = false;
    last_barrier_id_ = pending_.checkpoint_id;
    BROOK_RETURN_IF_ERROR(PerformCheckpoint(pending_, alignment_ms));
    std::fill(barrier_blocked_.begin(), barrier_blocked_.end(), false);
    UpdatePauses();
    return absl::OkStatus();
  }
  void UpdatePauses() {
    const int n = gate_->num_channels();
    bool watermark_pauses = align_watermarks_;
    if (watermark_pauses && aligning_) {
      // Deadlock avoidance (see the class comment).
      bool any_readable = false;
      bool any_waiting = false;
      for (int c = 0; c < n; ++c) {
        if (barrier_blocked_[c] || ended_[c]) continue;
        any_waiting = true;
        if (!valve_.Ahead(c)) any_readable = true;
      }
      if (any_waiting && !any_readable) watermark_pauses = false;
    }
    for (int c = 0; c < n; ++c) {
      gate_->SetPaused(c, barrier_blocked_[c] || (watermark_pauses && valve_.Ahead(c)));
    }
  }
  absl::Status Apply(const WatermarkValve::Output& out) {
    if (align_watermarks_ || aligning_) UpdatePauses();
    if (out.idle.has_value() && !*out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(false));
    }
    if (out.watermark.has_value()) BROOK_RETURN_IF_ERROR(head_->ProcessWatermark(*out.watermark));
    if (out.idle.has_value() && *out.idle) {
      BROOK_RETURN_IF_ERROR(head_->ProcessWatermarkStatus(true));
    }
    return absl::OkStatus();
  }

  std::unique_ptr<InputGate<T>> gate_;
  RecordConsumer<T>* head_;
  WatermarkValve valve_;
  const bool align_watermarks_;
  // Barrier alignment.
  std::vector<bool> barrier_blocked_;
  std::vector<bool> ended_;
  bool aligning_ = false;
  CheckpointBarrier pending_;
  int64_t last_barrier_id_ = 0;
  absl::Time alignment_start_;
};

// The head of a source chain: polls the reader, stamps timestamps and
// generates watermarks (DESIGN.md §4).
template <typename T>
class SourceDriver final : public OperatorBase {
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

  absl::StatusOr<InputStatus> Poll() {
    const int64_t before = emitted_;
    ReaderOutput<T> output(this);
    absl::StatusOr<InputStatus> st = reader_->PollNext(output);
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
  absl::Status MarkIdle() {
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

  // `value` is a const T& or a T&& from ReaderOutput: it reaches the batch
  // with one copy or move.
  template <typename V>
  void Collect(V&& value, int64_t timestamp_ms) {
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

 private:
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
          BROOK_RETURN_IF_ERROR(driver_->MarkIdle());
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

namespace brook {
template <typename T>
void ReaderOutput<T>::Collect(const T& value) {
  driver_->Collect(value, 0);
}
template <typename T>
void ReaderOutput<T>::Collect(T&& value) {
  driver_->Collect(std::move(value), 0);
}
template <typename T>
void ReaderOutput<T>::Collect(const T& value, int64_t timestamp_ms) {
  driver_->Collect(value, timestamp_ms);
}
template <typename T>
void ReaderOutput<T>::Collect(T&& value, int64_t timestamp_ms) {
  driver_->Collect(std::move(value), timestamp_ms);
}
}  // namespace brook

#endif  // BROOK_INTERNAL_SUBTASK_H_
