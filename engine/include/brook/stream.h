// File: brook/stream.h
//
// The DataStream API (Flink's names): a StreamExecutionEnvironment builds a
// job graph from sources, transformations and sinks, and Execute() runs it.
// Example:
//   brook::StreamExecutionEnvironment env({.parallelism = 2});
//   auto sink = std::make_shared<brook::CollectSink<Count>>();
//   env.FromCollection(events,
//                      brook::WatermarkStrategy<Event>::ForMonotonousTimestamps()
//                          .WithTimestampAssigner([](const Event& e) { return e.ts_ms; }))
//       .KeyBy([](const Event& e) { return e.user_id; })
//       .Process(CountPerKey(), "count")
//       .SinkTo(sink);
//   absl::Status s = env.Execute("count-job");
//
// Exchanges: operators of equal parallelism connected by a forward edge are
// chained into one subtask (direct calls, no queue). KeyBy() hash-partitions
// by key group; Rebalance() spreads batches round-robin; Broadcast() sends
// every record to every subtask. A forward edge between operators of
// different parallelism becomes a rebalance (as in Flink's default).
//
// Thread-safety: build and Execute() from one thread; Cancel() and metrics()
// may be called from any thread. Environments share nothing: two jobs may run
// in one process.
#ifndef BROOK_STREAM_H_
#define BROOK_STREAM_H_

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/checkpoint_storage.h"
#include "brook/collection_source.h"
#include "brook/functions.h"
#include "brook/internal/graph.h"
#include "brook/internal/operators.h"
#include "brook/internal/partitioner.h"
#include "brook/internal/source_task.h"
#include "brook/job_listener.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/sink.h"
#include "brook/source.h"
#include "brook/watermark_strategy.h"

namespace brook {

// Checkpointing (DESIGN.md §7; docs/checkpoints.md), as Flink's
// CheckpointConfig with aligned checkpoints and exactly-once mode.
struct CheckpointConfig {
  // Time between the start of two periodic checkpoints; zero (the default)
  // disables periodic checkpoints. Savepoints need only `storage`. At most
  // one checkpoint is in flight (a trigger meanwhile is skipped); one that
  // fails is aborted, counted (metric checkpoints_failed, operator
  // "checkpoint") and the job goes on. Once any source subtask has finished
  // no checkpoint is taken (as Flink before FLIP-147): the sinks' flush at
  // the end of input commits the rest.
  absl::Duration interval = absl::ZeroDuration();
  // Where checkpoints go (NewLocalDirectoryCheckpointStorage, or the
  // in-memory one in tests). Shared, so that a caller can inspect it.
  std::shared_ptr<CheckpointStorage> storage;
  // Complete checkpoints kept; older ones are deleted once a newer one
  // completes (savepoints are never deleted).
  int retained = 3;
  // A checkpoint not complete after this long is aborted (and the next one
  // is triggered as usual).
  absl::Duration timeout = absl::Minutes(10);
  // Where to start: kNone starts empty; kLatest resumes from the newest
  // complete checkpoint in `storage` if there is one (corrupt or partial ones
  // are reported and skipped); kPath restores `restore_path` (a checkpoint or
  // savepoint directory), failing if it cannot be loaded.
  enum class Restore { kNone, kLatest, kPath };
  Restore restore = Restore::kNone;
  std::string restore_path;

