#include "brook/connectors/kafka/kafka_mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>
#include <utility>

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
  ~Rep() {
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

}  // namespace brook::connectors
