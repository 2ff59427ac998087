// Internal: the checkpoint coordinator (DESIGN.md §7; Flink's
// CheckpointCoordinator, aligned checkpoints, exactly-once mode).
//
// One per running job with checkpoint storage. A Boost.Asio steady_timer on
// the coordinator's own io_context thread fires every interval, from the
// moment every subtask has opened its chain (restored its state: as Flink
// triggers no checkpoint while a task is INITIALIZING, FLINK-17012, so that
// a restore's time is not taken from the first interval), and triggers
// checkpoint n: "TriggerCheckpoint(n)" mail to every source subtask, which
// snapshots its chain and injects barrier n; the other subtasks snapshot when
// barrier n is aligned on their inputs. Each subtask acknowledges with the
// asynchronous parts of its operators' snapshots; the coordinator runs them
// on an I/O thread pool (never on a subtask thread), writes one file per
// operator subtask (CheckpointStorage::WriteState), and once every subtask
// has acknowledged and every file is written, completes the checkpoint
// (`_metadata`) and posts "NotifyCheckpointComplete(n)" mail to every
// subtask (sinks commit).
//
// Rules: at most one checkpoint is in flight; a periodic trigger that finds
// one pending is skipped (a savepoint waits for it instead). A checkpoint
// that fails (declined by an operator, e.g. a source that cannot be
// replayed; an I/O error; its timeout; a subtask that finished before
// acknowledging) is aborted and counted, and the job goes on. Once any
// source subtask has finished no checkpoint is triggered any more (as Flink
// before FLIP-147): the sinks' final Flush at end of input commits the rest.
//
// Metrics (job scope, operator "checkpoint", subtask 0):
// checkpoints_completed, checkpoints_failed, checkpoints_skipped (counters);
// last_completed_checkpoint_id, last_checkpoint_duration_ms,
// last_checkpoint_size_bytes, last_checkpoint_alignment_ms (max over
// subtasks), last_checkpoint_sync_pause_ms and _us (max over subtasks of the
// time stopped in SnapshotState calls) (gauges). With incremental
// checkpoints, last_checkpoint_size_bytes is what the checkpoint wrote;
// last_checkpoint_full_size_bytes what a restore reads (its chains
// included), last_checkpoint_chain_length the most increments on one full
// snapshot (gauges), checkpoint_bytes_written_total (counter).
//
// Incremental checkpoints: a checkpoint is triggered as an increment on the
// newest complete checkpoint (SnapshotOptions::base_checkpoint_id) unless it
// is a savepoint, there is none, or the chain is due for materialisation
// (max_increments reached, or its increments exceed max_increment_ratio of
// its full snapshots' bytes) and this run has completed a checkpoint: until
// then, checkpoints after a restore chain on the restored one whatever its
// length, so that a job killed again and again completes checkpoints (its
// chain then grows by one increment a restart until a full one completes).
// An operator subtask's increment is listed in `_metadata` after the files
// of that base's chain (their owner ids set).
//
// Listeners (CheckpointCoordinatorOptions::listeners) hear of each
// checkpoint that completes or fails, as brook/job_listener.h promises: the
// call is queued while mu_ is held and made after it is released by the
// thread that ended the checkpoint, one delivering thread at a time (another
// thread's event joins its queue), so calls are serial and in order; Stop()
// delivers what is left.
//
// Thread-safety: every public method may be called from any thread;
// AddSubtask only before Start().
#ifndef BROOK_SRC_CHECKPOINT_COORDINATOR_H_
#define BROOK_SRC_CHECKPOINT_COORDINATOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/subtask.h"
#include "brook/job_listener.h"
#include "brook/metrics.h"

namespace brook::internal {

struct CheckpointCoordinatorOptions {
  std::string job_name;
  absl::Duration interval = absl::ZeroDuration();  // zero: savepoints only
  absl::Duration timeout = absl::Minutes(10);
  int retained = 3;
  int max_parallelism = 128;
  CheckpointStorage* storage = nullptr;  // not owned; outlives the coordinator
  int64_t first_checkpoint_id = 1;
  MetricGroup* metrics = nullptr;  // may be null
  std::vector<std::shared_ptr<JobListener>> listeners;  // told of each checkpoint's end
  // CheckpointConfig's incremental policy.
  bool incremental = false;
  int max_increments = 10;
  double max_increment_ratio = 1.0;
  // The complete checkpoint of `storage` the job restored from (0: none or a
  // savepoint) and its files: increments may chain on it.
  int64_t restored_id = 0;
  std::vector<CheckpointMetadata::File> restored_files;
};

class CheckpointCoordinator final : public CheckpointListener {
 public:
  // One operator subtask of a chain, as it is named in a checkpoint.
  struct OperatorInfo {
    std::string operator_id;
    int subtask_index = 0;
    int parallelism = 1;
  };

