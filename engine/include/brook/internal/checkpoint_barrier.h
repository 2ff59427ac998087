// File: brook/internal/checkpoint_barrier.h  (internal: not part of the API)
#ifndef BROOK_INTERNAL_CHECKPOINT_BARRIER_H_
#define BROOK_INTERNAL_CHECKPOINT_BARRIER_H_

#include <cstdint>

namespace brook::internal {

// Checkpoint barrier `checkpoint_id` as the runtime passes it around
// (DESIGN.md §7; Flink's CheckpointBarrier).
struct CheckpointBarrier {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_CHECKPOINT_BARRIER_H_
