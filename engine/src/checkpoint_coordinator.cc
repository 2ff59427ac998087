// Boost 1.74's Asio uses std::exchange etc. without including <utility>
// under C++20.
#include <utility>

#include "checkpoint_coordinator.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <tuple>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace brook::internal {

namespace asio = boost::asio;

namespace {
// Serialising and writing snapshots: enough to overlap the files of one
// checkpoint without taking the cores the subtasks run on.
constexpr int kIoThreads = 2;

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}
}  // namespace

struct CheckpointCoordinator::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  asio::steady_timer timer{io};
  std::thread thread;
  asio::thread_pool pool{kIoThreads};
};

// Declared before a MutexLock on mu_ in the same scope, it is destroyed after
// the lock is released: the listener calls queued meanwhile are made then.
class CheckpointCoordinator::DeliverOnReturn {
 public:
  explicit DeliverOnReturn(CheckpointCoordinator* coordinator) : coordinator_(coordinator) {}
  ~DeliverOnReturn() { coordinator_->DeliverEvents(); }
  DeliverOnReturn(const DeliverOnReturn&) = delete;
  DeliverOnReturn& operator=(const DeliverOnReturn&) = delete;

 private:
  CheckpointCoordinator* coordinator_;
};

struct CheckpointCoordinator::SavepointRequest {
  absl::Notification done;
  absl::StatusOr<std::string> result;
};

struct CheckpointCoordinator::Pending {
  int64_t id = 0;
  bool savepoint = false;
  int64_t timestamp_ms = 0;
  absl::Time start;
  std::vector<bool> acked;
  int acks_left = 0;
  int writes_left = 0;
  bool completing = false;  // CompleteCheckpoint is running
  std::vector<CheckpointMetadata::File> files;
  int64_t size_bytes = 0;
  int64_t max_alignment_ms = 0;
  int64_t max_pause_us = 0;
  std::vector<std::shared_ptr<SavepointRequest>> waiters;
  SnapshotOptions options;
};

CheckpointCoordinator::CheckpointCoordinator(CheckpointCoordinatorOptions options)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>()),
      next_id_(std::max<int64_t>(1, options_.first_checkpoint_id)) {
  if (MetricGroup* m = options_.metrics; m != nullptr) {
    completed_ = m->GetCounter("checkpoints_completed");
    failed_ = m->GetCounter("checkpoints_failed");
    skipped_ = m->GetCounter("checkpoints_skipped");
    last_id_ = m->GetGauge("last_completed_checkpoint_id");
    duration_ms_ = m->GetGauge("last_checkpoint_duration_ms");
    size_bytes_ = m->GetGauge("last_checkpoint_size_bytes");
    alignment_ms_ = m->GetGauge("last_checkpoint_alignment_ms");
    // Microseconds: the pause is usually far below a millisecond.
    sync_pause_us_ = m->GetGauge("last_checkpoint_sync_pause_us");
    completed_at_ms_ = m->GetGauge("last_checkpoint_completed_timestamp_ms");
    full_size_bytes_ = m->GetGauge("last_checkpoint_full_size_bytes");
    chain_length_gauge_ = m->GetGauge("last_checkpoint_chain_length");
    bytes_written_ = m->GetCounter("checkpoint_bytes_written_total");
  }
  if (options_.incremental && options_.restored_id > 0) {
    absl::MutexLock lock(&mu_);
    SetChainsLocked(options_.restored_id, options_.restored_files);
  }
}

void CheckpointCoordinator::SetChainsLocked(int64_t id,
                                            const std::vector<CheckpointMetadata::File>& files) {
  chains_.clear();
  chain_base_id_ = id;
  chain_length_ = 0;
  chain_full_bytes_ = 0;
  chain_increment_bytes_ = 0;
  for (const auto& f : files) {
    auto& chain = chains_[{f.operator_id, f.subtask_index}];
    (chain.empty() ? chain_full_bytes_ : chain_increment_bytes_) += f.size_bytes;
    chain.push_back(f);
    if (chain.back().owner_checkpoint_id == 0) chain.back().owner_checkpoint_id = id;
    chain_length_ = std::max(chain_length_, static_cast<int>(chain.size()) - 1);
  }
}

