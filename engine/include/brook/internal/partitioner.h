// File: brook/internal/partitioner.h  (internal: not part of the API)
//
// How an edge of the job graph distributes records over the subtasks of its
// consumer (Flink's StreamPartitioner): forward, round-robin, by key group,
// or to every subtask.
#ifndef BROOK_INTERNAL_PARTITIONER_H_
#define BROOK_INTERNAL_PARTITIONER_H_

#include <cstdint>
#include <functional>

namespace brook::internal {

enum class Partitioning { kForward, kRebalance, kHash, kBroadcast };

struct PartitionerBase {
  explicit PartitionerBase(Partitioning k) : kind(k) {}
  virtual ~PartitionerBase() = default;
  Partitioning kind;
};

// For kHash: the record's key hash (KeyHash of its key); the writer maps it to
// a key group and the key group to a subtask (DESIGN.md §3).
template <typename T>
struct Partitioner final : PartitionerBase {
  using PartitionerBase::PartitionerBase;
  std::function<int32_t(const T&)> key_hash;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_PARTITIONER_H_
