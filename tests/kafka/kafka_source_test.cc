#include "brook/connectors/kafka/kafka_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/testing/status_matchers.h"

namespace {

using ::brook::connectors::KafkaDeserializer;
using ::brook::connectors::KafkaMessage;
using ::brook::connectors::KafkaSource;
using ::brook::connectors::KafkaSourceOptions;
using ::brook::testing::IsOk;

// The value as the record; "bad" values are rejected, empty ones skipped.
class StringDeserializer final : public KafkaDeserializer<std::string> {
 public:
  Result Deserialize(const KafkaMessage& message, std::string& record, int64_t& /*timestamp_ms*/,
                     std::string& reason) override {
    if (message.value.empty()) return Result::kSkip;
    if (message.value == "bad") {
      reason = "bad value";
      return Result::kRejected;
    }
    record.assign(message.value);
    return Result::kRecord;
  }
};

TEST(KafkaSourceTest, Builds) {
  KafkaSourceOptions options;
  options.bootstrap_servers = "127.0.0.1:1";
  options.topics = {"t"};
  auto source = KafkaSource<std::string>::Create(
      options, [] { return std::make_unique<StringDeserializer>(); });
  EXPECT_THAT(source.status(), IsOk());
}

}  // namespace
