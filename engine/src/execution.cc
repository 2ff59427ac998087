// Execute(): plans the job (job_plan.cc), loads what to restore (restore.cc),
// builds one subtask per chain and parallel instance (operators, outputs,
// writers and input gates, wired), and runs one thread per subtask (the
// first on the calling thread).
#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/internal/graph.h"
#include "brook/internal/subtask.h"
#include "brook/status.h"
#include "brook/stream.h"
#include "checkpoint_coordinator.h"
#include "job_plan.h"
#include "processing_time_service.h"
#include "restore.h"

namespace brook {

using internal::Mailbox;
using internal::OperatorBase;
using internal::Partitioning;
using internal::StreamEdge;
using internal::StreamNode;
using internal::SubtaskBase;

namespace {

// A subtask's processing-time scheduler: due callbacks become mail.
class SubtaskTimerScheduler final : public internal::TimerScheduler {
 public:
  explicit SubtaskTimerScheduler(internal::ProcessingTimeService* service) : service_(service) {}
  void set_mailbox(Mailbox* mailbox) { mailbox_ = mailbox; }

  int64_t NowMs() override { return internal::ProcessingTimeService::NowMs(); }
  void Schedule(OperatorBase* op, int64_t timestamp_ms) override {
    Mailbox* mailbox = mailbox_;
    service_->ScheduleAt(timestamp_ms, [mailbox, op] {
      mailbox->Post([op] { return op->OnProcessingTime(internal::ProcessingTimeService::NowMs()); });
    });
  }

 private:
  internal::ProcessingTimeService* service_;
  Mailbox* mailbox_ = nullptr;
};

}  // namespace

struct StreamExecutionEnvironment::RunningJob {
  absl::Mutex mu;
  absl::Status status ABSL_GUARDED_BY(mu);
  std::vector<Mailbox*> mailboxes;  // fixed before threads start
  // Null without checkpoint storage; stopped once every subtask has ended.
  std::shared_ptr<internal::CheckpointCoordinator> coordinator;

  // Records the first real failure (a kCancelled caused by another failure
  // must not hide it) and stops every subtask.
  void Fail(const absl::Status& s) {
    {
      absl::MutexLock lock(&mu);
      if (status.ok() || (absl::IsCancelled(status) && !absl::IsCancelled(s))) status = s;
    }
    CancelAll();
  }
  void CancelAll() {
    for (Mailbox* m : mailboxes) m->Cancel();
  }

  // Runs every subtask on a thread of its own, the first one on the calling
  // thread (which would only wait otherwise), until all have ended, and stops
  // the coordinator; the first failure, else OK. `checkpoint_tasks[i]`:
  // subtask i's index in the coordinator (-1 without one).
  absl::Status Run(const std::vector<std::unique_ptr<SubtaskBase>>& subtasks,
                   const std::vector<int>& checkpoint_tasks) {
    if (coordinator != nullptr) coordinator->Start();
    auto run = [this](SubtaskBase* st, int task) {
      absl::Status s = st->Run();
      if (!s.ok()) Fail(absl::Status(s.code(), absl::StrCat(st->name, ": ", s.message())));
      if (task >= 0) coordinator->SubtaskFinished(task);
    };
    std::vector<std::thread> threads;
    threads.reserve(subtasks.size());
    for (size_t i = 1; i < subtasks.size(); ++i) {
      threads.emplace_back(run, subtasks[i].get(), checkpoint_tasks[i]);
    }
    if (!subtasks.empty()) run(subtasks[0].get(), checkpoint_tasks[0]);
    for (auto& t : threads) t.join();
    if (coordinator != nullptr) coordinator->Stop();
    absl::MutexLock lock(&mu);
    return status;
  }
};

StreamExecutionEnvironment::StreamExecutionEnvironment(ExecutionConfig config)
    : config_(config),
      graph_(std::make_unique<internal::StreamGraph>()),
      metrics_(std::make_unique<MetricRegistry>()) {}

StreamExecutionEnvironment::~StreamExecutionEnvironment() = default;

void StreamExecutionEnvironment::RegisterJobListener(std::shared_ptr<JobListener> listener) {
  if (listener != nullptr) listeners_.push_back(std::move(listener));
}

void StreamExecutionEnvironment::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (running_) running_->CancelAll();
}