SnapshotOptions CheckpointCoordinator::OptionsFor(int64_t checkpoint_id) {
  absl::MutexLock lock(&mu_);
  if (pending_ == nullptr || pending_->id != checkpoint_id) return {};
  return pending_->options;
}

CheckpointCoordinator::~CheckpointCoordinator() { Stop(); }

int CheckpointCoordinator::AddSubtask(SubtaskBase* subtask, bool source,
                                      std::vector<OperatorInfo> operators) {
  tasks_.push_back(Task{subtask, source, std::move(operators), false});
  return static_cast<int>(tasks_.size()) - 1;
}

void CheckpointCoordinator::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) return;
    started_ = true;
  }
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
  absl::MutexLock lock(&mu_);
  if (tasks_.empty()) MarkRunningLocked(-1);
}

void CheckpointCoordinator::SubtaskRunning(int task) {
  absl::MutexLock lock(&mu_);
  MarkRunningLocked(task);
}

void CheckpointCoordinator::MarkRunningLocked(int task) {
  if (task >= 0) {
    if (tasks_[task].running) return;
    tasks_[task].running = true;
    ++running_;
  }
  if (running_ == tasks_.size() && options_.interval > absl::ZeroDuration()) {
    asio::post(impl_->io, [this] { ScheduleTimer(); });
  }
}

// On the io thread only (the timer is not thread-safe).
void CheckpointCoordinator::ScheduleTimer() {
  impl_->timer.expires_after(ToChrono(options_.interval));
  impl_->timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      TriggerLocked(/*savepoint=*/false, {});
    }
    ScheduleTimer();
  });
}

void CheckpointCoordinator::Resolve(SavepointRequest& request,
                                    absl::StatusOr<std::string> result) {
  request.result = std::move(result);
  request.done.Notify();
}

void CheckpointCoordinator::TriggerLocked(
    bool savepoint, std::vector<std::shared_ptr<SavepointRequest>> waiters) {
  if (stopped_) {
    for (auto& w : waiters) Resolve(*w, absl::FailedPreconditionError("the job is not running"));
    return;
  }
  if (source_finished_) {
    if (skipped_ != nullptr && !savepoint) skipped_->Inc();
    for (auto& w : waiters) {
      Resolve(*w, absl::FailedPreconditionError(
                      "a source subtask has finished: no checkpoint can be taken any more"));
    }
    return;
  }
  if (pending_ != nullptr) {
    if (savepoint) {
      for (auto& w : waiters) queued_savepoints_.push_back(std::move(w));
    } else {
      // Not triggered at its tick; triggered as soon as the one in flight
      // completes (as Flink queues a periodic request): a checkpoint slower
      // than the interval is followed at once, not an interval later.
      periodic_due_ = true;
      if (skipped_ != nullptr) skipped_->Inc();
    }
    return;
  }
  auto p = std::make_unique<Pending>();
  p->id = next_id_++;
  p->savepoint = savepoint;
  p->timestamp_ms = absl::ToUnixMillis(absl::Now());
  p->start = absl::Now();
  p->acked.assign(tasks_.size(), false);
  p->acks_left = static_cast<int>(tasks_.size());
  p->waiters = std::move(waiters);
  p->options.incremental = options_.incremental;
  const bool materialisation_due =
      chain_length_ >= options_.max_increments ||
      static_cast<double>(chain_increment_bytes_) >
          options_.max_increment_ratio * static_cast<double>(chain_full_bytes_);
  // Until this run completes a checkpoint, one on the restored checkpoint is
  // an increment even when its chain is due for materialisation: a restarted
  // job makes its progress durable at the cost of its changes only, and one
  // killed again before a full snapshot can complete still moves on (as
  // FLIP-158's changelog, which grows until a materialisation succeeds).
  const bool first_since_restore =
      options_.restored_id > 0 && chain_base_id_ == options_.restored_id;
  if (options_.incremental && !savepoint && chain_base_id_ > 0 &&
      (!materialisation_due || first_since_restore)) {
    p->options.base_checkpoint_id = chain_base_id_;
  }
  const int64_t id = p->id;
  pending_ = std::move(p);
  // The timeout: a timer of its own that does nothing if the checkpoint has
  // ended by then (never cancelled: it may be armed from any thread).
  asio::post(impl_->io, [this, id] {
    auto timer = std::make_shared<asio::steady_timer>(impl_->io, ToChrono(options_.timeout));
    timer->async_wait([this, id, timer](const boost::system::error_code& ec) {
      if (ec) return;
      DeliverOnReturn deliver(this);
      absl::MutexLock lock(&mu_);
      if (pending_ != nullptr && pending_->id == id && !pending_->completing) {
        AbortLocked(absl::DeadlineExceededError(
            absl::StrCat("checkpoint ", id, " timed out after ",
                         absl::FormatDuration(options_.timeout))));
      }
    });
  });
  for (Task& t : tasks_) {
    if (t.source) t.subtask->TriggerCheckpoint(CheckpointBarrier{id, savepoint});
  }
}

