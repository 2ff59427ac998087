// File: brook/connectors/kafka/kafka_exchange.h
//
// KafkaExchange<K, T>: a keyed exchange between processes through a Kafka
// topic (DESIGN.md §12; docs/kafka.md, "Exchange"). N processes run the same
// job, each with its own checkpoints; where records must meet on one key,
// the upstream side writes them to the exchange topic and the downstream
// side, in whichever process owns the key, reads them back. Exactly once
// across processes without Kafka transactions: records are tagged with their
// producing task and a per-task sequence number, and the reader drops what it
// has already seen.
//
// Usage (the same code in every process; only process_index differs):
//   KafkaExchangeOptions options;
//   options.bootstrap_servers = "broker:9092";
//   options.topic = "camera-top-k-topk-repartition";
//   options.num_processes = 3;
//   options.process_index = 1;
//   options.upstream_parallelism = 2;   // the sending operator's parallelism
//   options.bounded = true;             // the upstream input ends
//   BROOK_ASSIGN_OR_RETURN(auto exchange, KafkaExchange<int64_t, Partial>::Create(
//       options, [](const Partial& p) { return p.location; }));
//   DataStream<Partial> partials = ...;  // parallelism 2, chained to the sink
//   KeyedStream<int64_t, Partial> by_location = exchange->Through(partials);
//   by_location.Process(MergePartials(), "merge") ...
// or the two sides separately: exchange->Send(partials) in the upstream job,
// exchange->Receive(env) in the downstream one.
//
// The model:
//   - Tasks. An upstream task is one subtask of the sink (Send) in one
//     process: task = process_index * upstream_parallelism + subtask, of
//     num_processes * upstream_parallelism tasks. Every process must run the
//     sink at upstream_parallelism (CreateWriter checks it).
//   - Routing. A record's key goes to its key group (Flink's rule, over
//     max_parallelism key groups), the key group to exchange partition
//     KafkaExchangePartition(key_group, max_parallelism, P), P being the
//     topic's actual partition count (a contiguous range of key groups per
//     partition, Flink's operator-index formula with P as parallelism), so
//     every record of a key goes to one partition.
//   - Ownership. The downstream source is split-aware: one split per
//     exchange partition, "TOPIC/PARTITION", read by source subtask
//     KafkaPartitionOwner(topic, partition, num_processes * parallelism)
//     of the whole job, i.e. the subtask s of process i with
//     i * parallelism + s equal to it (Flink's split-owner formula, the
//     KafkaSource's own code). So one process owns each partition, hence
//     each key; Receive() keys the stream again inside that process (a local
//     KeyBy), which places the key on the subtask that owns its key group
//     there: keyed state and timers of a key live in exactly one process and
//     in its checkpoints. num_processes, the downstream parallelism and the
//     partition count must stay the same across restarts of a run.
//   - Markers. Each upstream task sends its watermark (every advance the
//     sink sees) and its end of input as markers to EVERY partition. A
//     split's watermark is the minimum over all upstream tasks' latest
//     markers in that partition (a task with none yet holds it at
//     kMinTimestampMs); the source's watermark is the minimum over its
//     splits, as Flink's per-split watermarks. A split whose every task sent
//     end of input is finished; a reader whose splits are all finished ends.
//   - Deduplication. Sequence numbers count each task's records from 1,
//     over all partitions. The reader keeps, per split and task, the highest
//     sequence seen, and drops a record at or below it: a restarted upstream
//     process resends what followed its checkpoint with the same numbers,
//     and those already delivered are dropped. Markers are idempotent
//     (a watermark never goes back, end of input is a flag).
//   - Checkpoints. The sink flushes its producer at the checkpoint barrier
//     (at-least-once into the topic, idempotent producer: no duplicates
//     from retries, and per partition what a crashed producer delivered is
//     a prefix of what it sent) and checkpoints its next sequence number.
//     The source checkpoints its offsets, and per split and task the highest
//     sequence, the watermark and end of input; on checkpoint completion it
//     commits its offsets under group_id (monitoring only). Together: exactly
//     once, when the upstream is deterministic (below).
//   - Determinism (REQUIRED for exactly-once). After a restore, an upstream
//     task must send the same records in the same order as before the
//     crash, so that each gets its old sequence number. That holds when the
//     sink is chained (forward edge, same parallelism) to an operator whose
//     output order is a function of its input, fed by one deterministic
//     input (a bounded KafkaSource reader, a file), or when the operator
//     emits only from event-time timers, which fire in (timestamp, key)
//     order whatever the watermarks' steps (a window operator, even behind a
//     KeyBy, without early firings and with no record late by more than the
//     out-of-orderness bound). It does NOT hold for an operator emitting per
//     record behind a KeyBy/Rebalance/Union that merges several subtasks
//     (their interleaving depends on timing), nor for processing-time logic;
//     there a restore can drop or repeat records.
//   - A run. The topic holds one run of the job: the reader starts at the
//     earliest offset (or its checkpoint) and sequence numbers restart at 1
//     with a fresh start. Start a new run on new topics (another name), or
//     delete them first.
//   - Topic creation. Each side, when it opens, creates the topic with
//     `partitions` partitions through the admin API (CreateTopics) unless
//     it exists; where the cluster has no admin API (librdkafka's mock),
//     a metadata request for the topic creates it if the cluster
//     auto-creates topics (the mock: 4 partitions); otherwise it must exist.
//
// Message layout (value; little-endian, fixed width; the key is null):
//   byte 0      format version, 1
//   byte 1      kind: 0 record, 1 watermark, 2 end of input
//   bytes 2-5   task (int32)
//   record:     bytes 6-13 sequence (int64, from 1); 14-21 event timestamp ms
//               (int64); then the record, brook::TypeSerializer<T>'s bytes
//   watermark:  bytes 6-13 the watermark, ms (int64)
//   end:        bytes 6-13 the task's last sequence number (int64)
// A message that does not decode fails the job (kDataLoss naming the
// partition and offset): it means another writer or version on the topic.
//
// Metrics. Sink (its operator group): records_sent, bytes_sent (messages,
// markers included), delivery_failures, flush_time_ms as KafkaSink's, and
// exchange_markers_sent.
// Source (the reader's group): KafkaSource's kafka_* metrics per split, and
// exchange_records_in, exchange_duplicates_dropped, exchange_markers_in.
//
// Thread-safety: the exchange object is used while jobs are built and is
// shared by their writers and readers (what it caches is guarded); each
// writer and reader runs on its subtask's thread only. Per record the sink
// calls the key selector (a std::function, as KeyBy does) and the producer
// seam (one virtual call); the reader one virtual call (its split output);
// records are encoded into a reused buffer.
#ifndef BROOK_CONNECTORS_KAFKA_KAFKA_EXCHANGE_H_
#define BROOK_CONNECTORS_KAFKA_KAFKA_EXCHANGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/connectors/kafka/kafka_sink.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/key_group.h"
#include "brook/serialization.h"
#include "brook/sink.h"
#include "brook/source.h"
#include "brook/status.h"
#include "brook/stream.h"
#include "brook/watermark_strategy.h"