absl::StatusOr<std::string> StreamExecutionEnvironment::TriggerSavepoint() {
  std::shared_ptr<RunningJob> job;
  {
    absl::MutexLock lock(&mu_);
    job = running_;
  }
  if (job == nullptr) return absl::FailedPreconditionError("the job is not running");
  if (job->coordinator == nullptr) {
    return absl::FailedPreconditionError(
        "savepoints need checkpoint storage (ExecutionConfig::checkpoint.storage)");
  }
  return job->coordinator->TriggerSavepoint();
}
std::string StreamExecutionEnvironment::restored_from() const {
  absl::MutexLock lock(&mu_);
  return restored_from_;
}
std::vector<std::string> StreamExecutionEnvironment::restore_skipped() const {
  absl::MutexLock lock(&mu_);
  return restore_skipped_;
}

namespace {

// Builds the subtasks of a planned job, in order of chain head, then
// parallel instance.
class SubtaskBuilder {
 public:
  SubtaskBuilder(const internal::StreamGraph& graph, const internal::JobPlan& plan,
                 const ExecutionConfig& config, const std::string& job_name,
                 MetricRegistry* metrics, std::deque<MetricGroup>* metric_groups,
                 internal::ProcessingTimeService* time_service,
                 const internal::RestoreState* restore,
                 internal::CheckpointCoordinator* coordinator)
      : graph_(graph),
        nodes_(graph.nodes),
        plan_(plan),
        config_(config),
        job_name_(job_name),
        metrics_(metrics),
        metric_groups_(metric_groups),
        time_service_(time_service),
        restore_(restore),
        coordinator_(coordinator) {}

  // Every subtask, wired, restored if `restore` is set, registered with the
  // coordinator if there is one. Errors: an operator's factory's or restore's,
  // prefixed with the operator and subtask.
  absl::Status Build() {
    MakeGates();
    for (int h = 0; h < static_cast<int>(nodes_.size()); ++h) {
      if (plan_.head[h] != h) continue;
      const std::vector<int> members = plan_.ChainMembers(h);
      for (int s = 0; s < nodes_[h].parallelism; ++s) {
        BROOK_ASSIGN_OR_RETURN(std::unique_ptr<SubtaskBase> subtask, BuildChain(members, s));
        subtasks_.push_back(std::move(subtask));
      }
    }
    return absl::OkStatus();
  }

  std::vector<std::unique_ptr<SubtaskBase>>& subtasks() { return subtasks_; }
  // Per subtask: its index in the coordinator (-1 without one).
  const std::vector<int>& checkpoint_tasks() const { return checkpoint_task_; }

 private:
  // Input gates of every chain head but sources: gates_[node][subtask].
  void MakeGates() {
    const int n = static_cast<int>(nodes_.size());
    gates_.resize(n);
    gate_ptrs_.resize(n);
    for (int i = 0; i < n; ++i) {
      if (plan_.head[i] != i || nodes_[i].kind == StreamNode::Kind::kSource) continue;
      int channels = 0;
      for (int ei : plan_.in_edges[i]) channels += nodes_[graph_.edges[ei].from].parallelism;
      internal::TypeOpsBase* type = internal::EdgeType(graph_, graph_.edges[plan_.in_edges[i][0]]);
      for (int s = 0; s < nodes_[i].parallelism; ++s) {
        gates_[i].push_back(type->MakeGate(channels, config_.channel_capacity));
        gate_ptrs_[i].push_back(gates_[i].back().get());
      }
    }
  }

  // Subtask `s` of the chain `members` (head first).
  absl::StatusOr<std::unique_ptr<SubtaskBase>> BuildChain(const std::vector<int>& members,
                                                          int s) {
    const int h = members.front();
    schedulers_.push_back(std::make_unique<SubtaskTimerScheduler>(time_service_));
    SubtaskTimerScheduler* scheduler = schedulers_.back().get();
    std::vector<std::unique_ptr<OperatorBase>> ops;
    op_of_.assign(nodes_.size(), nullptr);
    group_of_.assign(nodes_.size(), nullptr);
    for (int m : members) {
      BROOK_ASSIGN_OR_RETURN(std::unique_ptr<OperatorBase> op, CreateOperator(m, s, scheduler));
      op_of_[m] = op.get();
      ops.push_back(std::move(op));
    }
    std::vector<std::unique_ptr<internal::OutputBase>> outputs;
    std::vector<std::unique_ptr<internal::WriterBase>> writers;
    for (int m : members) WireOutputs(m, s, &outputs, &writers);

    std::unique_ptr<SubtaskBase> subtask;
    if (nodes_[h].kind == StreamNode::Kind::kSource) {
      subtask = nodes_[h].make_source_subtask(ops.front().get(), scheduler);
    } else {
      subtask = internal::EdgeType(graph_, graph_.edges[plan_.in_edges[h][0]])
                    ->MakeInputSubtask(std::move(gates_[h][s]), ops.front().get(),
                                       plan_.all_sources_bounded);
    }
    scheduler->set_mailbox(subtask->mailbox());
    subtask->name = absl::StrCat(nodes_[h].name, " (", s + 1, "/", nodes_[h].parallelism, ")");
    subtask->operators = std::move(ops);
    subtask->outputs = std::move(outputs);
    subtask->writers = std::move(writers);
    if (coordinator_ != nullptr) {
      std::vector<internal::CheckpointCoordinator::OperatorInfo> infos;
      for (int m : members) infos.push_back({plan_.unique_names[m], s, nodes_[m].parallelism});
      const int task = coordinator_->AddSubtask(
          subtask.get(), nodes_[h].kind == StreamNode::Kind::kSource, std::move(infos));
      subtask->set_checkpoint_listener(coordinator_, task);
      checkpoint_task_.push_back(task);
    } else {
      checkpoint_task_.push_back(-1);
    }
    return subtask;
  }

