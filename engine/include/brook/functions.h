// File: brook/functions.h
//
// The user-function API, shaped like Flink's: a KeyedProcessFunction gets
// each record of its key with a context (timestamp, current key, timers, side
// outputs) and a Collector, and OnTimer for each timer that fires; keyed state
// comes from its RuntimeContext in Open(). A ProcessFunction is the same for a
// non-keyed stream (no keyed state, no timers).
//
// Lifecycle (Flink's StreamOperator): Open -> ProcessElement/OnTimer ... ->
// Close. The runtime never calls one function instance concurrently, so user
// code needs no locks (Flink's mailbox model). Each parallel subtask gets its
// own copy of the function object (functions must be copyable).
//
// Errors: a non-OK status returned from any hook fails the job; Execute()
// returns it. Contexts and Collectors are valid only during the call they
// are passed to: do not store them.
#ifndef BROOK_FUNCTIONS_H_
#define BROOK_FUNCTIONS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/internal/keyed_state_backend.h"
#include "brook/internal/operator.h"
#include "brook/internal/output.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/serialization.h"
#include "brook/state.h"
#include "brook/timer_service.h"

namespace brook {

namespace internal {
template <typename T>
struct CollectorAccess;
template <Key K, typename In, typename Out>
class KeyedProcessOperator;
template <typename In, typename Out>
class ProcessOperator;
}  // namespace internal

// Collector<T>: where a function emits records. A record takes the timestamp
// of the element being processed (or of the timer firing), as Flink's
// TimestampedCollector, unless CollectWithTimestamp gives one.
template <typename T>
class Collector {
 public:
  void Collect(const T& value) { output_->Collect(value, timestamp_ms_); }
  void Collect(T&& value) { output_->Collect(std::move(value), timestamp_ms_); }
  void CollectWithTimestamp(const T& value, int64_t timestamp_ms) {
    output_->Collect(value, timestamp_ms);
  }
  void CollectWithTimestamp(T&& value, int64_t timestamp_ms) {
    output_->Collect(std::move(value), timestamp_ms);
  }

 private:
  friend struct internal::CollectorAccess<T>;
  Collector() = default;
  internal::Output<T>* output_ = nullptr;
  int64_t timestamp_ms_ = 0;
};

namespace internal {
template <typename T>
struct CollectorAccess {
  static Collector<T> Make(Output<T>* out) {
    Collector<T> c;
    c.output_ = out;
    return c;
  }
  static void SetTimestamp(Collector<T>& c, int64_t ts) { c.timestamp_ms_ = ts; }
};
}  // namespace internal

// RuntimeContext: facts about the subtask a function runs in.
class RuntimeContext {
 public:
  int subtask_index() const { return setup_->subtask_index; }
  int parallelism() const { return setup_->parallelism; }
  int max_parallelism() const { return setup_->max_parallelism; }
  const std::string& operator_name() const { return setup_->operator_name; }
  const std::string& job_name() const { return setup_->job_name; }
  // This subtask's metrics (counters named e.g. "num_duplicates").
  MetricGroup& metrics() const { return *setup_->metrics; }

 protected:
  // Made by the runtime only (ProcessOperator, KeyedRuntimeContext).
  explicit RuntimeContext(const internal::OperatorSetup* setup) : setup_(setup) {}

