// Graph building and validation for Execute(): which nodes chain into one
// subtask, where each edge's channels sit in its consumer's input gate, and
// each operator's unique name (its id in metrics and checkpoints).
#ifndef BROOK_ENGINE_SRC_JOB_PLAN_H_
#define BROOK_ENGINE_SRC_JOB_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/internal/graph.h"
#include "brook/stream.h"

namespace brook::internal {

struct JobPlan {
  std::vector<std::vector<int>> in_edges;   // per node: its input edges
  std::vector<std::vector<int>> out_edges;  // per node: its output edges
  std::vector<bool> chained;                // runs in its producer's subtask
  std::vector<int> head;                    // the head of the node's chain
  std::vector<int> channel_offset;          // per edge: its first channel in the gate
  // Operators that share a name (e.g. two default "Map"s) get "name#node",
  // so that no two threads ever write one counter and checkpoints match
  // operators unambiguously.
  std::vector<std::string> unique_names;
  // A job whose sources are all bounded aligns watermarks at every input
  // gate, so that its output is deterministic (see input_alignment.h).
  bool all_sources_bounded = true;

  // The nodes of the chain headed by `h`, in graph order.
  std::vector<int> ChainMembers(int h) const;
};

// Validates `graph` and `config` (kInvalidArgument, naming the operator) and
// plans the job. A forward edge between operators of different parallelism
// becomes a rebalance (Flink's default), in `graph`.
absl::StatusOr<JobPlan> BuildJobPlan(StreamGraph& graph, const ExecutionConfig& config);

// The record type an edge carries: its producer's main or side output type.
TypeOpsBase* EdgeType(const StreamGraph& graph, const StreamEdge& edge);

}  // namespace brook::internal

#endif  // BROOK_ENGINE_SRC_JOB_PLAN_H_
