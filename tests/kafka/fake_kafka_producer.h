// FakeKafka: a KafkaProducerFactory whose producers record their calls and
// model what librdkafka's mock cluster does not: transactional visibility.
// A non-transactional record becomes visible when the producer is flushed; a transactional one when
// its transaction commits, never when it is aborted. InitTransactions with a transactional id
// aborts that id's open transaction and fences the producers made with it before. Single-threaded.
#ifndef TESTS_KAFKA_FAKE_KAFKA_PRODUCER_H_
#define TESTS_KAFKA_FAKE_KAFKA_PRODUCER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/connectors/kafka/kafka_producer.h"
#include "brook/status.h"

namespace brook::connectors::testing {

class FakeKafka {
 public:
  struct Message {
    std::string topic;
    std::string key;
    std::string value;
    bool operator==(const Message&) const = default;
  };

  KafkaProducerFactory Factory() {
    return
        [this](
            const KafkaProperties& properties) -> absl::StatusOr<std::unique_ptr<KafkaProducer>> {
          std::string id;
          for (const auto& [k, v] : properties) {
            if (k == "transactional.id") id = v;
          }
          properties_.push_back(properties);
          return std::unique_ptr<KafkaProducer>(new Producer(this, id));
        };
  }

  // What a read_committed consumer sees, in order.
  const std::vector<Message>& visible() const { return visible_; }
  std::vector<std::string> visible_values() const {
    std::vector<std::string> out;
    for (const auto& m : visible_) out.push_back(m.value);
    return out;
  }
  // "<id or 'producer'>:<call>", in order (produce calls are not logged).
  const std::vector<std::string>& calls() const { return calls_; }
  // The properties of every producer made, in order.
  const std::vector<KafkaProperties>& properties() const { return properties_; }
  // The next `n` produced records fail at delivery (reported after a flush).
  void FailNextDeliveries(int n) { fail_next_ = n; }

 private:
  class Producer final : public KafkaProducer {
   public:
    Producer(FakeKafka* kafka, std::string id)
        : kafka_(kafka), id_(std::move(id)), epoch_(++kafka->epochs_[id_]) {}

    absl::Status Produce(const std::string& topic, const KafkaProducerRecord& r) override {
      BROOK_RETURN_IF_ERROR(CheckFenced());
      if (!id_.empty() && !in_transaction_) {
        return absl::FailedPreconditionError("produce outside a transaction");
      }
      if (kafka_->fail_next_ > 0) {
        --kafka_->fail_next_;
        ++undelivered_failures_;
        return absl::OkStatus();
      }
      Message m{topic, r.has_key ? r.key : "<null>", r.value};
      if (id_.empty()) {
        queued_.push_back(std::move(m));
      } else {
        kafka_->open_[id_].push_back(std::move(m));
      }
      return absl::OkStatus();
    }
    // Nothing is acknowledged until a flush (deterministic tests).
    void Poll() override {}
    absl::Status Flush(absl::Duration) override {
      Log("flush");
      Deliver();
      return absl::OkStatus();
    }
    int64_t TakeDeliveryFailures(absl::Status* first) override {
      const int64_t n = failures_;
      if (first != nullptr) {
        *first = n > 0 ? absl::UnavailableError("delivery failed") : absl::OkStatus();
      }
      failures_ = 0;
      return n;
    }
    absl::Status InitTransactions(absl::Duration) override {
      Log("init");
      kafka_->open_.erase(id_);  // aborts the lingering transaction
      return absl::OkStatus();
    }
    absl::Status BeginTransaction() override {
      BROOK_RETURN_IF_ERROR(CheckFenced());
      Log("begin");
      in_transaction_ = true;
      return absl::OkStatus();
    }
    absl::Status CommitTransaction(absl::Duration) override {
      BROOK_RETURN_IF_ERROR(CheckFenced());
      Log("commit");
      auto& open = kafka_->open_[id_];
      kafka_->visible_.insert(kafka_->visible_.end(), open.begin(), open.end());
      open.clear();
      in_transaction_ = false;
      return absl::OkStatus();
    }
    absl::Status AbortTransaction(absl::Duration) override {
      BROOK_RETURN_IF_ERROR(CheckFenced());
      Log("abort");
      kafka_->open_.erase(id_);
      in_transaction_ = false;
      return absl::OkStatus();
    }

   private:
    absl::Status CheckFenced() const {
      if (kafka_->epochs_[id_] != epoch_ && !id_.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(id_, ": fenced"));
      }
      return absl::OkStatus();
    }
    void Log(const char* call) {
      kafka_->calls_.push_back(absl::StrCat(id_.empty() ? "producer" : id_, ":", call));
    }
    void Deliver() {
      kafka_->visible_.insert(kafka_->visible_.end(), queued_.begin(), queued_.end());
      queued_.clear();
      failures_ += undelivered_failures_;
      undelivered_failures_ = 0;
    }

    FakeKafka* kafka_;
    std::string id_;
    int epoch_;
    bool in_transaction_ = false;
    std::vector<Message> queued_;
    int64_t undelivered_failures_ = 0;
    int64_t failures_ = 0;
  };

  std::vector<Message> visible_;
  std::map<std::string, std::vector<Message>> open_;  // transactional id -> open records
  std::map<std::string, int> epochs_;
  std::vector<std::string> calls_;
  std::vector<KafkaProperties> properties_;
  int fail_next_ = 0;
};

}  // namespace brook::connectors::testing

#endif  // TESTS_KAFKA_FAKE_KAFKA_PRODUCER_H_