  // Operator `m` for subtask `s`: made, set up and, when restoring, given
  // its state (before Open(), which runs on the subtask's thread).
  absl::StatusOr<std::unique_ptr<OperatorBase>> CreateOperator(int m, int s,
                                                               SubtaskTimerScheduler* scheduler) {
    const StreamNode& node = nodes_[m];
    metric_groups_->emplace_back(metrics_, MetricScope{job_name_, plan_.unique_names[m], s});
    MetricGroup* group = &metric_groups_->back();
    group_of_[m] = group;
    internal::SubtaskInfo info{s, node.parallelism, group, scheduler};
    auto op = node.factory(info);
    if (!op.ok()) {
      return absl::Status(op.status().code(),
                          absl::StrCat("operator '", node.name, "' subtask ", s, ": ",
                                       op.status().message()));
    }
    (*op)->Setup(internal::OperatorSetup{job_name_, node.name, s, node.parallelism,
                                         config_.max_parallelism, group, scheduler});
    if (restore_ != nullptr) BROOK_RETURN_IF_ERROR(restore_->Restore(**op, plan_.unique_names[m]));
    return op;
  }

  // The main and side outputs of operator `m` in subtask `s`: to the
  // operators chained to it and to writers for the other edges.
  void WireOutputs(int m, int s, std::vector<std::unique_ptr<internal::OutputBase>>* outputs,
                   std::vector<std::unique_ptr<internal::WriterBase>>* writers) {
    const StreamNode& node = nodes_[m];
    std::vector<std::pair<std::string, internal::TypeOpsBase*>> tags;
    if (node.output_type) tags.emplace_back("", node.output_type.get());
    for (const auto& [tag, ops_type] : node.side_output_types) tags.emplace_back(tag, ops_type.get());
    MetricGroup* group = group_of_[m];
    for (const auto& [tag, type_ops] : tags) {
      std::vector<OperatorBase*> chained_ops;
      std::vector<internal::WriterBase*> tag_writers;
      for (int e : plan_.out_edges[m]) {
        const StreamEdge& edge = graph_.edges[e];
        if (edge.tag != tag) continue;
        if (plan_.chained[edge.to]) {
          chained_ops.push_back(op_of_[edge.to]);
        } else {
          writers->push_back(type_ops->MakeWriter(
              *edge.partitioner, gate_ptrs_[edge.to], plan_.channel_offset[e] + s, s,
              config_.max_parallelism, config_.batch_size,
              group->GetCounter("backpressured_time_ms")));
          tag_writers.push_back(writers->back().get());
        }
      }
      Counter* out_counter = tag.empty()
                                 ? group->GetCounter("num_records_out")
                                 : group->GetCounter(absl::StrCat("num_records_out_", tag));
      outputs->push_back(
          type_ops->MakeOutput(chained_ops, tag_writers, out_counter, config_.batch_size));
      if (tag.empty()) {
        op_of_[m]->SetMainOutput(outputs->back().get());
      } else {
        op_of_[m]->AddSideOutput(tag, outputs->back().get());
      }
    }
  }

  const internal::StreamGraph& graph_;
  const std::vector<StreamNode>& nodes_;
  const internal::JobPlan& plan_;
  const ExecutionConfig& config_;
  const std::string& job_name_;
  MetricRegistry* metrics_;
  std::deque<MetricGroup>* metric_groups_;
  internal::ProcessingTimeService* time_service_;
  const internal::RestoreState* restore_;
  internal::CheckpointCoordinator* coordinator_;