  explicit CheckpointCoordinator(CheckpointCoordinatorOptions options);
  ~CheckpointCoordinator() override;  // Stop()s
  CheckpointCoordinator(const CheckpointCoordinator&) = delete;
  CheckpointCoordinator& operator=(const CheckpointCoordinator&) = delete;

  // Before Start(): registers a subtask (its operators in chain order);
  // returns its task index for SubtaskBase::set_checkpoint_listener.
  int AddSubtask(SubtaskBase* subtask, bool source, std::vector<OperatorInfo> operators);
  // Starts the timer thread; the periodic trigger (if interval > 0) starts
  // once every subtask is running or has ended.
  void Start();
  // Subtask `task`'s thread has ended (finished, failed or cancelled).
  void SubtaskFinished(int task);
  // Takes a savepoint through the same path as a checkpoint and blocks until
  // it completes (returns its path) or fails: kFailedPrecondition when the
  // job is not running, a source has finished, or an operator cannot be
  // checkpointed (e.g. a source that cannot be replayed); kAborted for any
  // other failure (the reason in the message).
  absl::StatusOr<std::string> TriggerSavepoint();
  // Once every subtask thread has ended: stops triggering, fails waiting
  // savepoints, waits for running writes and aborts an incomplete checkpoint.
  // Idempotent.
  void Stop();

  // CheckpointListener (from the subtask threads).
  void Acknowledge(int task, int64_t checkpoint_id, std::vector<AsyncSnapshot> snapshots,
                   SubtaskCheckpointStats stats) override;
  void Decline(int task, int64_t checkpoint_id, absl::Status reason) override;
  SnapshotOptions OptionsFor(int64_t checkpoint_id) override;
  void SubtaskRunning(int task) override;

 private:
  struct Impl;
  struct SavepointRequest;
  struct Pending;
  class DeliverOnReturn;
  struct Task {
    SubtaskBase* subtask = nullptr;
    bool source = false;
    std::vector<OperatorInfo> operators;
    bool finished = false;
    bool running = false;  // opened (restored), or finished
  };

  void ScheduleTimer();
  // Marks task `task` running; starts the periodic trigger once all are.
  void MarkRunningLocked(int task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TriggerLocked(bool savepoint, std::vector<std::shared_ptr<SavepointRequest>> waiters)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeCompleteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbortLocked(const absl::Status& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the pending checkpoint; then triggers the queued savepoints, or
  // after a `completed` one a periodic checkpoint whose tick found it pending.
  void FinishLocked(bool completed = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnFileWritten(int64_t checkpoint_id, absl::StatusOr<CheckpointMetadata::File> file,
                     int64_t incremental_base);
  // The chains of complete checkpoint `id` (from its files) become the base
  // of the next increments.
  void SetChainsLocked(int64_t id, const std::vector<CheckpointMetadata::File>& files)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCompleted(int64_t checkpoint_id, absl::StatusOr<std::string> path);
  static void Resolve(SavepointRequest& request, absl::StatusOr<std::string> result);
  // Makes the queued listener calls, unless another thread is making them.
  void DeliverEvents() ABSL_LOCKS_EXCLUDED(mu_);

  const CheckpointCoordinatorOptions options_;
  std::vector<Task> tasks_;  // fixed at Start()
  std::unique_ptr<Impl> impl_;

  absl::Mutex mu_;
  std::unique_ptr<Pending> pending_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_);
  bool source_finished_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<SavepointRequest>> queued_savepoints_ ABSL_GUARDED_BY(mu_);
  bool periodic_due_ ABSL_GUARDED_BY(mu_) = false;  // a tick found a checkpoint pending
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;  // tasks running or ended
  // Listener calls not yet made (only with listeners), and whether a thread
  // is making them.
  std::vector<std::variant<CompletedCheckpoint, FailedCheckpoint>> events_ ABSL_GUARDED_BY(mu_);
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  // Incremental checkpoints: the files (owner ids set) of each operator
  // subtask's chain in complete checkpoint chain_base_id_, by (operator id,
  // subtask); the longest chain's increments; bytes of full files and of
  // increments in all chains.
  int64_t chain_base_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, int>, std::vector<CheckpointMetadata::File>> chains_
      ABSL_GUARDED_BY(mu_);
  int chain_length_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chain_full_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chain_increment_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  Counter* completed_ = nullptr;
  Counter* failed_ = nullptr;
  Counter* skipped_ = nullptr;
  Counter* last_id_ = nullptr;
  Counter* duration_ms_ = nullptr;
  Counter* size_bytes_ = nullptr;
  Counter* alignment_ms_ = nullptr;
  Counter* sync_pause_us_ = nullptr;
  Counter* completed_at_ms_ = nullptr;
  Counter* full_size_bytes_ = nullptr;
  Counter* chain_length_gauge_ = nullptr;
  Counter* bytes_written_ = nullptr;
};

}  // namespace brook::internal

#endif  // BROOK_SRC_CHECKPOINT_COORDINATOR_H_
