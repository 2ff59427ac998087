#include "brook/connectors/kafka/kafka_sink.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "brook/serialization.h"

namespace brook::connectors {

absl::StatusOr<DeliveryGuarantee> ParseDeliveryGuarantee(std::string_view name) {
  if (name == "none") return DeliveryGuarantee::kNone;
  if (name == "at-least-once") return DeliveryGuarantee::kAtLeastOnce;
  if (name == "exactly-once") return DeliveryGuarantee::kExactlyOnce;
  return absl::InvalidArgumentError(
      absl::StrCat("delivery guarantee: expected none, at-least-once or exactly-once, got '",
                   std::string(name), "'"));
}

std::string_view DeliveryGuaranteeName(DeliveryGuarantee guarantee) {
  switch (guarantee) {
    case DeliveryGuarantee::kNone:
      return "none";
    case DeliveryGuarantee::kAtLeastOnce:
      return "at-least-once";
    case DeliveryGuarantee::kExactlyOnce:
      return "exactly-once";
  }
  return "?";
}

absl::Status ValidateKafkaSinkSettings(const KafkaSinkSettings& s, bool has_serializer) {
  if (!has_serializer) return absl::InvalidArgumentError("KafkaSink: a serializer is required");
  if (s.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("KafkaSink: bootstrap_servers is required");
  }
  if (s.delivery_guarantee == DeliveryGuarantee::kExactlyOnce &&
      s.transactional_id_prefix.empty()) {
    return absl::InvalidArgumentError(
        "KafkaSink: exactly-once needs a transactional_id_prefix (unique per job and sink)");
  }
  if (s.flush_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("KafkaSink: flush_timeout must be positive");
  }
  return absl::OkStatus();
}

namespace kafka_sink_internal {
namespace {

constexpr int64_t kDefaultTransactionTimeoutMs = 60000;  // librdkafka's default

// The value of `key` in `properties` (the last one wins), or "".
std::string Property(const KafkaProperties& properties, std::string_view key) {
  std::string value;
  for (const auto& [k, v] : properties) {
    if (k == key) value = v;
  }
  return value;
}

}  // namespace

WriterCore::WriterCore(std::shared_ptr<const KafkaSinkSettings> settings,
                       const SinkWriterContext& ctx)
    : settings_(std::move(settings)),
      subtask_(ctx.subtask_index),
      checkpoint_interval_(ctx.checkpoint_interval) {
  MetricGroup* metrics = ctx.metrics;
  std::unique_ptr<MetricGroup> own_group;
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<MetricRegistry>();
    own_group = std::make_unique<MetricGroup>(own_metrics_.get(), MetricScope{});
    metrics = own_group.get();
  }
  records_sent_ = metrics->GetCounter("records_sent");
  bytes_sent_ = metrics->GetCounter("bytes_sent");
  delivery_failures_ = metrics->GetCounter("delivery_failures");
  transactions_committed_ = metrics->GetCounter("transactions_committed");
  transactions_aborted_ = metrics->GetCounter("transactions_aborted");
  flush_time_ms_ = metrics->GetHistogram(
      "flush_time_ms", {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000});
}

WriterCore::~WriterCore() = default;

bool WriterCore::exactly_once() const {
  return settings_->delivery_guarantee == DeliveryGuarantee::kExactlyOnce;
}

std::string WriterCore::TransactionalId(int subtask, int index) const {
  return absl::StrCat(settings_->transactional_id_prefix, "-", subtask, "-", index);
}

absl::StatusOr<std::unique_ptr<KafkaProducer>> WriterCore::MakeProducer(
    const std::string& transactional_id) {
  KafkaProperties properties = {{"bootstrap.servers", settings_->bootstrap_servers}};
  if (settings_->delivery_guarantee == DeliveryGuarantee::kAtLeastOnce) {
    properties.emplace_back("enable.idempotence", "true");
  }
  properties.insert(properties.end(), settings_->properties.begin(), settings_->properties.end());
  if (!transactional_id.empty()) properties.emplace_back("transactional.id", transactional_id);
  const KafkaProducerFactory& factory = settings_->producer_factory;
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer,
                         factory ? factory(properties) : NewRdKafkaProducer(properties));
  // Fences earlier producers with this id and aborts their open transaction.
  if (!transactional_id.empty()) {
    BROOK_RETURN_IF_ERROR(producer->InitTransactions(settings_->flush_timeout));
  }
  return producer;
}