 private:
  template <typename In, typename Out>
  friend class internal::ProcessOperator;
  const internal::OperatorSetup* setup_;
};

// KeyedRuntimeContext<K>: a RuntimeContext with keyed state. Get*State may be
// called only from Open(). Returns kInvalidArgument when a state of that name
// already exists with another kind or type. When the job restores from a
// checkpoint, the state is filled with the checkpointed entries of this
// subtask's key groups: kFailedPrecondition when the checkpointed state of
// that name has another kind or TTL-ness, kDataLoss when its bytes do not
// decode, kResourceExhausted when the memory for the descriptor's
// expected_keys cannot be allocated (Open() should return the error).
template <Key K>
class KeyedRuntimeContext : public RuntimeContext {
 public:
  template <typename V>
  absl::StatusOr<ValueState<V>> GetState(const ValueStateDescriptor<V>& d) {
    auto impl = backend_->template GetValueState<V>(d.name, d.ttl, d.serializer,
                                                     KeysPerKeyGroup(d.expected_keys));
    if (!impl.ok()) return impl.status();
    return internal::StateAccess::Value(*impl);
  }
  template <typename UK, typename UV>
  absl::StatusOr<MapState<UK, UV>> GetMapState(const MapStateDescriptor<UK, UV>& d) {
    auto impl = backend_->template GetMapState<UK, UV>(d.name, d.ttl, d.serializer,
                                                        KeysPerKeyGroup(d.expected_keys));
    if (!impl.ok()) return impl.status();
    return internal::StateAccess::Map(*impl);
  }
  template <typename V>
  absl::StatusOr<ListState<V>> GetListState(const ListStateDescriptor<V>& d) {
    auto impl = backend_->template GetListState<V>(d.name, d.ttl, d.serializer,
                                                    KeysPerKeyGroup(d.expected_keys));
    if (!impl.ok()) return impl.status();
    return internal::StateAccess::List(*impl);
  }
  template <typename V>
  absl::StatusOr<ReducingState<V>> GetReducingState(const ReducingStateDescriptor<V>& d) {
    auto impl = backend_->template GetValueState<V>(d.name, d.ttl, d.serializer,
                                                     KeysPerKeyGroup(d.expected_keys));
    if (!impl.ok()) return impl.status();
    return internal::StateAccess::Reducing(*impl, d.reduce);
  }

 private:
  template <Key K2, typename In, typename Out>
  friend class internal::KeyedProcessOperator;
  KeyedRuntimeContext(const internal::OperatorSetup* setup,
                      internal::HeapKeyedStateBackend<K>* backend)
      : RuntimeContext(setup), backend_(backend) {}
  // A descriptor's expected_keys as keys per key group (rounded up).
  size_t KeysPerKeyGroup(int64_t expected_keys) const {
    if (expected_keys <= 0) return 0;
    const int64_t m = std::max(max_parallelism(), 1);
    return static_cast<size_t>(expected_keys / m + (expected_keys % m != 0 ? 1 : 0));
  }
  internal::HeapKeyedStateBackend<K>* backend_;
};

// The context of a ProcessFunction call.
class ProcessContext {
 public:
  // Event timestamp of the current record, epoch ms.
  int64_t timestamp() const { return timestamp_ms_; }
  int64_t CurrentWatermark() const { return watermark_ms_; }
  // Emits `value` to the side output `tag`, with the current timestamp.
  template <typename X>
  void Output(const OutputTag<X>& tag, X value) {
    side_outputs_->Emit(tag, std::move(value), timestamp_ms_);
  }
  // Emits `value` to the side output `tag` with timestamp `timestamp_ms`
  // (as Collector::CollectWithTimestamp; e.g. a window's max timestamp).
  template <typename X>
  void OutputWithTimestamp(const OutputTag<X>& tag, X value, int64_t timestamp_ms) {
    side_outputs_->Emit(tag, std::move(value), timestamp_ms);
  }

 private:
  template <typename In, typename Out>
  friend class internal::ProcessOperator;
  template <Key K, typename In, typename Out>
  friend class internal::KeyedProcessOperator;
  int64_t timestamp_ms_ = 0;
  int64_t watermark_ms_ = kMinTimestampMs;
  internal::SideOutputs* side_outputs_ = nullptr;
};

// The context of a KeyedProcessFunction call.
template <Key K>
class KeyedContext : public ProcessContext {
 public:
  // The key of the record (or timer) being processed.
  const K& GetCurrentKey() const { return *key_; }
  TimerService& timer_service() const { return *timer_service_; }
  // In OnTimer: which clock fired the timer.
  TimeDomain time_domain() const { return time_domain_; }

 private:
  template <Key K2, typename In, typename Out>
  friend class internal::KeyedProcessOperator;
  const K* key_ = nullptr;
  TimerService* timer_service_ = nullptr;
  TimeDomain time_domain_ = TimeDomain::kEventTime;
};

// KeyedProcessFunction<K, I, O>: the general keyed operator (Flink's
// KeyedProcessFunction). Subclass it; brook's built-in operators do too.
template <Key K, typename I, typename O>
class KeyedProcessFunction {
 public:
  using KeyType = K;
  using InputType = I;
  using OutputType = O;
  using RuntimeContext = KeyedRuntimeContext<K>;
  using Context = KeyedContext<K>;
  using OnTimerContext = KeyedContext<K>;

