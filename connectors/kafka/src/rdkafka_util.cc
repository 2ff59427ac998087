#include "rdkafka_util.h"

#include "absl/strings/str_cat.h"

namespace brook::connectors::kafka_internal {

absl::StatusOr<KafkaConf> MakeConf(
    const std::vector<std::pair<std::string, std::string>>& properties) {
  KafkaConf conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      // Never echo a secret (sasl.password, ssl.key.password, ...) into logs.
      const bool secret = key.find("password") != std::string::npos ||
                          key.find("secret") != std::string::npos ||
                          key.find("jaas") != std::string::npos ||
                          key.find(".key.pem") != std::string::npos;
      return absl::InvalidArgumentError(
          absl::StrCat("Kafka property ", key, "=", secret ? "(hidden)" : value, ": ", err));
    }
  }
  return conf;
}

absl::Status KafkaError(rd_kafka_resp_err_t err, std::string_view context) {
  std::string message = absl::StrCat(std::string(context), ": ", rd_kafka_err2str(err));
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
      return absl::UnavailableError(std::move(message));
    default:
      return absl::InternalError(std::move(message));
  }
}

absl::StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, KafkaConf conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr) return absl::InternalError(absl::StrCat("librdkafka client: ", err));
  conf.release();  // rd_kafka_new took it.
  return KafkaHandle(rk);
}

}  // namespace brook::connectors::kafka_internal