  // Incremental checkpoints (docs/checkpoints.md; as Flink's changelog state
  // backend, FLIP-158): keyed state keeps a change log per key group, and a
  // checkpoint writes, per operator subtask, only the entries added, updated
  // or removed since the previous complete checkpoint (timers and non-keyed
  // state are written whole). `_metadata` then names the files of earlier
  // checkpoints it needs (a chain: one full snapshot and its increments),
  // and retention keeps a file while any kept checkpoint needs it. A
  // corrupt or missing file anywhere in a chain makes every checkpoint that
  // needs it unusable (reported and skipped). Savepoints are always full
  // and self-contained. Cost while processing: each write to keyed state
  // appends its key to the key group's log (memory: at most one key per
  // entry of the key group between two checkpoints, beyond which the key
  // group is written whole). The pause at the barrier of an increment is
  // O(changed entries), copied then; a full snapshot's stays O(key groups)
  // with copy-on-write afterwards. Off by default, as in Flink.
  bool incremental = false;
  // Materialisation: a checkpoint is full (not an increment) once the chain
  // it would extend holds `max_increments` increments, or once that chain's
  // increments add up to more than `max_increment_ratio` times the bytes of
  // its full snapshots. Bounds a restore to one full snapshot plus at most
  // `max_increments` increments, except after restarts: until a restarted
  // job completes its first checkpoint, it checkpoints increments on the
  // restored chain whatever its length (a job killed before a full snapshot
  // of its state could complete would otherwise never complete one; as
  // FLIP-158's changelog, which grows until a materialisation succeeds), so
  // each restart that dies before its second checkpoint adds one increment.
  int max_increments = 10;
  double max_increment_ratio = 1.0;
};

struct ExecutionConfig {
  // Default parallelism of every operator (override per operator with
  // SetParallelism()).
  int parallelism = 1;
  // Number of key groups: the most subtasks a keyed operator can ever have,
  // and the granularity of state redistribution.
  int max_parallelism = kDefaultMaxParallelism;
  // Records per batch between operators and subtasks.
  size_t batch_size = 1024;
  // Batches a channel holds before its producer blocks (backpressure). Memory
  // in flight is bounded by channels x capacity x batch_size records.
  int channel_capacity = 8;
  // Flink's buffer timeout: an unbounded source's subtask hands its partly
  // filled batches downstream once this long (whole ms) has passed since it
  // last did, so that batching never holds a slow stream back (it also does
  // whenever its reader has nothing available). Zero: after every poll;
  // absl::InfiniteDuration(): only full batches and idle moments. A bounded
  // source flushes only full batches (its output does not depend on timing).
  // 5 ms: a flush costs one channel push per target (microseconds), so at
  // most 200 partial batches a second per source subtask cost nothing
  // measurable at full speed, and it keeps batching to half of a 10 ms
  // latency budget (Flink's 100 ms default pays for a network send).
  absl::Duration buffer_timeout = absl::Milliseconds(5);
  // Flink's latency tracking (metrics.latency.interval): every source
  // subtask emits a latency marker this often (whole ms); it travels with the
  // records, is passed around operators (not through their functions, nor
  // held by windows), and every operator and sink subtask it reaches records
  // the time since its source emitted it in its histogram "latency_us"
  // (wall clock, microseconds). Zero: off (Flink's default). Costs nothing
  // per record; a source polls the clock once per poll when on.
  absl::Duration latency_tracking_interval = absl::ZeroDuration();
  CheckpointConfig checkpoint = {};
};

namespace internal {
inline SourceTiming SourceTimingOf(const ExecutionConfig& c) {
  SourceTiming t;
  t.buffer_timeout_ms =
      c.buffer_timeout == absl::InfiniteDuration() ? -1 : ToMillis(c.buffer_timeout);
  t.latency_tracking_interval_ms = ToMillis(c.latency_tracking_interval);
  return t;
}
}  // namespace internal

template <typename T>
class DataStream;
template <Key K, typename T>
class KeyedStream;
namespace internal {
struct GraphAccess;
}  // namespace internal

class StreamExecutionEnvironment {
 public:
  explicit StreamExecutionEnvironment(ExecutionConfig config = {});
  ~StreamExecutionEnvironment();
  StreamExecutionEnvironment(const StreamExecutionEnvironment&) = delete;
  StreamExecutionEnvironment& operator=(const StreamExecutionEnvironment&) = delete;

  // A stream read from `source`, stamped and watermarked by `strategy`. Its
  // parallelism is the environment's default; change it with SetParallelism().
  template <typename T>
  DataStream<T> FromSource(std::shared_ptr<Source<T>> source, WatermarkStrategy<T> strategy,
                           std::string name);

  // A bounded stream of `values` at parallelism 1. Without a strategy, records
  // have timestamp 0 and event time jumps to the end once all are read.
  template <typename T>
  DataStream<T> FromCollection(
      std::vector<T> values,
      WatermarkStrategy<T> strategy = WatermarkStrategy<T>::NoWatermarks(),
      std::string name = "Collection");

