// File: brook/job_listener.h
//
// JobListener: callbacks about a job's life that the host program may want
// to log, show or act on, without polling the environment: where the job
// restored from, each checkpoint that completed or failed, and how the job
// ended. Flink splits this between JobListener (job submitted/executed) and
// CheckpointListener (checkpoint complete/aborted); brook's JobListener is the
// job-level union of the two, registered on the environment:
// Example:
//   class LogListener : public brook::JobListener {
//    public:
//     void OnCheckpointCompleted(const brook::CompletedCheckpoint& c) override {
//       std::cerr << "checkpoint " << c.checkpoint_id << " at " << c.path << "\n";
//     }
//   };
//   env.RegisterJobListener(std::make_shared<LogListener>());
//   absl::Status s = env.Execute("job");
//
// Threads and guarantees, for one Execute():
// - OnRestored runs on the thread that called Execute(), before any operator
//   opens, at most once.
// - OnCheckpointCompleted / OnCheckpointFailed run on an engine thread (a
//   checkpoint I/O thread, the checkpoint timer thread or a subtask thread,
//   whichever ended the checkpoint), one at a time and in the order the
//   checkpoints ended (at most one is in flight, so by increasing id), never
//   while an engine lock is held. A completed checkpoint is durable: its
//   sinks' commits (NotifyCheckpointComplete) are posted to their subtasks
//   before the callback, but may still be running.
// - OnJobFinished runs on the thread that called Execute(), exactly once, as
//   the last callback (every checkpoint callback has returned), right before
//   Execute() returns the same status.
// So no two callbacks of one job ever run at the same time and a listener
// needs no lock of its own for state only its callbacks touch.
//
// A callback should return quickly: checkpoint callbacks delay the thread
// that runs them (a subtask's among them), and must not block on the job
// (e.g. call TriggerSavepoint(), which could wait for that very thread).
// Cancel() and metrics() may be called from any callback. A listener may be
// registered with several environments; it then gets each job's callbacks
// (from different threads when the jobs run at once).
#ifndef BROOK_JOB_LISTENER_H_
#define BROOK_JOB_LISTENER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace brook {

// What a job configured to restore (CheckpointConfig::restore kLatest or
// kPath) starts from.
struct RestoreInfo {
  // The checkpoint or savepoint restored; empty when kLatest found none that
  // loads (the job starts empty).
  std::string path;
  int64_t checkpoint_id = 0;  // 0 when `path` is empty
  // Newer checkpoints passed over because they are corrupt or partial
  // (never half-loaded), newest first, each "<path>: <reason>".
  std::vector<std::string> skipped;
};

// A checkpoint (or savepoint) that completed: its `_metadata` is written.
struct CompletedCheckpoint {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
  std::string path;  // as CheckpointStorage::CompleteCheckpoint returned it
  int64_t size_bytes = 0;  // of every state file written
  absl::Duration duration;  // from trigger to completion
};

// A checkpoint (or savepoint) that was aborted: declined by an operator
// (the operator's status: kUnimplemented from a source that cannot be
// replayed, kFailedPrecondition from one that cannot be checkpointed now),
// timed out (kDeadlineExceeded), failed to write (the storage's code), or cut
// short by a subtask or the job ending (kAborted). Nothing of it is
// restorable.
struct FailedCheckpoint {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
  absl::Status reason;
};

// JobListener: override the callbacks of interest (each defaults to doing
// nothing). See the file comment for threads and ordering.
class JobListener {
 public:
  virtual ~JobListener() = default;

  // JobListener::OnRestored(): the checkpoint to restore was chosen and
  // verified; its state is handed to the operators next (a failure there
  // still fails Execute(), reported to OnJobFinished). Called only when the
  // restore mode is kLatest or kPath, and not when loading failed.
  virtual void OnRestored(const RestoreInfo& /*info*/) {}

  // JobListener::OnCheckpointCompleted(): checkpoint `c.checkpoint_id` is
  // complete and durable (Flink's CheckpointListener.notifyCheckpointComplete).
  virtual void OnCheckpointCompleted(const CompletedCheckpoint& /*c*/) {}

  // JobListener::OnCheckpointFailed(): checkpoint `f.checkpoint_id` was
  // aborted (Flink's CheckpointListener.notifyCheckpointAborted); the job
  // goes on.
  virtual void OnCheckpointFailed(const FailedCheckpoint& /*f*/) {}

  // JobListener::OnJobFinished(): Execute() is about to return `status`: OK
  // when every source ended and every record was processed, kCancelled after
  // Cancel(), else the failure (Flink's JobListener.onJobExecuted).
  virtual void OnJobFinished(const absl::Status& /*status*/) {}
};

}  // namespace brook

#endif  // BROOK_JOB_LISTENER_H_
