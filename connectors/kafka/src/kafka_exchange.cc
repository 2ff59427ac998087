// KafkaExchange's non-template part (stub: the API is in place, the
// implementation follows).
#include "brook/connectors/kafka/kafka_exchange.h"

namespace brook::connectors {

namespace {
absl::Status Unimplemented() {
  return absl::UnimplementedError("KafkaExchange: not implemented yet");
}
}  // namespace

absl::Status ValidateKafkaExchangeOptions(const KafkaExchangeOptions&) { return absl::OkStatus(); }

int KafkaExchangePartition(int key_group, int max_parallelism, int partitions) {
  return ComputeOperatorIndexForKeyGroup(max_parallelism, partitions, key_group);
}

absl::StatusOr<int> EnsureKafkaTopic(const std::string&, const std::string&, int,
                                     const KafkaProperties&, absl::Duration) {
  return Unimplemented();
}

namespace kafka_exchange_internal {

absl::StatusOr<int> ExchangeShared::PartitionCount() { return Unimplemented(); }

struct ExchangeWriterCore::Rep {
  std::string value;
};
ExchangeWriterCore::ExchangeWriterCore(std::shared_ptr<ExchangeShared>, const SinkWriterContext&)
    : rep_(std::make_unique<Rep>()) {}
ExchangeWriterCore::~ExchangeWriterCore() = default;
absl::Status ExchangeWriterCore::Open() { return Unimplemented(); }
std::string& ExchangeWriterCore::BeginRecord(int, int64_t) { return rep_->value; }
absl::Status ExchangeWriterCore::SendRecord() { return Unimplemented(); }
absl::Status ExchangeWriterCore::EndBatch() { return Unimplemented(); }
absl::Status ExchangeWriterCore::SendWatermark(int64_t) { return Unimplemented(); }
absl::Status ExchangeWriterCore::Finish() { return Unimplemented(); }
absl::StatusOr<std::string> ExchangeWriterCore::Snapshot(int64_t) { return Unimplemented(); }
absl::Status ExchangeWriterCore::Restore(const std::vector<std::string>&) {
  return Unimplemented();
}
absl::Status ExchangeWriterCore::Close() { return absl::OkStatus(); }

struct ExchangeReaderCore::Rep {
  std::string id;
};
ExchangeReaderCore::ExchangeReaderCore(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ExchangeReaderCore::~ExchangeReaderCore() = default;
absl::StatusOr<std::unique_ptr<ExchangeReaderCore>> ExchangeReaderCore::Create(
    std::shared_ptr<ExchangeShared>, const SourceReaderContext&) {
  return Unimplemented();
}
absl::Status ExchangeReaderCore::Restore(const std::vector<std::string>&) {
  return Unimplemented();
}
absl::Status ExchangeReaderCore::Open() { return Unimplemented(); }
absl::StatusOr<ExchangeReaderCore::Event> ExchangeReaderCore::Next() { return Unimplemented(); }
int ExchangeReaderCore::split_index() const { return 0; }
const std::string& ExchangeReaderCore::split_id() const { return rep_->id; }
std::vector<std::string> ExchangeReaderCore::SplitIds() const { return {}; }
std::string_view ExchangeReaderCore::payload() const { return {}; }
int64_t ExchangeReaderCore::timestamp_ms() const { return 0; }
int64_t ExchangeReaderCore::watermark_ms() const { return 0; }
absl::Status ExchangeReaderCore::PayloadError(const absl::Status& cause) const { return cause; }
absl::StatusOr<std::string> ExchangeReaderCore::Snapshot(int64_t) { return Unimplemented(); }
absl::Status ExchangeReaderCore::NotifyCheckpointComplete(int64_t) { return absl::OkStatus(); }
absl::Status ExchangeReaderCore::Close() { return absl::OkStatus(); }

}  // namespace kafka_exchange_internal
}  // namespace brook::connectors