void CheckpointCoordinator::Acknowledge(int task, int64_t checkpoint_id,
                                        std::vector<AsyncSnapshot> snapshots,
                                        SubtaskCheckpointStats stats) {
  absl::MutexLock lock(&mu_);
  Pending* p = pending_.get();
  if (p == nullptr || p->id != checkpoint_id || p->acked[task] || stopped_) return;
  p->acked[task] = true;
  --p->acks_left;
  p->max_alignment_ms = std::max(p->max_alignment_ms, stats.alignment_ms);
  p->max_pause_us = std::max(p->max_pause_us, stats.sync_pause_us);
  const Task& t = tasks_[task];
  const bool savepoint = p->savepoint;
  for (size_t k = 0; k < t.operators.size() && k < snapshots.size(); ++k) {
    ++p->writes_left;
    asio::post(impl_->pool, [this, checkpoint_id, savepoint, info = t.operators[k],
                             snapshot = std::move(snapshots[k])]() mutable {
      absl::StatusOr<OperatorSnapshotData> data =
          snapshot ? snapshot() : absl::StatusOr<OperatorSnapshotData>(OperatorSnapshotData{});
      snapshot = nullptr;  // release the captured view before the write
      if (!data.ok()) {
        OnFileWritten(checkpoint_id,
                      absl::Status(data.status().code(),
                                   absl::StrCat("operator '", info.operator_id, "' subtask ",
                                                info.subtask_index, ": snapshot failed: ",
                                                data.status().message())),
                      0);
        return;
      }
      OperatorSubtaskState state;
      state.operator_id = info.operator_id;
      state.subtask_index = info.subtask_index;
      state.parallelism = info.parallelism;
      state.operator_state = std::move(data->operator_state);
      state.key_groups = std::move(data->key_groups);
      OnFileWritten(checkpoint_id, options_.storage->WriteState(checkpoint_id, savepoint, state),
                    data->incremental_base);
    });
  }
  MaybeCompleteLocked();
}

void CheckpointCoordinator::Decline(int /*task*/, int64_t checkpoint_id, absl::Status reason) {
  DeliverOnReturn deliver(this);
  absl::MutexLock lock(&mu_);
  if (pending_ == nullptr || pending_->id != checkpoint_id || pending_->completing) return;
  AbortLocked(reason);
}

void CheckpointCoordinator::SubtaskFinished(int task) {
  DeliverOnReturn deliver(this);
  absl::MutexLock lock(&mu_);
  MarkRunningLocked(task);  // one that ends before it ran holds nothing back
  Task& t = tasks_[task];
  t.finished = true;
  if (t.source) source_finished_ = true;
  if (pending_ != nullptr && !pending_->acked[task] && !pending_->completing) {
    AbortLocked(absl::AbortedError(
        absl::StrCat("subtask ", t.subtask->name, " ended before acknowledging checkpoint ",
                     pending_->id)));
  }
}

