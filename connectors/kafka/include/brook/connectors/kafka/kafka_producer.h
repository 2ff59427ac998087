// File: brook/connectors/kafka/kafka_producer.h
//
// KafkaProducer: the seam between KafkaSink (brook/connectors/kafka/
// kafka_sink.h) and a Kafka client. The sink makes its producers through a
// KafkaProducerFactory: by default librdkafka's (NewRdKafkaProducer); tests
// pass a fake that records the calls and models transactional visibility,
// which librdkafka's mock cluster does not (its aborted records stay visible).
// Applications do not need this header.
//
// Thread-safety: a producer is used from one thread (its sink subtask's).
#ifndef BROOK_CONNECTORS_KAFKA_KAFKA_PRODUCER_H_
#define BROOK_CONNECTORS_KAFKA_KAFKA_PRODUCER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace brook::connectors {

// librdkafka properties ("bootstrap.servers", "transactional.id", ...), in
// order; a later one wins.
using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// One record to produce, filled by a KafkaSink's serializer. The sink reuses
// one per writer (clear it with Clear(), which keeps the capacity), so that
// serializing allocates nothing per record once warmed up.
struct KafkaProducerRecord {
  std::string topic;     // empty: the sink's default topic
  bool has_key = false;  // false: a null key (librdkafka's partitioner spreads them)
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value
  int32_t partition = -1;  // -1: the client's partitioner picks (by key)

  void SetKey(std::string_view k) {
    has_key = true;
    key.assign(k);
  }
  void Clear() {
    topic.clear();
    has_key = false;
    key.clear();
    value.clear();
    headers.clear();
    partition = -1;
  }
};

class KafkaProducer {
 public:
  virtual ~KafkaProducer() = default;

  // Enqueues `record` for `topic` (the record's own topic, resolved by the
  // sink); waits while the client's queue is full. The delivery is reported
  // later (TakeDeliveryFailures). kInvalidArgument for a record the client
  // rejects (too large), kUnavailable/kInternal for client errors.
  virtual absl::Status Produce(const std::string& topic, const KafkaProducerRecord& record) = 0;
  // Serves delivery reports that have arrived, without waiting.
  virtual void Poll() = 0;
  // Waits until every record produced so far is delivered or has failed;
  // kDeadlineExceeded after `timeout`.
  virtual absl::Status Flush(absl::Duration timeout) = 0;
  // Deliveries that failed since the last call; `first` (if not null) gets
  // the first one's error when there was one.
  virtual int64_t TakeDeliveryFailures(absl::Status* first) = 0;

  // Transactions (only for a producer made with "transactional.id"), as
  // librdkafka's rd_kafka_*_transaction(): InitTransactions fences earlier
  // producers with the same transactional id and aborts their open
  // transaction; CommitTransaction flushes first. Errors as the client
  // reports them (kUnavailable when retriable).
  virtual absl::Status InitTransactions(absl::Duration timeout) = 0;
  virtual absl::Status BeginTransaction() = 0;
  virtual absl::Status CommitTransaction(absl::Duration timeout) = 0;
  virtual absl::Status AbortTransaction(absl::Duration timeout) = 0;
};

// Makes a producer configured with `properties`. kInvalidArgument naming a
// property the client rejects.
using KafkaProducerFactory =
    std::function<absl::StatusOr<std::unique_ptr<KafkaProducer>>(const KafkaProperties&)>;

// CheckKafkaProperties(): whether librdkafka accepts every property (as a
// client configuration: the key exists and the value parses), without making
// a client. kInvalidArgument naming the first property it rejects (with
// librdkafka's message; the value only where the key does not look secret).
absl::Status CheckKafkaProperties(const KafkaProperties& properties);

// The librdkafka producer (the default factory).
absl::StatusOr<std::unique_ptr<KafkaProducer>> NewRdKafkaProducer(
    const KafkaProperties& properties);

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_KAFKA_PRODUCER_H_
