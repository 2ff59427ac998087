// File: brook/internal/graph.h  (internal: not part of the API)
//
// The logical job graph that the DataStream API builds: nodes (a source, an
// operator or a sink, each with a name and a parallelism) and edges (with a
// partitioning). Execute() turns it into operator chains and subtasks. The
// graph is type-erased; TypeOps<T> carries what needs the record type: making
// outputs, channels, writers and input subtasks.
#ifndef BROOK_INTERNAL_GRAPH_H_
#define BROOK_INTERNAL_GRAPH_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/internal/channel.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/internal/input_task.h"
#include "brook/internal/partitioner.h"
#include "brook/internal/record_writer.h"
#include "brook/internal/subtask.h"
#include "brook/metrics.h"

namespace brook::internal {

class TypeOpsBase {
 public:
  virtual ~TypeOpsBase() = default;
  virtual std::type_index type() const = 0;
  // An Output feeding `chained` operators (OneInputOperator<T>s) and `writers`
  // (RecordWriter<T>s).
  virtual std::unique_ptr<OutputBase> MakeOutput(const std::vector<OperatorBase*>& chained,
                                                 const std::vector<WriterBase*>& writers,
                                                 Counter* records_out, size_t batch_size) = 0;
  virtual std::unique_ptr<Mailbox> MakeGate(int num_channels, int capacity) = 0;
  virtual std::unique_ptr<WriterBase> MakeWriter(const PartitionerBase& partitioner,
                                                 const std::vector<Mailbox*>& gates, int channel,
                                                 int subtask, int max_parallelism,
                                                 size_t batch_size,
                                                 Counter* backpressured_ms) = 0;
  virtual std::unique_ptr<SubtaskBase> MakeInputSubtask(std::unique_ptr<Mailbox> gate,
                                                        OperatorBase* head,
                                                        bool align_watermarks) = 0;
};

template <typename T>
class TypeOps final : public TypeOpsBase {
 public:
  std::type_index type() const override { return typeid(T); }
  std::unique_ptr<OutputBase> MakeOutput(const std::vector<OperatorBase*>& chained,
                                         const std::vector<WriterBase*>& writers,
                                         Counter* records_out, size_t batch_size) override {
    std::vector<RecordConsumer<T>*> consumers;
    for (OperatorBase* op : chained) consumers.push_back(dynamic_cast<RecordConsumer<T>*>(op));
    for (WriterBase* w : writers) consumers.push_back(dynamic_cast<RecordConsumer<T>*>(w));
    return std::make_unique<Output<T>>(std::move(consumers), records_out, batch_size);
  }
  std::unique_ptr<Mailbox> MakeGate(int num_channels, int capacity) override {
    return std::make_unique<InputGate<T>>(num_channels, capacity);
  }
  std::unique_ptr<WriterBase> MakeWriter(const PartitionerBase& partitioner,
                                         const std::vector<Mailbox*>& gates, int channel,
                                         int subtask, int max_parallelism, size_t batch_size,
                                         Counter* backpressured_ms) override {
    std::vector<InputGate<T>*> targets;
    for (Mailbox* g : gates) targets.push_back(static_cast<InputGate<T>*>(g));
    std::function<int32_t(const T&)> key_hash;
    if (partitioner.kind == Partitioning::kHash) {
      key_hash = static_cast<const Partitioner<T>&>(partitioner).key_hash;
    }
    return std::make_unique<RecordWriter<T>>(partitioner.kind, std::move(key_hash),
                                             std::move(targets), channel, subtask,
                                             max_parallelism,
                                             batch_size, backpressured_ms);
  }
  std::unique_ptr<SubtaskBase> MakeInputSubtask(std::unique_ptr<Mailbox> gate,
                                                OperatorBase* head,
                                                bool align_watermarks) override {
    std::unique_ptr<InputGate<T>> typed(static_cast<InputGate<T>*>(gate.release()));
    return std::make_unique<InputSubtask<T>>(
        std::move(typed), dynamic_cast<RecordConsumer<T>*>(head), align_watermarks);
  }
};

// What a node's factory gets for one subtask.
struct SubtaskInfo {
  int subtask_index = 0;
  int parallelism = 1;
  MetricGroup* metrics = nullptr;
  TimerScheduler* timers = nullptr;
};

struct StreamNode {
  enum class Kind { kSource, kOperator, kSink };
  int id = 0;
  Kind kind = Kind::kOperator;
  std::string name;
  int parallelism = 1;
  // Types of the main output (null for sinks) and of each side output that
  // some stream reads (by tag id).
  std::shared_ptr<TypeOpsBase> output_type;
  std::map<std::string, std::shared_ptr<TypeOpsBase>> side_output_types;
  // Creates this node's operator for one subtask (a SourceDriver for sources).
  std::function<absl::StatusOr<std::unique_ptr<OperatorBase>>(const SubtaskInfo&)> factory;
  // Sources only: whether the source is bounded (watermarks by input position).
  bool bounded_source = false;
  // Sources only: the subtask that runs a chain headed by `driver`.
  std::function<std::unique_ptr<SubtaskBase>(OperatorBase* driver, TimerScheduler*)>
      make_source_subtask;
};

struct StreamEdge {
  int from = 0;
  std::string tag;  // "" for the main output, else a side output's tag id
  int to = 0;
  std::shared_ptr<PartitionerBase> partitioner;
};

struct StreamGraph {
  std::vector<StreamNode> nodes;
  std::vector<StreamEdge> edges;
  absl::Status error;  // the first error found while building; Execute() returns it

  void Fail(absl::Status s) {
    if (error.ok()) error = std::move(s);
  }
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_GRAPH_H_