void CheckpointCoordinator::OnFileWritten(int64_t checkpoint_id,
                                          absl::StatusOr<CheckpointMetadata::File> file,
                                          int64_t incremental_base) {
  DeliverOnReturn deliver(this);
  absl::MutexLock lock(&mu_);
  if (pending_ == nullptr || pending_->id != checkpoint_id) return;
  if (!file.ok()) {
    AbortLocked(file.status());
    return;
  }
  if (incremental_base != 0) {
    // An increment: the restore applies its base's chain first.
    auto chain = chains_.find({file->operator_id, file->subtask_index});
    if (incremental_base != chain_base_id_ || chain == chains_.end() ||
        chain->second.front().parallelism != file->parallelism) {
      AbortLocked(absl::InternalError(absl::StrCat(
          "operator '", file->operator_id, "' subtask ", file->subtask_index,
          ": an increment on checkpoint ", incremental_base, ", which has no chain for it")));
      return;
    }
    for (const auto& f : chain->second) pending_->files.push_back(f);
  }
  --pending_->writes_left;
  pending_->size_bytes += file->size_bytes;
  pending_->files.push_back(*std::move(file));
  MaybeCompleteLocked();
}

void CheckpointCoordinator::MaybeCompleteLocked() {
  Pending* p = pending_.get();
  if (p == nullptr || p->acks_left > 0 || p->writes_left > 0 || p->completing) return;
  p->completing = true;
  CheckpointMetadata metadata;
  metadata.checkpoint_id = p->id;
  metadata.savepoint = p->savepoint;
  metadata.timestamp_ms = p->timestamp_ms;
  metadata.max_parallelism = options_.max_parallelism;
  metadata.job_name = options_.job_name;
  metadata.files = p->files;
  // Stable: an operator subtask's chain stays in order.
  std::stable_sort(metadata.files.begin(), metadata.files.end(),
            [](const CheckpointMetadata::File& a, const CheckpointMetadata::File& b) {
              return std::tie(a.operator_id, a.subtask_index) <
                     std::tie(b.operator_id, b.subtask_index);
            });
  asio::post(impl_->pool, [this, metadata = std::move(metadata)] {
    OnCompleted(metadata.checkpoint_id,
                options_.storage->CompleteCheckpoint(metadata, options_.retained));
  });
}

void CheckpointCoordinator::OnCompleted(int64_t checkpoint_id, absl::StatusOr<std::string> path) {
  DeliverOnReturn deliver(this);
  absl::MutexLock lock(&mu_);
  if (pending_ == nullptr || pending_->id != checkpoint_id) return;
  if (!path.ok()) {
    AbortLocked(path.status());
    return;
  }
  Pending& p = *pending_;
  const absl::Duration duration = absl::Now() - p.start;
  if (completed_ != nullptr) {
    completed_->Inc();
    last_id_->Set(p.id);
    duration_ms_->Set(absl::ToInt64Milliseconds(duration));
    size_bytes_->Set(p.size_bytes);
    alignment_ms_->Set(p.max_alignment_ms);
    sync_pause_us_->Set(p.max_pause_us);
    completed_at_ms_->Set(absl::ToUnixMillis(absl::Now()));
    bytes_written_->Inc(p.size_bytes);
    int64_t full = 0;
    for (const auto& f : p.files) full += f.size_bytes;
    full_size_bytes_->Set(full);
  }
  if (!p.savepoint && options_.incremental) SetChainsLocked(p.id, p.files);
  if (chain_length_gauge_ != nullptr) chain_length_gauge_->Set(chain_length_);
  // The commit phase of the two-phase commit: every subtask still running
  // learns that checkpoint n is durable. Not for a savepoint (as Flink since
  // 1.15): recovery resumes from the latest checkpoint, which must cover all
  // committed output; the next checkpoint's commit covers the savepoint's
  // pre-commit, and a restore from the savepoint commits it.
  if (!p.savepoint) {
    for (Task& t : tasks_) {
      if (!t.finished) t.subtask->NotifyCheckpointComplete(p.id);
    }
  }
  if (!options_.listeners.empty()) {
    events_.push_back(CompletedCheckpoint{p.id, p.savepoint, *path, p.size_bytes, duration});
  }
  for (auto& w : p.waiters) Resolve(*w, *path);
  FinishLocked(/*completed=*/true);
}