  virtual ~KeyedProcessFunction() = default;
  // Create state handles here.
  virtual absl::Status Open(RuntimeContext& /*ctx*/) { return absl::OkStatus(); }
  virtual absl::Status ProcessElement(const I& value, Context& ctx, Collector<O>& out) = 0;
  // The overload the runtime calls: `value` is the function's to move from
  // (the runtime discards the record afterwards). Override it as well to pass
  // a record on without copying it, e.g. out.Collect(std::move(value)); both
  // overloads must then behave alike. Default: the const& overload.
  virtual absl::Status ProcessElement(I&& value, Context& ctx, Collector<O>& out) {
    return ProcessElement(static_cast<const I&>(value), ctx, out);
  }
  // A timer registered for the current key fired at `timestamp_ms`.
  virtual absl::Status OnTimer(int64_t /*timestamp_ms*/, OnTimerContext& /*ctx*/,
                               Collector<O>& /*out*/) {
    return absl::OkStatus();
  }
  // The input ended (after the final watermark has fired every event-time
  // timer). Output emitted here still reaches downstream. There is no current
  // key here: GetCurrentKey() and keyed state refer to whichever key was
  // processed last, so do not use them.
  virtual absl::Status EndInput(Context& /*ctx*/, Collector<O>& /*out*/) {
    return absl::OkStatus();
  }
  virtual absl::Status Close() { return absl::OkStatus(); }
};

// CheckpointedFunction: implemented (besides KeyedProcessFunction or
// ProcessFunction) by a function that keeps its own non-keyed state, as
// Flink's CheckpointedFunction with operator list state under round-robin
// redistribution. Keyed state needs no such hook.
// Example:
//   class CountAll : public brook::ProcessFunction<Event, Event>,
//                    public brook::CheckpointedFunction {
//    public:
//     absl::Status ProcessElement(const Event& e, Context&,
//                                 brook::Collector<Event>& out) override {
//       ++count_;
//       out.Collect(e);
//       return absl::OkStatus();
//     }
//     absl::Status SnapshotState(int64_t, brook::DataOutputView& out) override {
//       out.WriteInt64(count_);
//       return absl::OkStatus();
//     }
//     absl::Status InitializeState(const std::vector<std::string>& states) override {
//       for (const std::string& s : states) {  // sum over the old subtasks
//         int64_t c = 0;
//         BROOK_RETURN_IF_ERROR(brook::DeserializeFromString(s, &c));
//         count_ += c;
//       }
//       return absl::OkStatus();
//     }
//     int64_t count() const { return count_; }
//
//    private:
//     int64_t count_ = 0;
//   };
class CheckpointedFunction {
 public:
  virtual ~CheckpointedFunction() = default;
  // The synchronous part of checkpoint `checkpoint_id`, on the subtask's
  // thread, after every record before the barrier: write this subtask's
  // state to `out`. Keep it small (the subtask is paused meanwhile). A
  // non-OK status declines the checkpoint.
  virtual absl::Status SnapshotState(int64_t checkpoint_id, DataOutputView& out) = 0;
  // Called once before Open() when the job restores from a checkpoint or
  // savepoint (not on a fresh start), with the states that old subtasks j
  // with j % parallelism == this subtask wrote (exactly one when the
  // parallelism did not change; none for a subtask beyond the old
  // parallelism). Return kDataLoss for bytes that do not decode.
  virtual absl::Status InitializeState(const std::vector<std::string>& states) = 0;
};

// ProcessFunction<I, O>: per-record function on a non-keyed stream.
template <typename I, typename O>
class ProcessFunction {
 public:
  using InputType = I;
  using OutputType = O;
  using Context = ProcessContext;

  virtual ~ProcessFunction() = default;
  virtual absl::Status Open(RuntimeContext& /*ctx*/) { return absl::OkStatus(); }
  virtual absl::Status ProcessElement(const I& value, Context& ctx, Collector<O>& out) = 0;
  // The overload the runtime calls, as KeyedProcessFunction's: `value` may be
  // moved from. Default: the const& overload.
  virtual absl::Status ProcessElement(I&& value, Context& ctx, Collector<O>& out) {
    return ProcessElement(static_cast<const I&>(value), ctx, out);
  }
  virtual absl::Status Close() { return absl::OkStatus(); }
};

}  // namespace brook

#endif  // BROOK_FUNCTIONS_H_
