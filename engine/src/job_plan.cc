#include "job_plan.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace brook::internal {

TypeOpsBase* EdgeType(const StreamGraph& graph, const StreamEdge& edge) {
  const StreamNode& from = graph.nodes[edge.from];
  if (edge.tag.empty()) return from.output_type.get();
  return from.side_output_types.at(edge.tag).get();
}

std::vector<int> JobPlan::ChainMembers(int h) const {
  std::vector<int> members;
  for (int i = h; i < static_cast<int>(head.size()); ++i) {
    if (head[i] == h) members.push_back(i);
  }
  return members;
}

absl::StatusOr<JobPlan> BuildJobPlan(StreamGraph& graph, const ExecutionConfig& config) {
  BROOK_RETURN_IF_ERROR(graph.error);
  auto& nodes = graph.nodes;
  auto& edges = graph.edges;
  const int n = static_cast<int>(nodes.size());
  if (n == 0) return absl::InvalidArgumentError("the job has no sources");
  if (config.batch_size == 0 || config.channel_capacity < 1 || config.max_parallelism < 1 ||
      config.parallelism < 1 || config.parallelism > config.max_parallelism) {
    return absl::InvalidArgumentError(
        "ExecutionConfig: batch_size, channel_capacity and parallelism must be >= 1 and "
        "parallelism <= max_parallelism");
  }
  if (config.buffer_timeout < absl::ZeroDuration() ||
      config.latency_tracking_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "ExecutionConfig: buffer_timeout and latency_tracking_interval must not be negative");
  }

  // Edges point to later nodes, so node order is a topological order. A node
  // with one input edge may be chained to its producer; a union (several
  // input edges) reads them all through one gate.
  JobPlan plan;
  plan.in_edges.resize(n);
  plan.out_edges.resize(n);
  for (int e = 0; e < static_cast<int>(edges.size()); ++e) {
    plan.in_edges[edges[e].to].push_back(e);
    plan.out_edges[edges[e].from].push_back(e);
  }
  plan.chained.assign(n, false);
  plan.head.resize(n);
  plan.channel_offset.assign(edges.size(), 0);
  for (int i = 0; i < n; ++i) {
    plan.head[i] = i;
    if (nodes[i].kind == StreamNode::Kind::kSource) continue;
    const std::vector<int>& in = plan.in_edges[i];
    if (in.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("operator '", nodes[i].name, "' has no input"));
    }
    int channels = 0;
    for (int ei : in) {
      StreamEdge& e = edges[ei];
      if (e.partitioner->kind == Partitioning::kForward &&
          nodes[e.from].parallelism != nodes[i].parallelism) {
        // Flink's default when parallelism changes.
        e.partitioner = std::make_shared<PartitionerBase>(Partitioning::kRebalance);
      }
      plan.channel_offset[ei] = channels;
      channels += nodes[e.from].parallelism;
    }
    if (in.size() != 1) continue;
    const StreamEdge& e = edges[in[0]];
    const int p_from = nodes[e.from].parallelism;
    const int p_to = nodes[i].parallelism;
    // With one subtask on each side every partitioning is a forward.
    if (p_from == p_to && (e.partitioner->kind == Partitioning::kForward || p_from == 1)) {
      plan.chained[i] = true;
      plan.head[i] = plan.head[e.from];
    }
  }
  for (int i = 0; i < n; ++i) {
    const std::vector<int>& in = plan.in_edges[i];
    for (int ei : in) {
      if (EdgeType(graph, edges[ei])->type() != EdgeType(graph, edges[in[0]])->type()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "operator '", nodes[i].name, "': its inputs carry different record types"));
      }
    }
  }

  absl::flat_hash_map<std::string, int> uses;
  for (const StreamNode& node : nodes) ++uses[node.name];
  plan.unique_names.resize(n);
  for (int i = 0; i < n; ++i) {
    plan.unique_names[i] =
        uses[nodes[i].name] > 1 ? absl::StrCat(nodes[i].name, "#", i) : nodes[i].name;
  }
  plan.all_sources_bounded = std::all_of(nodes.begin(), nodes.end(), [](const StreamNode& node) {
    return node.kind != StreamNode::Kind::kSource || node.bounded_source;
  });
  return plan;
}

}  // namespace brook::internal
