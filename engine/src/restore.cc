#include "restore.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/internal/restore_assignment.h"
#include "brook/key_group.h"
#include "brook/status.h"

namespace brook::internal {

OperatorRestoreData AssignRestoreData(int64_t checkpoint_id,
                                      const std::vector<const OperatorSubtaskState*>& states,
                                      int max_parallelism, int parallelism, int subtask,
                                      OperatorStateDistribution distribution) {
  OperatorRestoreData data;
  data.checkpoint_id = checkpoint_id;
  const KeyGroupRange range =
      ComputeKeyGroupRangeForOperatorIndex(max_parallelism, parallelism, subtask);
  for (const OperatorSubtaskState* s : states) {
    if (s->parallelism != parallelism) data.rescaled = true;
    if (distribution == OperatorStateDistribution::kUnion ||
        s->subtask_index % parallelism == subtask) {
      data.operator_states.push_back(s->operator_state);
    }
    for (const auto& [kg, bytes] : s->key_groups) {
      if (range.Contains(kg)) data.key_groups.emplace_back(kg, bytes);
    }
  }
  // Stable: a key group's increments stay after its full blob, in order.
  std::stable_sort(data.key_groups.begin(), data.key_groups.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return data;
}

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

absl::StatusOr<RestoreState> RestoreState::Make(const RestoredCheckpoint& checkpoint,
                                                const std::vector<std::string>& operator_ids) {
  RestoreState restore(&checkpoint);
  for (const OperatorSubtaskState& st : checkpoint.states) {
    restore.states_[st.operator_id].push_back(&st);
  }
  for (auto& [id, states] : restore.states_) {
    std::sort(states.begin(), states.end(), [](const auto* a, const auto* b) {
      return a->subtask_index < b->subtask_index;
    });
    // State that no operator would claim is an error, not a silent loss
    // (Flink's default, without allowNonRestoredState): a renamed source
    // would otherwise start over while the sinks resume, and duplicate.
    if (std::find(operator_ids.begin(), operator_ids.end(), id) == operator_ids.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "restore from '", checkpoint.path, "': the checkpoint has state for operator '", id,
          "', which this job does not have (operators are matched by name: names must be "
          "unique and must not change between runs)"));
    }
  }
  return restore;
}

absl::Status RestoreState::Restore(OperatorBase& op, const std::string& operator_id) const {
  const OperatorSetup& setup = op.setup();
  const int64_t id = checkpoint_->metadata.checkpoint_id;
  OperatorRestoreData data;
  data.checkpoint_id = id;
  auto it = states_.find(operator_id);
  if (it != states_.end()) {
    data = AssignRestoreData(id, it->second, setup.max_parallelism, setup.parallelism,
                             setup.subtask_index, op.operator_state_distribution());
  }
  absl::Status st = op.InitializeState(std::move(data));
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("operator '", setup.operator_name, "' subtask ",
                                                setup.subtask_index, ": restore from '",
                                                checkpoint_->path, "': ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace brook::internal