absl::Status WriterCore::Open() {
  if (!exactly_once()) {
    producers_.resize(1);
    BROOK_ASSIGN_OR_RETURN(producers_[0], MakeProducer(""));
    current_ = 0;
    return absl::OkStatus();
  }
  // The transaction stays open from the first record after a barrier until
  // the next checkpoint completes: at least one checkpoint interval.
  int64_t timeout_ms = kDefaultTransactionTimeoutMs;
  const std::string configured = Property(settings_->properties, "transaction.timeout.ms");
  if (!configured.empty() && !absl::SimpleAtoi(configured, &timeout_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("KafkaSink: transaction.timeout.ms is not a number: '", configured, "'"));
  }
  if (absl::Milliseconds(timeout_ms) < checkpoint_interval_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KafkaSink: exactly-once: transaction.timeout.ms=", timeout_ms,
        " is shorter than the checkpoint interval (", absl::FormatDuration(checkpoint_interval_),
        "): the broker would abort a transaction before its checkpoint completes; raise "
        "transaction.timeout.ms (at most the broker's transaction.max.timeout.ms) or shorten the "
        "interval"));
  }
  return absl::OkStatus();
}

absl::Status WriterCore::BeginTransaction() {
  if (idle_.empty()) {
    const int index = static_cast<int>(producers_.size());
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer,
                           MakeProducer(TransactionalId(subtask_, index)));
    producers_.push_back(std::move(producer));
    idle_.push_back(index);
  }
  const int index = idle_.back();
  BROOK_RETURN_IF_ERROR(producers_[index]->BeginTransaction());
  idle_.pop_back();
  current_ = index;
  return absl::OkStatus();
}

absl::Status WriterCore::Send(const KafkaProducerRecord& record) {
  if (!failure_.ok()) return failure_;
  const std::string& topic = record.topic.empty() ? settings_->topic : record.topic;
  if (topic.empty()) {
    return absl::InvalidArgumentError("KafkaSink: a record names no topic and the sink has none");
  }
  if (current_ < 0) BROOK_RETURN_IF_ERROR(BeginTransaction());
  BROOK_RETURN_IF_ERROR(producers_[current_]->Produce(topic, record));
  records_sent_->Inc();
  bytes_sent_->Inc(static_cast<int64_t>(record.key.size() + record.value.size()));
  return absl::OkStatus();
}

absl::Status WriterCore::CheckDeliveries(KafkaProducer& producer) {
  absl::Status first;
  const int64_t failed = producer.TakeDeliveryFailures(&first);
  if (failed == 0) return failure_;
  delivery_failures_->Inc(failed);
  if (settings_->delivery_guarantee != DeliveryGuarantee::kNone && failure_.ok()) {
    failure_ = absl::Status(first.code(),
                            absl::StrCat("KafkaSink: ", failed,
                                         " record(s) not delivered, the first: ", first.message()));
  }
  return failure_;
}

absl::Status WriterCore::EndBatch() {
  if (current_ < 0) return failure_;
  producers_[current_]->Poll();
  return CheckDeliveries(*producers_[current_]);
}

absl::Status WriterCore::FlushAndCheck(KafkaProducer& producer) {
  const absl::Time start = absl::Now();
  absl::Status flushed = producer.Flush(settings_->flush_timeout);
  flush_time_ms_->Observe(absl::ToInt64Milliseconds(absl::Now() - start));
  BROOK_RETURN_IF_ERROR(CheckDeliveries(producer));
  return flushed;
}