void CheckpointCoordinator::AbortLocked(const absl::Status& reason) {
  Pending& p = *pending_;
  if (failed_ != nullptr) failed_->Inc();
  const int64_t id = p.id;
  const bool savepoint = p.savepoint;
  asio::post(impl_->pool, [storage = options_.storage, id, savepoint] {
    (void)storage->AbortCheckpoint(id, savepoint);  // best effort
  });
  const bool cannot = absl::IsFailedPrecondition(reason) || absl::IsUnimplemented(reason);
  const std::string message =
      absl::StrCat(savepoint ? "savepoint " : "checkpoint ", id, " failed: ", reason.message());
  for (auto& w : p.waiters) {
    Resolve(*w, cannot ? absl::FailedPreconditionError(message) : absl::AbortedError(message));
  }
  if (!options_.listeners.empty()) events_.push_back(FailedCheckpoint{id, savepoint, reason});
  FinishLocked();
}

void CheckpointCoordinator::DeliverEvents() {
  std::vector<std::variant<CompletedCheckpoint, FailedCheckpoint>> batch;
  {
    absl::MutexLock lock(&mu_);
    if (delivering_ || events_.empty()) return;
    delivering_ = true;
    batch.swap(events_);
  }
  while (true) {
    for (const auto& event : batch) {
      for (const auto& listener : options_.listeners) {
        if (const auto* c = std::get_if<CompletedCheckpoint>(&event)) {
          listener->OnCheckpointCompleted(*c);
        } else {
          listener->OnCheckpointFailed(std::get<FailedCheckpoint>(event));
        }
      }
    }
    batch.clear();
    absl::MutexLock lock(&mu_);
    if (events_.empty()) {
      delivering_ = false;
      return;
    }
    batch.swap(events_);
  }
}

void CheckpointCoordinator::FinishLocked(bool completed) {
  pending_.reset();
  if (!queued_savepoints_.empty()) {
    TriggerLocked(/*savepoint=*/true, std::exchange(queued_savepoints_, {}));
  } else if (periodic_due_ && completed) {
    // Not after a failure: a checkpoint that keeps failing waits for ticks.
    periodic_due_ = false;
    TriggerLocked(/*savepoint=*/false, {});
  }
}

absl::StatusOr<std::string> CheckpointCoordinator::TriggerSavepoint() {
  auto request = std::make_shared<SavepointRequest>();
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) return absl::FailedPreconditionError("the job is not running");
    TriggerLocked(/*savepoint=*/true, {request});
  }
  request->done.WaitForNotification();
  return request->result;
}

void CheckpointCoordinator::Stop() {
  bool was_started;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    was_started = started_;
    const absl::Status ended = absl::AbortedError("the job ended before the savepoint completed");
    for (auto& w : queued_savepoints_) Resolve(*w, ended);
    queued_savepoints_.clear();
    if (pending_ != nullptr) {
      for (auto& w : pending_->waiters) Resolve(*w, ended);
      pending_->waiters.clear();
    }
  }
  // Writes in progress finish (a CompleteCheckpoint that started completes
  // the checkpoint); then what an incomplete one wrote is removed.
  impl_->pool.join();
  impl_->work.reset();
  impl_->io.stop();
  if (was_started && impl_->thread.joinable()) impl_->thread.join();
  {
    absl::MutexLock lock(&mu_);
    if (pending_ != nullptr) {
      if (!pending_->completing) {
        (void)options_.storage->AbortCheckpoint(pending_->id, pending_->savepoint);
        if (!options_.listeners.empty()) {
          events_.push_back(FailedCheckpoint{
              pending_->id, pending_->savepoint,
              absl::AbortedError(absl::StrCat("the job ended before checkpoint ", pending_->id,
                                              " completed"))});
        }
      }
      pending_.reset();
    }
  }
  DeliverEvents();  // every other thread that could deliver has ended
}

}  // namespace brook::internal