  // Runs the job until every source has ended and every record is processed,
  // or until Cancel() or a failure. Returns the first failure of any operator
  // (as the operator returned it); kCancelled after Cancel(); kInvalidArgument
  // for a malformed job graph. An environment executes its graph once.
  absl::Status Execute(const std::string& job_name = "brook-job");

  // Thread-safe. Stops a running Execute(), which then returns kCancelled.
  void Cancel();

  // Adds `listener` to those told about this environment's job: restore,
  // checkpoints completed or failed, the end (brook/job_listener.h, which
  // states the threads and ordering). Call before Execute(), from the
  // building thread (Flink's StreamExecutionEnvironment.registerJobListener).
  void RegisterJobListener(std::shared_ptr<JobListener> listener);

  // Thread-safe. Takes a savepoint of the running job (a checkpoint that is
  // kept until deleted) and returns its path once it is complete. Sinks
  // pre-commit at a savepoint but commit only at the next checkpoint (as
  // Flink since 1.15). Errors:
  // kFailedPrecondition when the job is not running or has no checkpoint
  // storage, or when a source cannot be replayed; kAborted when the
  // savepoint failed (the reason is in the message).
  absl::StatusOr<std::string> TriggerSavepoint();

  // Where this run restored from ("" when it started empty), and what it
  // skipped on the way (corrupt or partial checkpoints, "<path>: <reason>").
  // Valid once Execute() has started the job.
  std::string restored_from() const;
  std::vector<std::string> restore_skipped() const;

  MetricRegistry& metrics() { return *metrics_; }
  const ExecutionConfig& config() const { return config_; }

 private:
  template <typename T>
  friend class DataStream;
  friend struct internal::GraphAccess;
  internal::StreamGraph& graph() { return *graph_; }
  // FromSource's node; returns its id.
  template <typename T>
  int AddSource(std::shared_ptr<Source<T>> source, WatermarkStrategy<T> strategy,
                std::string name);

  struct RunningJob;
  absl::Status RunJob(const std::string& job_name);  // Execute() less OnJobFinished

  ExecutionConfig config_;
  std::unique_ptr<internal::StreamGraph> graph_;
  std::unique_ptr<MetricRegistry> metrics_;
  std::vector<std::shared_ptr<JobListener>> listeners_;  // fixed once Execute() starts
  mutable absl::Mutex mu_;
  std::shared_ptr<RunningJob> running_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::string restored_from_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> restore_skipped_ ABSL_GUARDED_BY(mu_);
};

namespace internal {
// The job graph behind the API, for the runtime and its tests (as LevelDB's
// WriteBatchInternal: the public classes keep it private).
struct GraphAccess {
  static StreamGraph& Graph(StreamExecutionEnvironment& env) { return env.graph(); }
  // The stream of `node`'s main output.
  template <typename T>
  static DataStream<T> Stream(StreamExecutionEnvironment* env, int node) {
    return DataStream<T>(env, node);
  }
};
}  // namespace internal

// DataStream<T>: a stream of records of type T, made by
// StreamExecutionEnvironment::FromSource and the operators on a stream.
template <typename T>
class DataStream {
 public:
  using ValueType = T;

  // f(const T&) -> O, for each record.
  template <typename F>
    requires std::invocable<F&, T&&>
  auto Map(F f, std::string name = "Map") const {
    using O = std::decay_t<std::invoke_result_t<F&, T&&>>;
    return AddOperator<O>(std::move(name), [f] { return new MapOp<O, F>(f); });
  }

  // Keeps the records for which f(const T&) is true.
  template <typename F>
    requires std::predicate<F&, const T&>
  DataStream<T> Filter(F f, std::string name = "Filter") const {
    return AddOperator<T>(std::move(name), [f] { return new FilterOp<F>(f); });
  }

  // f(const T&, Collector<O>&) emits zero or more records per input.
  template <typename O, typename F>
    requires std::invocable<F&, const T&, Collector<O>&>
  DataStream<O> FlatMap(F f, std::string name = "FlatMap") const {
    return AddOperator<O>(std::move(name), [f] { return new FlatMapOp<O, F>(f); });
  }

