// File: brook/connectors/kafka/kafka_mock_cluster.h
//
// KafkaMockCluster: librdkafka's built-in mock Kafka cluster (rdkafka_mock.h),
// served over loopback TCP, so that tests, demos and users without a Kafka
// cluster can run brook's Kafka connectors; other processes (kcat, another
// brook job) reach it at bootstrap_servers().
//
// What the mock does (librdkafka 2.0.2): produce and fetch, multi-partition
// topics, consumer groups, offset commit and fetch, the idempotent producer.
// Its limits: each partition keeps at most 5 MiB or 100,000 batches (older
// data is dropped silently); a topic auto-created by a produce gets 4
// partitions; no admin API; transactions only validate the calls (aborted
// records stay visible to read_committed consumers).
//
// Thread-safety: the cluster runs on threads of its own; the methods may be
// called from any thread.
#ifndef BROOK_CONNECTORS_KAFKA_KAFKA_MOCK_CLUSTER_H_
#define BROOK_CONNECTORS_KAFKA_KAFKA_MOCK_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::connectors {

class KafkaMockCluster {
 public:
  // Starts `brokers` (>= 1) mock brokers on loopback ports chosen by the OS.
  // kInvalidArgument for brokers < 1, kInternal when librdkafka fails.
  static absl::StatusOr<std::unique_ptr<KafkaMockCluster>> Start(int brokers = 1);
  ~KafkaMockCluster();  // Stops the brokers; clients still connected then fail.
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // "127.0.0.1:PORT,...": the bootstrap.servers of a client.
  const std::string& bootstrap_servers() const;

  // Creates `topic` with `partitions` partitions (replication factor 1).
  // kInvalidArgument for partitions < 1; kInternal from librdkafka (e.g. the
  // topic exists).
  absl::Status CreateTopic(std::string_view topic, int partitions);

  // For tests. Produces one message to `partition` of `topic` through a
  // producer of the cluster's own (created on first use); `timestamp_ms` 0:
  // the produce time. Asynchronous: Flush() waits for every message so far.
  // kInternal from librdkafka (e.g. its queue is full).
  absl::Status Produce(std::string_view topic, int partition, std::string_view key,
                       std::string_view value, int64_t timestamp_ms = 0);
  // kUnavailable when not every message was acknowledged within `timeout_ms`.
  absl::Status Flush(int timeout_ms = 10000);
  // For tests. The offset `group` committed for `partition` of `topic`, -1
  // when none is (asks the cluster, as a consumer of that group would).
  absl::StatusOr<int64_t> CommittedOffset(std::string_view group, std::string_view topic,
                                          int partition);
  // For tests. The next `count` OffsetCommit requests, to any broker, fail
  // with GROUP_AUTHORIZATION_FAILED (not retried by clients).
  void FailOffsetCommits(int count);

 private:
  struct Rep;
  explicit KafkaMockCluster(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_KAFKA_KAFKA_MOCK_CLUSTER_H_