  std::vector<std::vector<std::unique_ptr<Mailbox>>> gates_;
  std::vector<std::vector<Mailbox*>> gate_ptrs_;
  std::vector<std::unique_ptr<SubtaskTimerScheduler>> schedulers_;
  std::vector<std::unique_ptr<SubtaskBase>> subtasks_;
  std::vector<int> checkpoint_task_;
  // Of the chain being built, by node.
  std::vector<OperatorBase*> op_of_;
  std::vector<MetricGroup*> group_of_;
};

// The checkpoint coordinator, when `checkpoint` has storage (else null).
// Ids continue after every id the storage has seen, so that a restarted job
// never overwrites an earlier checkpoint's files.
absl::StatusOr<std::shared_ptr<internal::CheckpointCoordinator>> MakeCoordinator(
    const CheckpointConfig& checkpoint, const std::optional<RestoredCheckpoint>& restored,
    const std::string& job_name, int max_parallelism, MetricRegistry* metrics,
    std::deque<MetricGroup>* metric_groups,
    const std::vector<std::shared_ptr<JobListener>>& listeners) {
  if (checkpoint.storage == nullptr) return nullptr;
  BROOK_ASSIGN_OR_RETURN(int64_t latest, checkpoint.storage->LatestCheckpointId());
  if (restored.has_value()) latest = std::max(latest, restored->metadata.checkpoint_id);
  metric_groups->emplace_back(metrics, MetricScope{job_name, "checkpoint", 0});
  internal::CheckpointCoordinatorOptions options;
  options.job_name = job_name;
  options.interval = checkpoint.interval;
  options.timeout = checkpoint.timeout;
  options.retained = checkpoint.retained;
  options.max_parallelism = max_parallelism;
  options.storage = checkpoint.storage.get();
  options.first_checkpoint_id = latest + 1;
  options.metrics = &metric_groups->back();
  options.listeners = listeners;
  options.incremental = checkpoint.incremental;
  options.max_increments = checkpoint.max_increments;
  options.max_increment_ratio = checkpoint.max_increment_ratio;
  if (restored.has_value() && checkpoint.restore == CheckpointConfig::Restore::kLatest &&
      !restored->metadata.savepoint) {
    // Found in this storage: increments may chain on its files.
    options.restored_id = restored->metadata.checkpoint_id;
    options.restored_files = restored->metadata.files;
  }
  return std::make_shared<internal::CheckpointCoordinator>(std::move(options));
}

}  // namespace

absl::Status StreamExecutionEnvironment::Execute(const std::string& job_name) {
  const absl::Status status = RunJob(job_name);
  for (const auto& listener : listeners_) listener->OnJobFinished(status);
  return status;
}

absl::Status StreamExecutionEnvironment::RunJob(const std::string& job_name) {
  BROOK_ASSIGN_OR_RETURN(internal::JobPlan plan, internal::BuildJobPlan(*graph_, config_));

  // Checkpoints (DESIGN.md §7): what to restore, and the coordinator. An
  // operator is identified in a checkpoint by its unique name.
  std::vector<std::string> skipped;
  BROOK_ASSIGN_OR_RETURN(
      std::optional<RestoredCheckpoint> restored,
      internal::LoadRestoreCheckpoint(config_.checkpoint, config_.max_parallelism, &skipped));
  {
    absl::MutexLock lock(&mu_);
    restore_skipped_ = skipped;
    restored_from_ = restored.has_value() ? restored->path : std::string();
  }
  if (config_.checkpoint.restore != CheckpointConfig::Restore::kNone) {
    RestoreInfo info;
    if (restored.has_value()) {
      info.path = restored->path;
      info.checkpoint_id = restored->metadata.checkpoint_id;
    }
    info.skipped = skipped;
    for (const auto& listener : listeners_) listener->OnRestored(info);
  }
  std::optional<internal::RestoreState> restore;
  if (restored.has_value()) {
    BROOK_ASSIGN_OR_RETURN(restore, internal::RestoreState::Make(*restored, plan.unique_names));
  }
  auto job = std::make_shared<RunningJob>();
  internal::ProcessingTimeService time_service;
  std::deque<MetricGroup> metric_groups;
  BROOK_ASSIGN_OR_RETURN(job->coordinator,
                         MakeCoordinator(config_.checkpoint, restored, job_name,
                                         config_.max_parallelism, metrics_.get(), &metric_groups,
                                         listeners_));

  SubtaskBuilder builder(*graph_, plan, config_, job_name, metrics_.get(), &metric_groups,
                         &time_service, restore.has_value() ? &*restore : nullptr,
                         job->coordinator.get());
  BROOK_RETURN_IF_ERROR(builder.Build());
  for (const auto& subtask : builder.subtasks()) job->mailboxes.push_back(subtask->mailbox());
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("job cancelled before it started");
    running_ = job;
  }
  absl::Status status = job->Run(builder.subtasks(), builder.checkpoint_tasks());
  time_service.Stop();
  {
    absl::MutexLock lock(&mu_);
    running_.reset();
  }
  return status;
}

}  // namespace brook
