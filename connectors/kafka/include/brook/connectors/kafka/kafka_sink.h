// File: brook/connectors/kafka/kafka_sink.h
//
// KafkaSink<T>: records of T written to Kafka topics, as Flink's KafkaSink
// (docs/kafka.md). A serializer turns each record into a key, a value,
// optional headers and optionally its own topic; librdkafka partitions by key
// (a null key: spread over the partitions).
//
// Delivery guarantees (Flink's DeliveryGuarantee):
//   kNone          records are handed to the producer and forgotten: no flush
//                  at checkpoint barriers, failed deliveries only counted.
//                  A crash loses what was queued; a restore may repeat.
//   kAtLeastOnce   the default. Idempotent producer (no duplicates from
//                  retries); at each checkpoint barrier the writer flushes
//                  (waits until every record before the barrier is
//                  acknowledged), and any failed delivery fails the checkpoint
//                  and the job, so a complete checkpoint means its records are
//                  in Kafka. A restore repeats what followed the checkpoint.
//   kExactlyOnce   one Kafka transaction per checkpoint and subtask, with
//                  transactional.id "<prefix>-<subtask>-<n>" (n: a small pool,
//                  since a transaction pre-committed at a barrier commits only
//                  when its checkpoint completes, while the next one is open):
//                  begun at the first record after a barrier; pre-committed
//                  (flushed) at the barrier; committed on
//                  NotifyCheckpointComplete; at the end of input everything is
//                  committed. On restore the writer initialises the
//                  transactional ids in its state, which fences the earlier
//                  producers and aborts their open transactions. Consumers
//                  must read with isolation.level=read_committed.
//                  The limit: librdkafka cannot commit a transaction begun by
//                  another producer instance (Flink's Java sink resumes it by
//                  reflection), so after a crash between the completion of
//                  checkpoint N and the commit of its transaction that
//                  transaction is aborted on restore, and the records it held
//                  (the input between checkpoints N-1 and N, which the restored
//                  source does not read again) are lost: exactly-once holds for
//                  every other crash instant; in that window it degrades to
//                  at-most-once for one checkpoint's output.
//                  transaction.timeout.ms (librdkafka default 60000) must be at
//                  least the checkpoint interval: CreateWriter checks it
//                  (kInvalidArgument), as the broker would otherwise abort the
//                  open transaction before its checkpoint completes.
//
// Metrics (the sink operator's group, per subtask): records_sent and
// bytes_sent (key + value, handed to the producer), delivery_failures,
// transactions_committed, transactions_aborted, flush_time_ms (histogram of
// the flushes at barriers and at the end of input).
//
// Threading: each writer is used from its subtask's thread; delivery reports
// are served on it (polled after every batch). Per record the writer calls the
// serializer (std::function) and the producer (a virtual call: the seam of
// kafka_producer.h), next to librdkafka's own enqueueing; the record object is
// reused, so a warmed-up writer allocates nothing per record.
#ifndef BROOK_CONNECTORS_KAFKA_KAFKA_SINK_H_
#define BROOK_CONNECTORS_KAFKA_KAFKA_SINK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/metrics.h"
#include "brook/sink.h"
#include "brook/status.h"

namespace brook::connectors {

enum class DeliveryGuarantee { kNone, kAtLeastOnce, kExactlyOnce };

// "none", "at-least-once", "exactly-once"; kInvalidArgument otherwise.
absl::StatusOr<DeliveryGuarantee> ParseDeliveryGuarantee(std::string_view name);
std::string_view DeliveryGuaranteeName(DeliveryGuarantee guarantee);

// Fills `record` (cleared beforehand) from `value`: at least the value; the
// key (SetKey), headers and a topic other than the sink's are optional.
template <typename T>
using KafkaRecordSerializer = std::function<void(const T& value, KafkaProducerRecord& record)>;

// The options of KafkaSinkOptions<T> that do not depend on T.
struct KafkaSinkSettings {
  std::string bootstrap_servers;  // required: "host:port,..."
  // The topic of records whose serializer names none; may be empty when every
  // record names its own.
  std::string topic;
  DeliveryGuarantee delivery_guarantee = DeliveryGuarantee::kAtLeastOnce;
  // kExactlyOnce: required, unique per job and sink (two sinks sharing it
  // fence each other).
  std::string transactional_id_prefix;
  // More librdkafka producer properties (e.g. "transaction.timeout.ms",
  // "linger.ms", "compression.type"), applied after the sink's defaults.
  KafkaProperties properties;
  // The longest a flush (at a barrier, at the end of input) or a transaction
  // call waits.
  absl::Duration flush_timeout = absl::Minutes(5);
  // Makes the producers; empty = librdkafka's (NewRdKafkaProducer). Tests
  // pass a fake (kafka_producer.h).
  KafkaProducerFactory producer_factory;
};

template <typename T>
struct KafkaSinkOptions : KafkaSinkSettings {
  KafkaRecordSerializer<T> serializer;  // required
};

namespace kafka_sink_internal {

// The part of a writer that does not depend on T: producers, transactions,
// delivery failures and metrics.
class WriterCore {
 public:
  WriterCore(std::shared_ptr<const KafkaSinkSettings> settings, const SinkWriterContext& ctx);
  ~WriterCore();
  WriterCore(const WriterCore&) = delete;
  WriterCore& operator=(const WriterCore&) = delete;

