// Execute(): turns the logical graph into operator chains and subtasks, wires
// outputs, writers and input gates, and runs one thread per subtask.
#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "brook/key_group.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "brook/internal/graph.h"
#include "brook/status.h"
#include "brook/stream.h"
#include "checkpoint_coordinator.h"
#include "processing_time_service.h"

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
};

StreamExecutionEnvironment::StreamExecutionEnvironment(ExecutionConfig config)
    : config_(config),
      graph_(std::make_unique<internal::StreamGraph>()),
      metrics_(std::make_unique<MetricRegistry>()) {}

StreamExecutionEnvironment::~StreamExecutionEnvironment() = default;

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

void StreamExecutionEnvironment::RegisterJobListener(std::shared_ptr<JobListener> listener) {
  if (listener != nullptr) listeners_.push_back(std::move(listener));
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

// The checkpoint to start from, per CheckpointConfig::restore (nullopt: start
// empty). `skipped` gets the corrupt or partial checkpoints passed over.
absl::StatusOr<std::optional<RestoredCheckpoint>> LoadRestoreCheckpoint(
    const CheckpointConfig& config, int max_parallelism, std::vector<std::string>* skipped) {
  if (config.restore == CheckpointConfig::Restore::kNone) return std::nullopt;
  if (config.storage == nullptr) {
    return absl::FailedPreconditionError(
        "restoring needs checkpoint storage (ExecutionConfig::checkpoint.storage)");
  }
  std::optional<RestoredCheckpoint> restored;
  if (config.restore == CheckpointConfig::Restore::kLatest) {
    BROOK_ASSIGN_OR_RETURN(restored, config.storage->LoadLatest(skipped));
  } else {
    absl::StatusOr<RestoredCheckpoint> loaded = config.storage->Load(config.restore_path);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("restore from '", config.restore_path,
                                       "': ", loaded.status().message()));
    }
    restored = *std::move(loaded);
  }
  if (restored.has_value() && restored->metadata.max_parallelism != max_parallelism) {
    // Key groups are the unit of redistribution: their number is fixed for
    // the life of the job's state (as Flink's max parallelism).
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint '", restored->path, "' was taken with max_parallelism ",
        restored->metadata.max_parallelism, " but the job has max_parallelism ",
        max_parallelism));
  }
  return restored;
}

// What new subtask `subtask` of `parallelism` gets of operator `states` (all
// old subtasks of one operator): the operator state of each old subtask j
// with j % parallelism == subtask, and every key group of its new range.
internal::OperatorRestoreData AssignRestoreData(
    int64_t checkpoint_id, const std::vector<const OperatorSubtaskState*>& states,
    int max_parallelism, int parallelism, int subtask) {
  internal::OperatorRestoreData data;
  data.checkpoint_id = checkpoint_id;
  const KeyGroupRange range =
      ComputeKeyGroupRangeForOperatorIndex(max_parallelism, parallelism, subtask);
  for (const OperatorSubtaskState* s : states) {
    if (s->subtask_index % parallelism == subtask) data.operator_states.push_back(s->operator_state);
    for (const auto& [kg, bytes] : s->key_groups) {
      if (range.Contains(kg)) data.key_groups.emplace_back(kg, bytes);
    }
  }
  std::sort(data.key_groups.begin(), data.key_groups.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return data;
}

}  // namespace

absl::Status StreamExecutionEnvironment::Execute(const std::string& job_name) {
  const absl::Status status = RunJob(job_name);
  for (const auto& listener : listeners_) listener->OnJobFinished(status);
  return status;
}

