// File: connectors/kafka/src/kafka_source.cc
#include "brook/connectors/kafka/kafka_source.h"

#include "absl/strings/str_cat.h"

namespace brook::connectors {

absl::Status ParseKafkaStartingOffsets(std::string_view, KafkaSourceOptions*) {
  return absl::UnimplementedError("not yet");
}
int32_t JavaStringHashCode(std::string_view) { return 0; }
int KafkaPartitionOwner(std::string_view, int, int) { return 0; }
std::optional<std::string_view> KafkaMessage::Header(std::string_view) const {
  return std::nullopt;
}

namespace internal {

absl::Status ValidateKafkaSourceOptions(const KafkaSourceOptions&) { return absl::OkStatus(); }

struct KafkaReaderCore::Rep {};

absl::StatusOr<std::unique_ptr<KafkaReaderCore>> KafkaReaderCore::Create(
    const KafkaSourceOptions&, const SourceReaderContext&) {
  return absl::UnimplementedError("KafkaSource: not yet");
}
KafkaReaderCore::KafkaReaderCore(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
KafkaReaderCore::~KafkaReaderCore() = default;
absl::Status KafkaReaderCore::Restore(const std::vector<std::string>&) {
  return absl::OkStatus();
}
absl::Status KafkaReaderCore::Open() { return absl::OkStatus(); }
absl::StatusOr<KafkaReaderCore::Event> KafkaReaderCore::Next() { return Event::kEndOfInput; }
const std::string& KafkaReaderCore::split_id() const {
  static const std::string kNone;
  return kNone;
}
const std::string& KafkaReaderCore::dead_letter_source() const { return split_id(); }
int64_t KafkaReaderCore::last_timestamp_ms() const { return 0; }
void KafkaReaderCore::set_last_timestamp_ms(int64_t) {}
absl::StatusOr<std::string> KafkaReaderCore::Snapshot(int64_t) { return std::string(); }
absl::Status KafkaReaderCore::NotifyCheckpointComplete(int64_t) { return absl::OkStatus(); }
absl::Status KafkaReaderCore::Close() { return absl::OkStatus(); }

}  // namespace internal
}  // namespace brook::connectors