namespace brook::connectors {

struct KafkaExchangeOptions {
  // bootstrap.servers, "HOST:PORT[,...]" (required).
  std::string bootstrap_servers;
  // The exchange topic (required); one run of the job (see above).
  std::string topic;
  // Partitions to create the topic with when it is missing (>= 1), where the
  // cluster lets clients create topics. Where it does not, the topic's
  // existing (or auto-created) partition count is used.
  int partitions = 4;
  // The processes running the job (>= 1) and this one's index, 0-based.
  int num_processes = 1;
  int process_index = 0;
  // The parallelism of the sink in every process (>= 1): the downstream
  // side expects num_processes * upstream_parallelism tasks.
  int upstream_parallelism = 1;
  // Key groups used for routing (>= 1); need not match the jobs' own.
  int max_parallelism = kDefaultMaxParallelism;
  // Whether the upstream input ends (then the source is bounded, with
  // position-based watermark alignment as other bounded sources). Either way
  // the source ends once every upstream task sent end of input to its splits.
  bool bounded = false;
  // Where the source commits its offsets on checkpoint completion, for lag
  // monitoring; empty: no commits.
  std::string group_id;
  // More librdkafka properties of the sink's producer (applied after
  // enable.idempotence=true) and of the source's consumer (as
  // KafkaSourceOptions::properties), e.g. security settings.
  KafkaProperties producer_properties;
  KafkaProperties consumer_properties;
  // The longest a flush (at a barrier, at the end of input) waits.
  absl::Duration flush_timeout = absl::Minutes(5);
  // Timeout of topic creation and of the metadata queries made on open, ms.
  int64_t request_timeout_ms = 10000;
  // Messages one source PollNext consumes at most (>= 1).
  int max_records_per_poll = 2000;
  // Makes the sink's producers; empty = librdkafka's. Tests pass a fake.
  KafkaProducerFactory producer_factory;
};

// kInvalidArgument naming the first bad field (empty servers or topic,
// partitions < 1, process_index outside [0, num_processes), ...).
absl::Status ValidateKafkaExchangeOptions(const KafkaExchangeOptions& options);

// The exchange partition of `key_group` among `partitions`:
// key_group * partitions / max_parallelism (Flink's operator index for a key
// group, with the partitions as parallelism). With more partitions than key
// groups some partitions stay empty.
int KafkaExchangePartition(int key_group, int max_parallelism, int partitions);

// Creates `topic` with `partitions` partitions (replication: the cluster's
// default) unless it exists, and waits until its metadata shows it; returns
// its partition count. Where the cluster has no CreateTopics (librdkafka's
// mock), a metadata request for the topic makes a cluster that
// auto-creates topics create it. kNotFound when the topic neither exists nor
// can be created, kUnavailable when the cluster does not answer within
// `timeout`, kInvalidArgument for a property librdkafka rejects.
absl::StatusOr<int> EnsureKafkaTopic(const std::string& bootstrap_servers,
                                     const std::string& topic, int partitions,
                                     const KafkaProperties& properties, absl::Duration timeout);

namespace kafka_exchange_internal {

// What the sink and source of one exchange share: the options and the
// topic's partition count, found (and the topic created) once.
class ExchangeShared {
 public:
  explicit ExchangeShared(KafkaExchangeOptions options) : options_(std::move(options)) {}
  const KafkaExchangeOptions& options() const { return options_; }
  // EnsureKafkaTopic's count, asked once successfully, then cached.
  absl::StatusOr<int> PartitionCount();