absl::Status StreamExecutionEnvironment::RunJob(const std::string& job_name) {
  BROOK_RETURN_IF_ERROR(graph_->error);
  auto& nodes = graph_->nodes;
  auto& edges = graph_->edges;
  const int n = static_cast<int>(nodes.size());
  if (n == 0) return absl::InvalidArgumentError("the job has no sources");
  if (config_.batch_size == 0 || config_.channel_capacity < 1 ||
      config_.max_parallelism < 1 || config_.parallelism < 1 ||
      config_.parallelism > config_.max_parallelism) {
    return absl::InvalidArgumentError(
        "ExecutionConfig: batch_size, channel_capacity and parallelism must be >= 1 and "
        "parallelism <= max_parallelism");
  }

  // Edges point to later nodes, so node order is a topological order. A node
  // with one input edge may be chained to its producer; a union (several
  // input edges) reads them all through one gate.
  std::vector<std::vector<int>> in_edges(n);
  std::vector<std::vector<int>> out_edges(n);
  for (int e = 0; e < static_cast<int>(edges.size()); ++e) {
    in_edges[edges[e].to].push_back(e);
    out_edges[edges[e].from].push_back(e);
  }
  std::vector<bool> chained(n, false);
  std::vector<int> head(n);
  std::vector<int> channel_offset(edges.size(), 0);  // first channel of an edge in its gate
  for (int i = 0; i < n; ++i) {
    head[i] = i;
    if (nodes[i].kind == StreamNode::Kind::kSource) continue;
    if (in_edges[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("operator '", nodes[i].name, "' has no input"));
    }
    int channels = 0;
    for (int ei : in_edges[i]) {
      StreamEdge& e = edges[ei];
      if (e.partitioner->kind == Partitioning::kForward &&
          nodes[e.from].parallelism != nodes[i].parallelism) {
        // Flink's default when parallelism changes.
        e.partitioner = std::make_shared<internal::PartitionerBase>(Partitioning::kRebalance);
      }
      channel_offset[ei] = channels;
      channels += nodes[e.from].parallelism;
    }
    if (in_edges[i].size() != 1) continue;
    const StreamEdge& e = edges[in_edges[i][0]];
    const int p_from = nodes[e.from].parallelism;
    const int p_to = nodes[i].parallelism;
    // With one subtask on each side every partitioning is a forward.
    if (p_from == p_to && (e.partitioner->kind == Partitioning::kForward || p_from == 1)) {
      chained[i] = true;
      head[i] = head[e.from];
    }
  }
  auto type_of_edge = [&](const StreamEdge& e) -> internal::TypeOpsBase* {
    const StreamNode& from = nodes[e.from];
    if (e.tag.empty()) return from.output_type.get();
    return from.side_output_types.at(e.tag).get();
  };
  for (int i = 0; i < n; ++i) {
    for (int ei : in_edges[i]) {
      if (type_of_edge(edges[ei])->type() != type_of_edge(edges[in_edges[i][0]])->type()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "operator '", nodes[i].name, "': its inputs carry different record types"));
      }
    }
  }

  auto job = std::make_shared<RunningJob>();
  internal::ProcessingTimeService time_service;
  std::deque<MetricGroup> metric_groups;
  std::vector<std::unique_ptr<SubtaskTimerScheduler>> schedulers;
  std::vector<std::unique_ptr<SubtaskBase>> subtasks;

  // A job whose sources are all bounded aligns watermarks at every input
  // gate, so that its output is deterministic (see InputSubtask).
  const bool all_sources_bounded =
      std::all_of(nodes.begin(), nodes.end(), [](const StreamNode& node) {
        return node.kind != StreamNode::Kind::kSource || node.bounded_source;
      });

  // Input gates of every chain head but sources: gates[node][subtask].
  std::vector<std::vector<std::unique_ptr<Mailbox>>> gates(n);
  std::vector<std::vector<Mailbox*>> gate_ptrs(n);
  for (int i = 0; i < n; ++i) {
    if (head[i] != i || nodes[i].kind == StreamNode::Kind::kSource) continue;
    int channels = 0;
    for (int ei : in_edges[i]) channels += nodes[edges[ei].from].parallelism;
    for (int s = 0; s < nodes[i].parallelism; ++s) {
      gates[i].push_back(
          type_of_edge(edges[in_edges[i][0]])->MakeGate(channels, config_.channel_capacity));
      gate_ptrs[i].push_back(gates[i].back().get());
    }
  }

  // Metrics are scoped by operator name: give operators that share a name
  // (e.g. two default "Map"s) distinct scopes, so that no two threads ever
  // write one counter.
  std::vector<std::string> metric_names(n);
  {
    absl::flat_hash_map<std::string, int> uses;
    for (const StreamNode& node : nodes) ++uses[node.name];
    for (int i = 0; i < n; ++i) {
      metric_names[i] =
          uses[nodes[i].name] > 1 ? absl::StrCat(nodes[i].name, "#", i) : nodes[i].name;
    }
  }

  // Checkpoints (DESIGN.md §7): what to restore, and the coordinator. An
  // operator is identified in a checkpoint by its unique name above.
  const CheckpointConfig& checkpoint = config_.checkpoint;
  std::vector<std::string> skipped;
  BROOK_ASSIGN_OR_RETURN(std::optional<RestoredCheckpoint> restored,
                         LoadRestoreCheckpoint(checkpoint, config_.max_parallelism, &skipped));
  {
    absl::MutexLock lock(&mu_);
    restore_skipped_ = skipped;
    restored_from_ = restored.has_value() ? restored->path : std::string();
  }
  if (checkpoint.restore != CheckpointConfig::Restore::kNone) {
    RestoreInfo info;
    if (restored.has_value()) {
      info.path = restored->path;
      info.checkpoint_id = restored->metadata.checkpoint_id;
    }
    info.skipped = skipped;
    for (const auto& listener : listeners_) listener->OnRestored(info);
  }
  absl::flat_hash_map<std::string, std::vector<const OperatorSubtaskState*>> restored_states;
  if (restored.has_value()) {
    for (const OperatorSubtaskState& st : restored->states) {
      restored_states[st.operator_id].push_back(&st);
    }
    for (auto& [id, states] : restored_states) {
      std::sort(states.begin(), states.end(), [](const auto* a, const auto* b) {
        return a->subtask_index < b->subtask_index;
      });
      // State that no operator would claim is an error, not a silent loss
      // (Flink's default, without allowNonRestoredState): a renamed source
      // would otherwise start over while the sinks resume, and duplicate.
      if (std::find(metric_names.begin(), metric_names.end(), id) == metric_names.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "restore from '", restored->path, "': the checkpoint has state for operator '", id,
            "', which this job does not have (operators are matched by name: names must be "
            "unique and must not change between runs)"));
      }
    }
  }
  std::shared_ptr<internal::CheckpointCoordinator> coordinator;
  if (checkpoint.storage != nullptr) {
    // Ids continue after every id the storage has seen, so that a restarted
    // job never overwrites an earlier checkpoint's files.
    BROOK_ASSIGN_OR_RETURN(int64_t latest, checkpoint.storage->LatestCheckpointId());
    if (restored.has_value()) latest = std::max(latest, restored->metadata.checkpoint_id);
    metric_groups.emplace_back(metrics_.get(), MetricScope{job_name, "checkpoint", 0});
    internal::CheckpointCoordinatorOptions options;
    options.job_name = job_name;
    options.interval = checkpoint.interval;
    options.timeout = checkpoint.timeout;
    options.retained = checkpoint.retained;
    options.max_parallelism = config_.max_parallelism;
    options.storage = checkpoint.storage.get();
    options.first_checkpoint_id = latest + 1;
    options.metrics = &metric_groups.back();
    options.listeners = listeners_;
    coordinator = std::make_shared<internal::CheckpointCoordinator>(std::move(options));
  }
  job->coordinator = coordinator;
  std::vector<int> checkpoint_task;  // per subtask: its index in the coordinator

  for (int h = 0; h < n; ++h) {
    if (head[h] != h) continue;
    std::vector<int> members;
    for (int i = h; i < n; ++i) {
      if (head[i] == h) members.push_back(i);
    }
    for (int s = 0; s < nodes[h].parallelism; ++s) {
      schedulers.push_back(std::make_unique<SubtaskTimerScheduler>(&time_service));
      SubtaskTimerScheduler* scheduler = schedulers.back().get();
      std::vector<std::unique_ptr<OperatorBase>> ops;
      std::vector<OperatorBase*> op_of(n, nullptr);
      for (int m : members) {
        const StreamNode& node = nodes[m];
        metric_groups.emplace_back(metrics_.get(), MetricScope{job_name, metric_names[m], s});
        internal::SubtaskInfo info{s, node.parallelism, &metric_groups.back(), scheduler};
        auto op = node.factory(info);
        if (!op.ok()) {
          return absl::Status(op.status().code(),
                              absl::StrCat("operator '", node.name, "' subtask ", s, ": ",
                                           op.status().message()));
        }
        (*op)->Setup(internal::OperatorSetup{job_name, node.name, s, node.parallelism,
                                             config_.max_parallelism, &metric_groups.back(),
                                             scheduler});
        if (restored.has_value()) {
          // Before Open(), which runs on the subtask's thread. A node the
          // checkpoint does not know starts empty.
          const int64_t id = restored->metadata.checkpoint_id;
          auto it = restored_states.find(metric_names[m]);
          internal::OperatorRestoreData data;
          data.checkpoint_id = id;
          if (it != restored_states.end()) {
            data = AssignRestoreData(id, it->second, config_.max_parallelism, node.parallelism, s);
          }
          absl::Status st = (*op)->InitializeState(std::move(data));
          if (!st.ok()) {
            return absl::Status(st.code(), absl::StrCat("operator '", node.name, "' subtask ", s,
                                                        ": restore from '", restored->path,
                                                        "': ", st.message()));
          }
        }
        op_of[m] = op->get();
        ops.push_back(std::move(*op));
      }
      std::vector<std::unique_ptr<internal::OutputBase>> outputs;
      std::vector<std::unique_ptr<internal::WriterBase>> writers;
      for (int m : members) {
        const StreamNode& node = nodes[m];
        std::vector<std::pair<std::string, internal::TypeOpsBase*>> tags;
        if (node.output_type) tags.emplace_back("", node.output_type.get());
        for (const auto& [tag, ops_type] : node.side_output_types) {
          tags.emplace_back(tag, ops_type.get());
        }
        MetricGroup* group = nullptr;
        for (auto& g : metric_groups) {
          if (g.scope().operator_name == metric_names[m] && g.scope().subtask == s) group = &g;
        }
        for (const auto& [tag, type_ops] : tags) {
          std::vector<OperatorBase*> chained_ops;
          std::vector<internal::WriterBase*> tag_writers;
          for (int e : out_edges[m]) {
            const StreamEdge& edge = edges[e];
            if (edge.tag != tag) continue;
            if (chained[edge.to]) {
              chained_ops.push_back(op_of[edge.to]);
            } else {
              writers.push_back(type_ops->MakeWriter(
                  *edge.partitioner, gate_ptrs[edge.to], channel_offset[e] + s, s,
                  config_.max_parallelism,
                  config_.batch_size, group->GetCounter("backpressured_time_ms")));
              tag_writers.push_back(writers.back().get());
            }
          }
          Counter* out_counter =
              tag.empty() ? group->GetCounter("num_records_out")
                          : group->GetCounter(absl::StrCat("num_records_out_", tag));
          outputs.push_back(
              type_ops->MakeOutput(chained_ops, tag_writers, out_counter, config_.batch_size));
          if (tag.empty()) {
            op_of[m]->SetMainOutput(outputs.back().get());
          } else {
            op_of[m]->AddSideOutput(tag, outputs.back().get());
          }
        }
      }
      std::unique_ptr<SubtaskBase> subtask;
      if (nodes[h].kind == StreamNode::Kind::kSource) {
        subtask = nodes[h].make_source_subtask(ops.front().get(), scheduler);
      } else {
        subtask = type_of_edge(edges[in_edges[h][0]])
                      ->MakeInputSubtask(std::move(gates[h][s]), ops.front().get(),
                                         all_sources_bounded);
      }
      scheduler->set_mailbox(subtask->mailbox());
      subtask->name = absl::StrCat(nodes[h].name, " (", s + 1, "/", nodes[h].parallelism, ")");
      subtask->operators = std::move(ops);
      subtask->outputs = std::move(outputs);
      subtask->writers = std::move(writers);
      if (coordinator != nullptr) {
        std::vector<internal::CheckpointCoordinator::OperatorInfo> infos;
        for (int m : members) infos.push_back({metric_names[m], s, nodes[m].parallelism});
        const int task = coordinator->AddSubtask(
            subtask.get(), nodes[h].kind == StreamNode::Kind::kSource, std::move(infos));
        subtask->set_checkpoint_listener(coordinator.get(), task);
        checkpoint_task.push_back(task);
      } else {
        checkpoint_task.push_back(-1);
      }
      job->mailboxes.push_back(subtask->mailbox());
      subtasks.push_back(std::move(subtask));
    }
  }

  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("job cancelled before it started");
    running_ = job;
  }
  if (coordinator != nullptr) coordinator->Start();
  std::vector<std::thread> threads;
  threads.reserve(subtasks.size());
  for (size_t i = 0; i < subtasks.size(); ++i) {
    threads.emplace_back([job, st = subtasks[i].get(), task = checkpoint_task[i]] {
      absl::Status s = st->Run();
      if (!s.ok()) {
        job->Fail(absl::Status(s.code(), absl::StrCat(st->name, ": ", s.message())));
      }
      if (task >= 0) job->coordinator->SubtaskFinished(task);
    });
  }
  for (auto& t : threads) t.join();
  if (coordinator != nullptr) coordinator->Stop();
  time_service.Stop();
  {
    absl::MutexLock lock(&mu_);
    running_.reset();
  }
  absl::MutexLock lock(&job->mu);
  return job->status;
}

}  // namespace brook
