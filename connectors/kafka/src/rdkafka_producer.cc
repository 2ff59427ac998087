// NewRdKafkaProducer: KafkaProducer on librdkafka's producer.
#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/status.h"
#include "rdkafka_util.h"

namespace brook::connectors {
namespace {

using kafka_internal::KafkaError;
using kafka_internal::KafkaHandle;

int TimeoutMs(absl::Duration timeout) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(timeout), INT32_MAX));
}

// Takes `error` (may be null: OK).
absl::Status TransactionError(rd_kafka_error_t* error, const char* context) {
  if (error == nullptr) return absl::OkStatus();
  absl::Status status = KafkaError(rd_kafka_error_code(error), context);
  if (rd_kafka_error_is_retriable(error)) {
    status = absl::UnavailableError(status.message());
  }
  if (rd_kafka_error_txn_requires_abort(error)) {
    status = absl::AbortedError(absl::StrCat(status.message(), " (the transaction must abort)"));
  }
  rd_kafka_error_destroy(error);
  return status;
}

class RdKafkaProducer final : public KafkaProducer {
 public:
  absl::Status Init(const KafkaProperties& properties) {
    BROOK_ASSIGN_OR_RETURN(kafka_internal::KafkaConf conf, kafka_internal::MakeConf(properties));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &RdKafkaProducer::OnDelivery);
    rd_kafka_conf_set_opaque(conf.get(), this);
    BROOK_ASSIGN_OR_RETURN(rk_, kafka_internal::NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
    return absl::OkStatus();
  }
  ~RdKafkaProducer() override {
    // What is still queued is given a moment; the sink flushed what it needs.
    if (rk_ != nullptr) rd_kafka_flush(rk_.get(), 0);
  }

  absl::Status Produce(const std::string& topic, const KafkaProducerRecord& r) override {
    for (;;) {
      rd_kafka_headers_t* headers = nullptr;
      if (!r.headers.empty()) {
        headers = rd_kafka_headers_new(r.headers.size());
        for (const auto& [name, value] : r.headers) {
          rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                              static_cast<ssize_t>(value.size()));
        }
      }
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(r.has_key ? r.key.data() : nullptr, r.has_key ? r.key.size() : 0),
          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();  // headers taken
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_.get(), 100);  // backpressure: wait for deliveries
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        return absl::InvalidArgumentError(absl::StrCat("Kafka produce to ", topic, ": record of ",
                                                       r.value.size(),
                                                       " bytes is larger than message.max.bytes"));
      }
      return KafkaError(err, absl::StrCat("Kafka produce to ", topic));
    }
  }
  void Poll() override { rd_kafka_poll(rk_.get(), 0); }
  absl::Status Flush(absl::Duration timeout) override {
    rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), TimeoutMs(timeout));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      return absl::DeadlineExceededError(absl::StrCat("Kafka flush: ", rd_kafka_outq_len(rk_.get()),
                                                      " records not delivered after ",
                                                      absl::FormatDuration(timeout)));
    }
    return err == RD_KAFKA_RESP_ERR_NO_ERROR ? absl::OkStatus() : KafkaError(err, "Kafka flush");
  }
  int64_t TakeDeliveryFailures(absl::Status* first) override {
    const int64_t n = failures_;
    if (first != nullptr) *first = first_failure_;
    failures_ = 0;
    first_failure_ = absl::OkStatus();
    return n;
  }

  absl::Status InitTransactions(absl::Duration timeout) override {
    return TransactionError(rd_kafka_init_transactions(rk_.get(), TimeoutMs(timeout)),
                            "Kafka init_transactions");
  }
  absl::Status BeginTransaction() override {
    return TransactionError(rd_kafka_begin_transaction(rk_.get()), "Kafka begin_transaction");
  }
  absl::Status CommitTransaction(absl::Duration timeout) override {
    return TransactionError(rd_kafka_commit_transaction(rk_.get(), TimeoutMs(timeout)),
                            "Kafka commit_transaction");
  }
  absl::Status AbortTransaction(absl::Duration timeout) override {
    return TransactionError(rd_kafka_abort_transaction(rk_.get(), TimeoutMs(timeout)),
                            "Kafka abort_transaction");
  }

 private:
  // Called from rd_kafka_poll()/rd_kafka_flush(), i.e. on the sink's thread.
  static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* self = static_cast<RdKafkaProducer*>(opaque);
    if (self->failures_++ == 0) {
      self->first_failure_ = KafkaError(
          m->err,
          absl::StrCat("Kafka delivery to ", rd_kafka_topic_name(m->rkt), "/", m->partition));
    }
  }

  int64_t failures_ = 0;
  absl::Status first_failure_;
  KafkaHandle rk_;  // last: destroyed first, while OnDelivery may still run
};

}  // namespace

absl::Status CheckKafkaProperties(const KafkaProperties& properties) {
  return kafka_internal::MakeConf(properties).status();
}

absl::StatusOr<std::unique_ptr<KafkaProducer>> NewRdKafkaProducer(
    const KafkaProperties& properties) {
  auto producer = std::make_unique<RdKafkaProducer>();
  BROOK_RETURN_IF_ERROR(producer->Init(properties));
  return std::unique_ptr<KafkaProducer>(std::move(producer));
}

}  // namespace brook::connectors