  // Checks the settings against the job (the transaction timeout against
  // the checkpoint interval) and makes the producer of kNone/kAtLeastOnce.
  absl::Status Open();
  absl::Status Send(const KafkaProducerRecord& record);
  // After a batch: serves delivery reports; the first failure (sticky).
  absl::Status EndBatch();
  absl::StatusOr<std::string> PreCommit(int64_t checkpoint_id);
  absl::Status Commit(int64_t checkpoint_id);
  absl::Status Restore(const std::vector<std::string>& states);
  absl::Status Finish();
  absl::Status Close();

 private:
  struct Pending {
    int64_t checkpoint_id;
    int producer;  // index in producers_
  };
  bool exactly_once() const;
  std::string TransactionalId(int subtask, int index) const;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> MakeProducer(const std::string& transactional_id);
  absl::Status BeginTransaction();
  absl::Status FlushAndCheck(KafkaProducer& producer);
  absl::Status CheckDeliveries(KafkaProducer& producer);
  absl::Status CommitUpTo(int64_t checkpoint_id);

  std::shared_ptr<const KafkaSinkSettings> settings_;
  int subtask_;
  absl::Duration checkpoint_interval_;
  std::unique_ptr<MetricRegistry> own_metrics_;  // when the context has none
  Counter* records_sent_;
  Counter* bytes_sent_;
  Counter* delivery_failures_;
  Counter* transactions_committed_;
  Counter* transactions_aborted_;
  Histogram* flush_time_ms_;
  absl::Status failure_;  // sticky: a failed delivery fails the job
  // kNone/kAtLeastOnce: one producer. kExactlyOnce: producer i has
  // transactional id TransactionalId(subtask_, i); null until needed.
  std::vector<std::unique_ptr<KafkaProducer>> producers_;
  std::vector<int> idle_;             // kExactlyOnce: producers without a transaction
  int current_ = -1;                  // the producer records go to; -1: none yet
  std::deque<Pending> precommitted_;  // kExactlyOnce, oldest first
};

}  // namespace kafka_sink_internal

template <typename T>
class KafkaSink final : public Sink<T> {
 public:
  // kInvalidArgument for a missing serializer or bootstrap_servers, or
  // kExactlyOnce without a transactional_id_prefix. Connects to nothing yet.
  static absl::StatusOr<std::shared_ptr<KafkaSink>> Create(KafkaSinkOptions<T> options);

  // kInvalidArgument when transaction.timeout.ms is shorter than the
  // checkpoint interval (kExactlyOnce), or a property librdkafka rejects.
  absl::StatusOr<std::unique_ptr<SinkWriter<T>>> CreateWriter(
      const SinkWriterContext& ctx) override;

 private:
  class Writer;
  KafkaSink(std::shared_ptr<const KafkaSinkSettings> settings, KafkaRecordSerializer<T> serializer)
      : settings_(std::move(settings)), serializer_(std::move(serializer)) {}

  std::shared_ptr<const KafkaSinkSettings> settings_;
  KafkaRecordSerializer<T> serializer_;
};

// ---- implementation

absl::Status ValidateKafkaSinkSettings(const KafkaSinkSettings& settings, bool has_serializer);

template <typename T>
class KafkaSink<T>::Writer final : public SinkWriter<T> {
 public:
  Writer(const KafkaSink& sink, const SinkWriterContext& ctx)
      : core_(sink.settings_, ctx), serializer_(sink.serializer_) {}

  absl::Status Open() { return core_.Open(); }
  absl::Status Write(std::vector<StreamRecord<T>>& batch) override {
    for (const auto& r : batch) {
      record_.Clear();
      serializer_(r.value, record_);
      BROOK_RETURN_IF_ERROR(core_.Send(record_));
    }
    return core_.EndBatch();
  }
  absl::Status Flush() override { return core_.Finish(); }
  absl::Status Close() override { return core_.Close(); }
  absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
    return core_.PreCommit(checkpoint_id);
  }
  absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
    return core_.Commit(checkpoint_id);
  }
  absl::Status RestoreState(std::vector<std::string> states) override {
    return core_.Restore(states);
  }

 private:
  kafka_sink_internal::WriterCore core_;
  KafkaRecordSerializer<T> serializer_;
  KafkaProducerRecord record_;  // reused
};

template <typename T>
absl::StatusOr<std::shared_ptr<KafkaSink<T>>> KafkaSink<T>::Create(KafkaSinkOptions<T> options) {
  BROOK_RETURN_IF_ERROR(ValidateKafkaSinkSettings(options, options.serializer != nullptr));
  KafkaRecordSerializer<T> serializer = std::move(options.serializer);
  auto settings =
      std::make_shared<const KafkaSinkSettings>(static_cast<KafkaSinkSettings&&>(options));
  return std::shared_ptr<KafkaSink>(new KafkaSink(std::move(settings), std::move(serializer)));
}

template <typename T>
absl::StatusOr<std::unique_ptr<SinkWriter<T>>> KafkaSink<T>::CreateWriter(
    const SinkWriterContext& ctx) {
  auto writer = std::make_unique<Writer>(*this, ctx);
  BROOK_RETURN_IF_ERROR(writer->Open());
  return std::unique_ptr<SinkWriter<T>>(std::move(writer));
}

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_KAFKA_SINK_H_