  // Runs a copy of `fn` (a ProcessFunction<T, O>) in each subtask.
  template <typename Fn>
    requires std::derived_from<Fn, ProcessFunction<T, typename Fn::OutputType>> &&
             std::copy_constructible<Fn>
  DataStream<typename Fn::OutputType> Process(Fn fn, std::string name = "Process") const {
    using O = typename Fn::OutputType;
    return AddOperator<O>(std::move(name),
                          [fn] { return new ProcessOp<O>(std::make_unique<Fn>(fn)); });
  }

  // Partitions by key: key_selector(const T&) -> K, where K satisfies
  // brook::Key. A member pointer works too: KeyBy(&Event::user_id).
  template <typename F>
  auto KeyBy(F key_selector) const {
    using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
    static_assert(Key<K>, "KeyBy: the key type must be copyable, totally ordered and have a "
                          "brook::KeyHash specialisation (integers and strings do)");
    std::function<K(const T&)> selector = [key_selector](const T& v) -> K {
      return std::invoke(key_selector, v);
    };
    return KeyedStream<K, T>(*this, std::move(selector));
  }

  // This stream and `others` as one stream (Flink's union). The union is an
  // operator of its own (at the default parallelism, not chained to its
  // inputs) whose watermark is the minimum over every input subtask. Every
  // stream must come from this environment (else Execute() fails with
  // kInvalidArgument).
  DataStream<T> Union(const std::vector<DataStream<T>>& others,
                      std::string name = "Union") const {
    DataStream<T> merged = Map([](T&& v) -> T { return std::move(v); }, std::move(name));
    auto& graph = env_->graph();
    for (const DataStream<T>& other : others) {
      if (other.env_ != env_) {
        graph.Fail(absl::InvalidArgumentError(absl::StrCat(
            "Union '", graph.nodes[merged.node_].name, "': a stream of another environment")));
        continue;
      }
      other.AddEdge(merged.node_);
    }
    return merged;
  }

  // The next operator reads this stream round-robin across its subtasks.
  DataStream<T> Rebalance() const {
    return WithPartitioning(Partitioning::kRebalance);
  }
  // The next operator's every subtask reads every record.
  DataStream<T> Broadcast() const {
    return WithPartitioning(Partitioning::kBroadcast);
  }

  // Sets the parallelism of the operator that produces this stream (1 to the
  // max parallelism; otherwise Execute() fails with kInvalidArgument).
  DataStream<T>& SetParallelism(int parallelism) {
    auto& graph = env_->graph();
    if (parallelism < 1 || parallelism > env_->config().max_parallelism) {
      graph.Fail(absl::InvalidArgumentError(absl::StrCat(
          "operator '", graph.nodes[node_].name, "': parallelism ", parallelism,
          " is outside [1, max_parallelism=", env_->config().max_parallelism, "]")));
    } else {
      graph.nodes[node_].parallelism = parallelism;
    }
    return *this;
  }

  // The side output `tag` of the operator that produced this stream.
  template <typename X>
  DataStream<X> GetSideOutput(const OutputTag<X>& tag) const {
    auto& node = env_->graph().nodes[node_];
    auto [it, inserted] = node.side_output_types.emplace(tag.id(), TypeOf<X>());
    if (!inserted && it->second->type() != std::type_index(typeid(X))) {
      env_->graph().Fail(absl::InvalidArgumentError(absl::StrCat(
          "side output '", tag.id(), "' of '", node.name, "' read with two different types")));
    }
    return DataStream<X>(env_, node_, tag.id());
  }

  // Writes the stream to `sink`, at the environment's parallelism unless
  // `parallelism` > 0.
  void SinkTo(std::shared_ptr<Sink<T>> sink, std::string name = "Sink",
              int parallelism = 0) const {
    const int node = AddSink(std::move(sink), std::move(name));
    if (parallelism > 0) DataStream<T>(env_, node).SetParallelism(parallelism);
  }

  StreamExecutionEnvironment* env() const { return env_; }
  int node_id() const { return node_; }

 private:
  template <Key K, typename X>
  friend class KeyedStream;
  template <typename X>
  friend class DataStream;
  friend class StreamExecutionEnvironment;
  friend struct internal::GraphAccess;