 private:
  const KafkaExchangeOptions options_;
  absl::Mutex mu_;
  int partitions_ ABSL_GUARDED_BY(mu_) = 0;
};

// The non-template part of a sink writer: routing, encoding of the prefix,
// sequence numbers, markers, the producer (KafkaSink's at-least-once core).
class ExchangeWriterCore {
 public:
  ExchangeWriterCore(std::shared_ptr<ExchangeShared> shared, const SinkWriterContext& ctx);
  ~ExchangeWriterCore();
  // kInvalidArgument when the writer's parallelism is not
  // upstream_parallelism; errors of EnsureKafkaTopic and of the producer.
  absl::Status Open();
  // Starts the next record for `key_group` at `timestamp_ms`: returns its
  // value buffer holding the prefix, to which the caller appends the record.
  std::string& BeginRecord(int key_group, int64_t timestamp_ms);
  absl::Status SendRecord();
  absl::Status EndBatch();
  absl::Status SendWatermark(int64_t watermark_ms);
  // Sends end of input to every partition and flushes.
  absl::Status Finish();
  // Flushes; the state is the next sequence number and the task.
  absl::StatusOr<std::string> Snapshot(int64_t checkpoint_id);
  // kFailedPrecondition for a state of another task (the parallelism or the
  // process count changed); kDataLoss for bytes that do not decode.
  absl::Status Restore(const std::vector<std::string>& states);
  absl::Status Close();

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// The non-template part of a source reader: a KafkaSource reader core over
// the exchange topic (ownership over num_processes * parallelism), decoding,
// deduplication, per-task watermarks and end of input.
class ExchangeReaderCore {
 public:
  enum class Event {
    kRecord,            // payload() and timestamp_ms() of split split_id()
    kWatermark,         // split split_id()'s watermark rose to watermark_ms()
    kSplitFinished,     // every upstream task ended split split_id()
    kNothingAvailable,  // nothing fetched for now
    kIdle,              // owns no split, unbounded
    kEndOfInput,        // every owned split finished (or none owned, bounded)
  };
  static absl::StatusOr<std::unique_ptr<ExchangeReaderCore>> Create(
      std::shared_ptr<ExchangeShared> shared, const SourceReaderContext& ctx);
  ~ExchangeReaderCore();

  absl::Status Restore(const std::vector<std::string>& states);
  absl::Status Open();
  absl::StatusOr<Event> Next();
  // The current split: its index among the owned ones and its id.
  int split_index() const;
  const std::string& split_id() const;
  std::vector<std::string> SplitIds() const;
  std::string_view payload() const;
  int64_t timestamp_ms() const;
  int64_t watermark_ms() const;
  // kDataLoss naming the current message, for a payload that does not decode.
  absl::Status PayloadError(const absl::Status& cause) const;

  absl::StatusOr<std::string> Snapshot(int64_t checkpoint_id);
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id);
  absl::Status Close();

