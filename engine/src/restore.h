// Restore for Execute() (DESIGN.md §7): loading the checkpoint to start from
// and handing each operator subtask its part (restore_assignment.h).
#ifndef BROOK_ENGINE_SRC_RESTORE_H_
#define BROOK_ENGINE_SRC_RESTORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/operator.h"
#include "brook/stream.h"

namespace brook::internal {

// The checkpoint to start from, per CheckpointConfig::restore (nullopt: start
// empty). `skipped` gets the corrupt or partial checkpoints passed over.
// kFailedPrecondition without storage or for another max parallelism; the
// storage's errors otherwise.
absl::StatusOr<std::optional<RestoredCheckpoint>> LoadRestoreCheckpoint(
    const CheckpointConfig& config, int max_parallelism, std::vector<std::string>* skipped);

// A restored checkpoint's state, by operator id (its unique name).
class RestoreState {
 public:
  // kFailedPrecondition when `checkpoint` has state for an operator that is
  // not among `operator_ids` (Flink's default, without
  // allowNonRestoredState). `checkpoint` must outlive the result.
  static absl::StatusOr<RestoreState> Make(const RestoredCheckpoint& checkpoint,
                                           const std::vector<std::string>& operator_ids);

  // Restores `op` (set up, not yet open) as operator `operator_id`: its
  // subtask's part of the state, empty when the checkpoint does not know the
  // operator. The operator's error, prefixed with the operator, subtask and
  // checkpoint.
  absl::Status Restore(OperatorBase& op, const std::string& operator_id) const;

 private:
  explicit RestoreState(const RestoredCheckpoint* checkpoint) : checkpoint_(checkpoint) {}

  const RestoredCheckpoint* checkpoint_;
  // Old subtasks of each operator, by subtask index.
  absl::flat_hash_map<std::string, std::vector<const OperatorSubtaskState*>> states_;
};

}  // namespace brook::internal

#endif  // BROOK_ENGINE_SRC_RESTORE_H_