  DataStream(StreamExecutionEnvironment* env, int node, std::string tag = "",
             std::shared_ptr<internal::PartitionerBase> partitioner = nullptr)
      : env_(env), node_(node), tag_(std::move(tag)), partitioner_(std::move(partitioner)) {}

  // The runtime's operators (internal/operators.h) behind the API.
  template <typename O, typename F>
  using MapOp = internal::MapOperator<T, O, F>;
  template <typename F>
  using FilterOp = internal::FilterOperator<T, F>;
  template <typename O, typename F>
  using FlatMapOp = internal::FlatMapOperator<T, O, F>;
  template <typename O>
  using ProcessOp = internal::ProcessOperator<T, O>;
  using Partitioning = internal::Partitioning;

  template <typename X>
  static std::shared_ptr<internal::TypeOpsBase> TypeOf() {
    return std::make_shared<internal::TypeOps<X>>();
  }

  DataStream<T> WithPartitioning(Partitioning kind) const {
    return DataStream<T>(env_, node_, tag_, std::make_shared<internal::Partitioner<T>>(kind));
  }

  using Factory =
      std::function<absl::StatusOr<std::unique_ptr<internal::OperatorBase>>(
          const internal::SubtaskInfo&)>;

  // An edge from this stream to node `to` of the same environment.
  void AddEdge(int to) const {
    internal::StreamEdge edge;
    edge.from = node_;
    edge.tag = tag_;
    edge.to = to;
    edge.partitioner = partitioner_ ? partitioner_
                                    : std::make_shared<internal::Partitioner<T>>(
                                          Partitioning::kForward);
    env_->graph().edges.push_back(std::move(edge));
  }

  int AddNode(internal::StreamNode::Kind kind, std::string name,
              std::shared_ptr<internal::TypeOpsBase> output_type, Factory factory) const {
    auto& graph = env_->graph();
    internal::StreamNode node;
    node.id = static_cast<int>(graph.nodes.size());
    node.kind = kind;
    node.name = std::move(name);
    node.parallelism = env_->config().parallelism;
    node.output_type = std::move(output_type);
    node.factory = std::move(factory);
    graph.nodes.push_back(std::move(node));
    const int id = graph.nodes.back().id;
    AddEdge(id);
    return id;
  }

  // A node whose operator in each subtask is `make()` (a new runtime
  // operator), fed by this stream.
  template <typename O, typename Make>
  DataStream<O> AddOperator(std::string name, Make make) const {
    Factory factory = [make](const internal::SubtaskInfo&)
        -> absl::StatusOr<std::unique_ptr<internal::OperatorBase>> {
      return std::unique_ptr<internal::OperatorBase>(make());
    };
    int node = AddNode(internal::StreamNode::Kind::kOperator, std::move(name), TypeOf<O>(),
                       std::move(factory));
    return DataStream<O>(env_, node);
  }

  int AddSink(std::shared_ptr<Sink<T>> sink, std::string name) const {
    return AddNode(internal::StreamNode::Kind::kSink, std::move(name), nullptr,
                   [sink, interval = env_->config().checkpoint.interval](
                       const internal::SubtaskInfo& info)
                       -> absl::StatusOr<std::unique_ptr<internal::OperatorBase>> {
                     SinkWriterContext ctx{info.subtask_index, info.parallelism, info.metrics,
                                           interval};
                     auto writer = sink->CreateWriter(ctx);
                     if (!writer.ok()) return writer.status();
                     return std::unique_ptr<internal::OperatorBase>(
                         new internal::SinkOperator<T>(std::move(*writer)));
                   });
  }

  StreamExecutionEnvironment* env_;
  int node_;
  std::string tag_;
  std::shared_ptr<internal::PartitionerBase> partitioner_;
};

// A stream partitioned by key (Flink's KeyedStream): keyed functions see each
// key's records in order, on the subtask that owns the key's key group.
template <Key K, typename T>
class KeyedStream {
 public:
  KeyedStream(DataStream<T> input, std::function<K(const T&)> key_selector)
      : input_(std::move(input)), key_selector_(std::move(key_selector)) {}

