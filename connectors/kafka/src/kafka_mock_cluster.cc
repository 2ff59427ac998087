#include "brook/connectors/kafka/kafka_mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rdkafka_util.h"

namespace brook::connectors {

using kafka_internal::KafkaHandle;

// The mock cluster lives inside a client handle of its own, which serves it
// on its threads; the cluster must be destroyed before that handle.
struct KafkaMockCluster::Rep {
  KafkaHandle handle;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap_servers;
  KafkaHandle producer;  // Produce(), created on first use
  std::set<std::string> produced_topics;
  ~Rep() {
    producer.reset();
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

absl::StatusOr<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::Start(int brokers) {
  if (brokers < 1) return absl::InvalidArgumentError("a mock cluster needs at least one broker");
  auto conf = kafka_internal::MakeConf({{"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  auto handle = kafka_internal::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!handle.ok()) return handle.status();
  auto rep = std::make_unique<Rep>();
  rep->handle = std::move(*handle);
  rep->cluster = rd_kafka_mock_cluster_new(rep->handle.get(), brokers);
  if (rep->cluster == nullptr) return absl::InternalError("rd_kafka_mock_cluster_new failed");
  rep->bootstrap_servers = rd_kafka_mock_cluster_bootstraps(rep->cluster);
  return std::unique_ptr<KafkaMockCluster>(new KafkaMockCluster(std::move(rep)));
}

KafkaMockCluster::KafkaMockCluster(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
KafkaMockCluster::~KafkaMockCluster() = default;

const std::string& KafkaMockCluster::bootstrap_servers() const { return rep_->bootstrap_servers; }

absl::Status KafkaMockCluster::CreateTopic(std::string_view topic, int partitions) {
  if (partitions < 1) return absl::InvalidArgumentError("a topic needs at least one partition");
  const std::string name(topic);
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(rep_->cluster, name.c_str(), partitions, /*replication=*/1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_internal::KafkaError(err, absl::StrCat("creating topic ", name));
  }
  return absl::OkStatus();
}

absl::Status KafkaMockCluster::Produce(std::string_view topic, int partition, std::string_view key,
                                       std::string_view value, int64_t timestamp_ms) {
  if (rep_->producer == nullptr) {
    auto conf = kafka_internal::MakeConf(
        {{"bootstrap.servers", rep_->bootstrap_servers}, {"linger.ms", "5"}, {"log_level", "3"}});
    if (!conf.ok()) return conf.status();
    auto producer = kafka_internal::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!producer.ok()) return producer.status();
    rep_->producer = std::move(*producer);
  }
  const std::string name(topic);
  if (rep_->produced_topics.insert(name).second) {
    // Learn the topic's leaders now: the producer would otherwise ask on its
    // next 1 s topic scan.
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rep_->producer.get(), name.c_str(), nullptr);
    const struct rd_kafka_metadata* md = nullptr;
    if (rd_kafka_metadata(rep_->producer.get(), 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
  }
  rd_kafka_resp_err_t err =
      rd_kafka_producev(rep_->producer.get(), RD_KAFKA_V_TOPIC(name.c_str()),
                        RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
  rd_kafka_poll(rep_->producer.get(), 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_internal::KafkaError(err, absl::StrCat("producing to ", name));
  }
  return absl::OkStatus();
}

absl::Status KafkaMockCluster::Flush(int timeout_ms) {
  if (rep_->producer == nullptr) return absl::OkStatus();
  rd_kafka_resp_err_t err = rd_kafka_flush(rep_->producer.get(), timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_internal::KafkaError(err, "flushing");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KafkaMockCluster::CommittedOffset(std::string_view group,
                                                          std::string_view topic, int partition) {
  auto conf = kafka_internal::MakeConf({{"bootstrap.servers", rep_->bootstrap_servers},
                                        {"group.id", std::string(group)},
                                        {"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  auto consumer = kafka_internal::NewClient(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!consumer.ok()) return consumer.status();
  kafka_internal::PartitionList list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), std::string(topic).c_str(), partition);
  rd_kafka_resp_err_t err = rd_kafka_committed(consumer->get(), list.get(), 10000);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_internal::KafkaError(err, "committed offset");
  return list->elems[0].offset < 0 ? -1 : list->elems[0].offset;
}

void KafkaMockCluster::FailOffsetCommits(int count) {
  constexpr int16_t kOffsetCommitApiKey = 8;  // the Kafka protocol's OffsetCommit
  std::vector<rd_kafka_resp_err_t> errors(count, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  rd_kafka_mock_push_request_errors_array(rep_->cluster, kOffsetCommitApiKey, errors.size(),
                                          errors.data());
}

}  // namespace brook::connectors