 private:
  struct Rep;
  explicit ExchangeReaderCore(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace kafka_exchange_internal

template <Key K, Serializable T>
class KafkaExchange {
 public:
  using KeySelector = std::function<K(const T&)>;

  // kInvalidArgument for bad options (ValidateKafkaExchangeOptions) or no
  // key selector. Connects to nothing: writers and readers do when they open
  // (creating the topic if needed).
  static absl::StatusOr<std::shared_ptr<KafkaExchange>> Create(KafkaExchangeOptions options,
                                                               KeySelector key_selector);

  // The upstream side: a sink that routes each record by its key (see the
  // file comment). Run it at upstream_parallelism.
  std::shared_ptr<Sink<T>> sink() const { return sink_; }
  // The downstream side: a split-aware source (state distribution kUnion),
  // emitting each record with its upstream event timestamp and the
  // watermarks of the markers. Use it with watermark_strategy().
  std::shared_ptr<Source<T>> source() const { return source_; }
  // No generated watermarks: the source emits the markers' (as
  // SourceOutput::EmitWatermark), and timestamps are the upstream's.
  static WatermarkStrategy<T> watermark_strategy() { return WatermarkStrategy<T>::NoWatermarks(); }

  // Writes `stream` into the exchange: the sink at upstream_parallelism, on a
  // forward edge (chained to the operator that makes `stream` when that
  // runs at upstream_parallelism too, as determinism needs).
  void Send(const DataStream<T>& stream, std::string name = "exchange-send") const {
    stream.SinkTo(sink_, std::move(name), options().upstream_parallelism);
  }
  // Reads the exchange in `env`, at `parallelism` (0: the environment's),
  // keyed by the key selector inside this process.
  KeyedStream<K, T> Receive(StreamExecutionEnvironment& env,
                            std::string name = "exchange-receive", int parallelism = 0) const {
    DataStream<T> stream = env.FromSource(source_, watermark_strategy(), std::move(name));
    if (parallelism > 0) stream.SetParallelism(parallelism);
    return stream.KeyBy(key_selector_);
  }
  // Send(stream) and Receive(its environment): KeyBy across processes.
  KeyedStream<K, T> Through(const DataStream<T>& stream, std::string name = "exchange",
                            int parallelism = 0) const {
    Send(stream, absl::StrCat(name, "-send"));
    return Receive(*stream.env(), absl::StrCat(name, "-receive"), parallelism);
  }

  const KafkaExchangeOptions& options() const { return shared_->options(); }
  const KeySelector& key_selector() const { return key_selector_; }

 private:
  class ExchangeSink;
  class ExchangeSource;

  KafkaExchange(std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared,
                KeySelector key_selector);

  std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared_;
  KeySelector key_selector_;
  std::shared_ptr<Sink<T>> sink_;
  std::shared_ptr<Source<T>> source_;
};

// ---- implementation

template <Key K, Serializable T>
class KafkaExchange<K, T>::ExchangeSink final : public Sink<T> {
 public:
  ExchangeSink(std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared,
               KeySelector key_selector)
      : shared_(std::move(shared)), key_selector_(std::move(key_selector)) {}

  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override {
    auto writer = std::make_unique<Writer>(shared_, key_selector_, ctx);
    BROOK_RETURN_IF_ERROR(writer->core.Open());
    return std::unique_ptr<SinkWriter<T>>(std::move(writer));
  }

 private:
  struct Writer final : SinkWriter<T> {
    Writer(std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared,
           const KeySelector& selector, const SinkWriterContext& ctx)
        : core(shared, ctx),
          key_selector(selector),
          max_parallelism(shared->options().max_parallelism) {}

    absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
      for (const StreamRecord<T>& r : batch) {
        const int key_group = AssignToKeyGroup(key_selector(r.value), max_parallelism);
        DataOutputView out(&core.BeginRecord(key_group, r.timestamp_ms));
        TypeSerializer<T>::Serialize(r.value, out);
        BROOK_RETURN_IF_ERROR(core.SendRecord());
      }
      return core.EndBatch();
    }
    absl::Status OnWatermark(int64_t watermark_ms) override {
      return core.SendWatermark(watermark_ms);
    }
    absl::Status Flush() override { return core.Finish(); }
    absl::Status Close() override { return core.Close(); }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      return core.Snapshot(checkpoint_id);
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      return core.Restore(states);
    }

    kafka_exchange_internal::ExchangeWriterCore core;
    KeySelector key_selector;
    const int max_parallelism;
  };

  std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared_;
  KeySelector key_selector_;
};

template <Key K, Serializable T>
class KafkaExchange<K, T>::ExchangeSource final : public Source<T> {
 public:
  explicit ExchangeSource(std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared)
      : shared_(std::move(shared)) {}