  // Runs a copy of `fn` (a KeyedProcessFunction<K, T, O>) in each subtask.
  template <typename Fn>
    requires std::derived_from<Fn, KeyedProcessFunction<K, T, typename Fn::OutputType>> &&
             std::copy_constructible<Fn>
  DataStream<typename Fn::OutputType> Process(Fn fn, std::string name = "KeyedProcess") const {
    using O = typename Fn::OutputType;
    auto selector = key_selector_;
    return Partitioned().template AddOperator<O>(std::move(name), [fn, selector] {
      return new KeyedProcessOp<O>(std::make_unique<Fn>(fn), selector);
    });
  }

  // This stream windowed by `assigner` (a brook::WindowAssigner); returns a
  // WindowedStream<K, T>. Defined in brook/window.h: include it to call.
  template <typename A>
  auto Window(A assigner) const;

  const std::function<K(const T&)>& key_selector() const { return key_selector_; }

  // The input, hash-partitioned by this stream's key: the next operator added
  // to it is keyed. Used to build keyed operators (windows) on this API.
  DataStream<T> Partitioned() const {
    return DataStream<T>(input_.env_, input_.node_, input_.tag_, HashPartitioner());
  }

 private:
  template <typename O>
  using KeyedProcessOp = internal::KeyedProcessOperator<K, T, O>;

  // By the key group of the record's key (DESIGN.md §3).
  std::shared_ptr<internal::PartitionerBase> HashPartitioner() const {
    auto p = std::make_shared<internal::Partitioner<T>>(internal::Partitioning::kHash);
    auto selector = key_selector_;
    p->key_hash = [selector](const T& v) { return KeyHash<K>()(selector(v)); };
    return p;
  }
  DataStream<T> input_;
  std::function<K(const T&)> key_selector_;
};

template <typename T>
DataStream<T> StreamExecutionEnvironment::FromSource(std::shared_ptr<Source<T>> source,
                                                     WatermarkStrategy<T> strategy,
                                                     std::string name) {
  return DataStream<T>(this, AddSource(std::move(source), std::move(strategy), std::move(name)));
}

template <typename T>
int StreamExecutionEnvironment::AddSource(std::shared_ptr<Source<T>> source,
                                          WatermarkStrategy<T> strategy, std::string name) {
  internal::StreamNode node;
  node.id = static_cast<int>(graph_->nodes.size());
  node.kind = internal::StreamNode::Kind::kSource;
  node.name = std::move(name);
  node.parallelism = config_.parallelism;
  node.output_type = std::make_shared<internal::TypeOps<T>>();
  const Boundedness boundedness = source->boundedness();
  node.bounded_source = boundedness == Boundedness::kBounded;
  const SourceStateDistribution distribution = source->state_distribution();
  node.factory = [source, strategy, boundedness, distribution](const internal::SubtaskInfo& info)
      -> absl::StatusOr<std::unique_ptr<internal::OperatorBase>> {
    SourceReaderContext ctx{info.subtask_index, info.parallelism, info.metrics};
    auto reader = source->CreateReader(ctx);
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<internal::OperatorBase>(
        new internal::SourceDriver<T>(std::move(*reader), strategy, boundedness, distribution));
  };
  const internal::SourceTiming timing = internal::SourceTimingOf(config_);
  node.make_source_subtask = [strategy, boundedness, timing](internal::OperatorBase* driver,
                                                             internal::TimerScheduler* clock) {
    return std::unique_ptr<internal::SubtaskBase>(new internal::SourceSubtask<T>(
        static_cast<internal::SourceDriver<T>*>(driver), strategy, boundedness, clock, timing));
  };
  graph_->nodes.push_back(std::move(node));
  return graph_->nodes.back().id;
}

template <typename T>
DataStream<T> StreamExecutionEnvironment::FromCollection(std::vector<T> values,
                                                         WatermarkStrategy<T> strategy,
                                                         std::string name) {
  auto stream = FromSource<T>(std::make_shared<CollectionSource<T>>(std::move(values)),
                              std::move(strategy), std::move(name));
  stream.SetParallelism(1);
  return stream;
}

}  // namespace brook

#endif  // BROOK_STREAM_H_
