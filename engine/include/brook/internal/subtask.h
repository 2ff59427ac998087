// File: brook/internal/subtask.h  (internal: not part of the API)
//
// A subtask runs one operator chain on one thread: an input task
// (input_task.h) takes batches and control elements from its InputGate, a
// source task (source_task.h) polls a SourceReader. Both serve their mailbox
// between batches and, whenever their input has nothing ready, flush every
// partly filled batch downstream, so latency stays low when the stream is
// slow and batches stay full when it is fast. This file holds what they
// share: the chain's lifecycle and its part of a checkpoint.
#ifndef BROOK_INTERNAL_SUBTASK_H_
#define BROOK_INTERNAL_SUBTASK_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "brook/internal/channel.h"
#include "brook/internal/checkpoint_barrier.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/internal/record_writer.h"
#include "brook/status.h"

namespace brook::internal {

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
  // How to snapshot checkpoint `checkpoint_id` (incremental or full).
  virtual SnapshotOptions OptionsFor(int64_t /*checkpoint_id*/) { return {}; }
  // Subtask `task` has opened its chain (its state restored) and starts
  // processing.
  virtual void SubtaskRunning(int /*task*/) {}
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
    if (status.ok()) {
      if (checkpoint_listener_ != nullptr) checkpoint_listener_->SubtaskRunning(checkpoint_task_);
      status = RunLoop();
    }
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
    const SnapshotOptions options = checkpoint_listener_ != nullptr
                                        ? checkpoint_listener_->OptionsFor(barrier.checkpoint_id)
                                        : SnapshotOptions();
    for (auto& op : operators) {
      op->set_snapshot_options(options);
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

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_SUBTASK_H_
