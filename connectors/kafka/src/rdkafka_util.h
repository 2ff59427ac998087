// File: connectors/kafka/src/rdkafka_util.h  (private to brook_kafka)
//
// What the Kafka source, sink and mock cluster share about librdkafka: its
// configuration built from key/value properties, its errors as absl::Status,
// and owning handles.
#ifndef BROOK_CONNECTORS_KAFKA_SRC_RDKAFKA_UTIL_H_
#define BROOK_CONNECTORS_KAFKA_SRC_RDKAFKA_UTIL_H_

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::connectors::kafka_internal {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using KafkaQueue = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;

// A configuration with every property set, in order (a later one wins).
// kInvalidArgument naming the property librdkafka rejected, and why.
absl::StatusOr<KafkaConf> MakeConf(
    const std::vector<std::pair<std::string, std::string>>& properties);

// kUnavailable for transport errors (a broker down, a timeout: retriable),
// kInternal otherwise; the message is "<context>: <librdkafka's text>".
absl::Status KafkaError(rd_kafka_resp_err_t err, std::string_view context);

// A client of `type`; takes the configuration. kInternal with librdkafka's
// reason when it cannot be created.
absl::StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, KafkaConf conf);

}  // namespace brook::connectors::kafka_internal

#endif  // BROOK_CONNECTORS_KAFKA_SRC_RDKAFKA_UTIL_H_