absl::StatusOr<std::string> WriterCore::PreCommit(int64_t checkpoint_id) {
  switch (settings_->delivery_guarantee) {
    case DeliveryGuarantee::kNone:
      return failure_.ok() ? std::string() : absl::StatusOr<std::string>(failure_);
    case DeliveryGuarantee::kAtLeastOnce:
      BROOK_RETURN_IF_ERROR(FlushAndCheck(*producers_[0]));
      return std::string();
    case DeliveryGuarantee::kExactlyOnce:
      break;
  }
  if (current_ >= 0) {
    BROOK_RETURN_IF_ERROR(FlushAndCheck(*producers_[current_]));
    precommitted_.push_back({checkpoint_id, current_});
    current_ = -1;
  }
  // What a restored writer must fence: every id this writer has used, and
  // the next one it would create.
  std::string state;
  DataOutputView out(&state);
  out.WriteString(settings_->transactional_id_prefix);
  out.WriteInt32(subtask_);
  out.WriteInt32(static_cast<int32_t>(producers_.size()) + 1);
  return state;
}

absl::Status WriterCore::CommitUpTo(int64_t checkpoint_id) {
  while (!precommitted_.empty() && precommitted_.front().checkpoint_id <= checkpoint_id) {
    const int index = precommitted_.front().producer;
    BROOK_RETURN_IF_ERROR(producers_[index]->CommitTransaction(settings_->flush_timeout));
    transactions_committed_->Inc();
    precommitted_.pop_front();
    idle_.push_back(index);
  }
  return absl::OkStatus();
}

absl::Status WriterCore::Commit(int64_t checkpoint_id) {
  if (!exactly_once()) return absl::OkStatus();
  return CommitUpTo(checkpoint_id);
}

absl::Status WriterCore::Restore(const std::vector<std::string>& states) {
  for (const std::string& state : states) {
    if (state.empty()) continue;  // a writer without transactions
    DataInputView in(state);
    std::string prefix;
    int32_t subtask = 0;
    int32_t ids = 0;
    BROOK_RETURN_IF_ERROR(in.ReadString(&prefix));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&subtask));
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&ids));
    if (!in.AtEnd() || ids < 0) return absl::DataLossError("KafkaSink state: malformed");
    // librdkafka cannot commit another producer's transaction: abort them
    // all (MakeProducer's InitTransactions), keeping this subtask's own
    // producers for reuse.
    for (int32_t i = 0; i < ids; ++i) {
      BROOK_ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer,
                             MakeProducer(absl::StrCat(prefix, "-", subtask, "-", i)));
      transactions_aborted_->Inc();
      const bool mine = exactly_once() && prefix == settings_->transactional_id_prefix &&
                        subtask == subtask_ && i == static_cast<int32_t>(producers_.size());
      if (mine) {
        idle_.push_back(i);
        producers_.push_back(std::move(producer));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status WriterCore::Finish() {
  if (!exactly_once()) {
    // kNone too: the end of input delivers what is queued.
    return FlushAndCheck(*producers_[0]);
  }
  BROOK_RETURN_IF_ERROR(CommitUpTo(INT64_MAX));
  if (current_ < 0) return absl::OkStatus();
  BROOK_RETURN_IF_ERROR(FlushAndCheck(*producers_[current_]));
  precommitted_.push_back({INT64_MAX, current_});
  current_ = -1;
  return CommitUpTo(INT64_MAX);
}

absl::Status WriterCore::Close() {
  // An open transaction no checkpoint covers: abort it now rather than leave
  // it to the broker's timeout (it holds back read_committed consumers).
  // Pre-committed ones stay: their checkpoint may complete (a restore aborts
  // them otherwise).
  absl::Status status;
  if (exactly_once() && current_ >= 0) {
    status = producers_[current_]->AbortTransaction(settings_->flush_timeout);
    if (status.ok()) transactions_aborted_->Inc();
    current_ = -1;
  }
  return status;
}

}  // namespace kafka_sink_internal
}  // namespace brook::connectors
