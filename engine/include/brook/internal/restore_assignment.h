// File: brook/internal/restore_assignment.h  (internal: not part of the API)
//
// How a checkpoint's state is redistributed when a job restores, possibly at
// another parallelism (DESIGN.md §7; Flink's StateAssignmentOperation): the
// one rule shared by the runtime (Execute) and the test harness.
#ifndef BROOK_INTERNAL_RESTORE_ASSIGNMENT_H_
#define BROOK_INTERNAL_RESTORE_ASSIGNMENT_H_

#include <cstdint>
#include <vector>

#include "brook/checkpoint_storage.h"
#include "brook/internal/operator.h"

namespace brook::internal {

// What new subtask `subtask` of `parallelism` gets of `states` (every old
// subtask of one operator, any old parallelism, in order of old subtask
// index): the operator state of each old subtask j with j % parallelism ==
// subtask (kRoundRobin) or of every old subtask (kUnion), in order of j, and
// every key group of its new key-group range, by key group.
OperatorRestoreData AssignRestoreData(int64_t checkpoint_id,
                                      const std::vector<const OperatorSubtaskState*>& states,
                                      int max_parallelism, int parallelism, int subtask,
                                      OperatorStateDistribution distribution);

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_RESTORE_ASSIGNMENT_H_