  Boundedness boundedness() const override {
    return shared_->options().bounded ? Boundedness::kBounded : Boundedness::kContinuousUnbounded;
  }
  SourceStateDistribution state_distribution() const override {
    return SourceStateDistribution::kUnion;
  }
  absl::StatusOr<std::unique_ptr<SourceReader<T>>> CreateReader(
      const SourceReaderContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(auto core, Core::Create(shared_, ctx));
    return std::unique_ptr<SourceReader<T>>(
        new Reader(std::move(core), shared_->options().max_records_per_poll));
  }

 private:
  using Core = kafka_exchange_internal::ExchangeReaderCore;

  class Reader final : public SourceReader<T> {
   public:
    Reader(std::unique_ptr<Core> core, int max_records_per_poll)
        : core_(std::move(core)), max_records_per_poll_(max_records_per_poll) {}

    absl::Status Open() override { return core_->Open(); }
    absl::Status RestoreState(std::vector<std::string> states) override {
      return core_->Restore(states);
    }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      return core_->Snapshot(checkpoint_id);
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      return core_->NotifyCheckpointComplete(checkpoint_id);
    }
    absl::Status Close() override { return core_->Close(); }

    absl::StatusOr<InputStatus> PollNext(ReaderOutput<T>& output) override {
      if (!split_outputs_created_) {
        // Every split holds the watermark back until its tasks' markers come.
        for (const std::string& id : core_->SplitIds()) output.CreateOutputForSplit(id);
        split_outputs_created_ = true;
      }
      SourceOutput<T>* split = nullptr;
      int split_index = -1;
      auto current_split = [&]() -> SourceOutput<T>& {
        if (core_->split_index() != split_index) {
          split = &output.CreateOutputForSplit(core_->split_id());
          split_index = core_->split_index();
        }
        return *split;
      };
      for (int consumed = 0; consumed < max_records_per_poll_;) {
        BROOK_ASSIGN_OR_RETURN(const Core::Event event, core_->Next());
        switch (event) {
          case Core::Event::kRecord: {
            DataInputView in(core_->payload());
            absl::Status decoded = TypeSerializer<T>::Deserialize(in, &record_);
            if (decoded.ok() && !in.AtEnd()) {
              decoded = absl::DataLossError(absl::StrCat(in.remaining(), " trailing bytes"));
            }
            if (!decoded.ok()) return core_->PayloadError(decoded);
            current_split().Collect(std::move(record_), core_->timestamp_ms());
            ++consumed;
            break;
          }
          case Core::Event::kWatermark:
            current_split().EmitWatermark(core_->watermark_ms());
            ++consumed;
            break;
          case Core::Event::kSplitFinished:
            output.ReleaseOutputForSplit(core_->split_id());
            split_index = -1;
            break;
          case Core::Event::kNothingAvailable:
            return consumed > 0 ? InputStatus::kMoreAvailable : InputStatus::kNothingAvailable;
          case Core::Event::kIdle:
            output.MarkIdle();
            return InputStatus::kNothingAvailable;
          case Core::Event::kEndOfInput:
            return InputStatus::kEndOfInput;
        }
      }
      return InputStatus::kMoreAvailable;
    }

   private:
    std::unique_ptr<Core> core_;
    const int max_records_per_poll_;
    bool split_outputs_created_ = false;
    T record_{};
  };

  std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared_;
};

template <Key K, Serializable T>
KafkaExchange<K, T>::KafkaExchange(
    std::shared_ptr<kafka_exchange_internal::ExchangeShared> shared, KeySelector key_selector)
    : shared_(std::move(shared)),
      key_selector_(std::move(key_selector)),
      sink_(std::make_shared<ExchangeSink>(shared_, key_selector_)),
      source_(std::make_shared<ExchangeSource>(shared_)) {}

template <Key K, Serializable T>
absl::StatusOr<std::shared_ptr<KafkaExchange<K, T>>> KafkaExchange<K, T>::Create(
    KafkaExchangeOptions options, KeySelector key_selector) {
  BROOK_RETURN_IF_ERROR(ValidateKafkaExchangeOptions(options));
  if (!key_selector) return absl::InvalidArgumentError("KafkaExchange: no key selector");
  auto shared = std::make_shared<kafka_exchange_internal::ExchangeShared>(std::move(options));
  return std::shared_ptr<KafkaExchange>(new KafkaExchange(std::move(shared), std::move(key_selector)));
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_KAFKA_EXCHANGE_H_
