#include "brook/connectors/kafka/kafka_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/kafka/kafka_mock_cluster.h"
#include "brook/stream.h"
#include "brook/testing/status_matchers.h"
#include "kafka/fake_kafka_producer.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;

struct Row {
  int key;
  std::string text;
};

KafkaSinkOptions<Row> RowOptions(DeliveryGuarantee guarantee) {
  KafkaSinkOptions<Row> o;
  o.bootstrap_servers = "fake:9092";
  o.topic = "out";
  o.delivery_guarantee = guarantee;
  o.transactional_id_prefix = "job-sink";
  o.serializer = [](const Row& r, KafkaProducerRecord& record) {
    record.SetKey(absl::StrCat(r.key));
    record.value = r.text;
  };
  return o;
}

std::vector<StreamRecord<Row>> Rows(std::vector<std::string> texts) {
  std::vector<StreamRecord<Row>> batch;
  for (size_t i = 0; i < texts.size(); ++i) {
    batch.push_back(StreamRecord<Row>{0, Row{static_cast<int>(i), texts[i]}});
  }
  return batch;
}

class KafkaSinkFakeTest : public ::testing::Test {
 protected:
  // A writer of a sink with `guarantee` over the fake, for subtask 0.
  std::unique_ptr<SinkWriter<Row>> NewWriter(DeliveryGuarantee guarantee,
                                             absl::Duration checkpoint_interval = absl::Seconds(10),
                                             KafkaProperties properties = {}) {
    auto options = RowOptions(guarantee);
    options.producer_factory = kafka_.Factory();
    options.properties = std::move(properties);
    auto sink = KafkaSink<Row>::Create(std::move(options));
    EXPECT_THAT(sink.status(), IsOk());
    SinkWriterContext ctx;
    ctx.metrics = &group_;
    ctx.checkpoint_interval = checkpoint_interval;
    auto writer = (*sink)->CreateWriter(ctx);
    EXPECT_THAT(writer.status(), IsOk());
    return writer.ok() ? *std::move(writer) : nullptr;
  }
  absl::Status Write(SinkWriter<Row>& writer, std::vector<std::string> texts) {
    auto batch = Rows(std::move(texts));
    return writer.Write(batch);
  }
  int64_t Metric(const std::string& name) { return group_.GetCounter(name)->value(); }

  testing::FakeKafka kafka_;
  MetricRegistry registry_;
  MetricGroup group_{&registry_, MetricScope{"job", "kafka-sink", 0}};
};

TEST_F(KafkaSinkFakeTest, ExactlyOnceRecordsAreVisibleOnlyAfterTheirCheckpointCommits) {
  auto writer = NewWriter(DeliveryGuarantee::kExactlyOnce);
  ASSERT_NE(writer, nullptr);
  ASSERT_THAT(Write(*writer, {"a", "b"}), IsOk());
  EXPECT_THAT(kafka_.visible(), IsEmpty());
  ASSERT_THAT(writer->SnapshotState(1).status(), IsOk());  // pre-commit
  EXPECT_THAT(kafka_.visible(), IsEmpty());
  // After the barrier: a second transaction, on a second transactional id.
  ASSERT_THAT(Write(*writer, {"c"}), IsOk());
  ASSERT_THAT(writer->NotifyCheckpointComplete(1), IsOk());
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("a", "b"));
  EXPECT_THAT(writer->NotifyCheckpointComplete(1), IsOk());  // idempotent
  ASSERT_THAT(writer->Flush(), IsOk());                      // end of input commits the rest
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("a", "b", "c"));
  EXPECT_THAT(kafka_.visible()[0], (testing::FakeKafka::Message{"out", "0", "a"}));
  EXPECT_THAT(kafka_.calls(),
              ElementsAre("job-sink-0-0:init", "job-sink-0-0:begin", "job-sink-0-0:flush",
                          "job-sink-0-1:init", "job-sink-0-1:begin", "job-sink-0-0:commit",
                          "job-sink-0-1:flush", "job-sink-0-1:commit"));
  EXPECT_EQ(Metric("transactions_committed"), 2);
  EXPECT_EQ(Metric("records_sent"), 3);
  EXPECT_EQ(Metric("bytes_sent"), 6);  // keys "0", "1", "0" and values
  EXPECT_EQ(group_.GetHistogram("flush_time_ms", {})->Snapshot().count(), 2);
}

TEST_F(KafkaSinkFakeTest, ExactlyOnceReusesACommittedTransactionalId) {
  auto writer = NewWriter(DeliveryGuarantee::kExactlyOnce);
  ASSERT_NE(writer, nullptr);
  for (int64_t checkpoint = 1; checkpoint <= 3; ++checkpoint) {
    ASSERT_THAT(Write(*writer, {absl::StrCat(checkpoint)}), IsOk());
    ASSERT_THAT(writer->SnapshotState(checkpoint).status(), IsOk());
    ASSERT_THAT(writer->NotifyCheckpointComplete(checkpoint), IsOk());
  }
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("1", "2", "3"));
  EXPECT_EQ(kafka_.properties().size(), 1u);  // one producer was enough
}

TEST_F(KafkaSinkFakeTest, RestoreAbortsLingeringTransactions) {
  std::string state;
  {
    auto writer = NewWriter(DeliveryGuarantee::kExactlyOnce);
    ASSERT_NE(writer, nullptr);
    ASSERT_THAT(Write(*writer, {"a"}), IsOk());
    auto snapshot = writer->SnapshotState(1);
    ASSERT_THAT(snapshot.status(), IsOk());
    state = *snapshot;
    ASSERT_THAT(Write(*writer, {"after the barrier"}), IsOk());
    // Crash: neither the pre-committed nor the open transaction commits.
  }
  auto restored = NewWriter(DeliveryGuarantee::kExactlyOnce);
  ASSERT_NE(restored, nullptr);
  ASSERT_THAT(restored->RestoreState({state}), IsOk());
  // Both ids were fenced, so their transactions can never commit.
  const auto& calls = kafka_.calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "job-sink-0-0:init"), 2);
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "job-sink-0-1:init"), 2);
  ASSERT_THAT(Write(*restored, {"replayed"}), IsOk());
  ASSERT_THAT(restored->Flush(), IsOk());
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("replayed"));
  EXPECT_EQ(Metric("transactions_aborted"), 2);
}

TEST_F(KafkaSinkFakeTest, CloseAbortsTheOpenTransaction) {
  auto writer = NewWriter(DeliveryGuarantee::kExactlyOnce);
  ASSERT_NE(writer, nullptr);
  ASSERT_THAT(Write(*writer, {"a"}), IsOk());
  ASSERT_THAT(writer->Close(), IsOk());
  EXPECT_THAT(kafka_.calls().back(), "job-sink-0-0:abort");
  EXPECT_THAT(kafka_.visible(), IsEmpty());
  EXPECT_EQ(Metric("transactions_aborted"), 1);
}

TEST_F(KafkaSinkFakeTest, FailedDeliveryFailsTheCheckpointAndTheJob) {
  for (auto guarantee : {DeliveryGuarantee::kAtLeastOnce, DeliveryGuarantee::kExactlyOnce}) {
    SCOPED_TRACE(DeliveryGuaranteeName(guarantee));
    auto writer = NewWriter(guarantee);
    ASSERT_NE(writer, nullptr);
    kafka_.FailNextDeliveries(1);
    ASSERT_THAT(Write(*writer, {"lost", "kept"}), IsOk());  // not acknowledged yet
    EXPECT_THAT(writer->SnapshotState(1).status(),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("1 record(s) not delivered")));
    EXPECT_THAT(Write(*writer, {"next"}), StatusIs(absl::StatusCode::kUnavailable));
  }
  EXPECT_EQ(Metric("delivery_failures"), 2);
}

TEST_F(KafkaSinkFakeTest, AtLeastOnceFlushesAtTheBarrier) {
  auto writer = NewWriter(DeliveryGuarantee::kAtLeastOnce);
  ASSERT_NE(writer, nullptr);
  ASSERT_THAT(Write(*writer, {"a", "b"}), IsOk());
  EXPECT_THAT(kafka_.visible(), IsEmpty());
  EXPECT_THAT(writer->SnapshotState(1), IsOkAndHolds(""));
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("a", "b"));
  EXPECT_THAT(kafka_.calls(), ElementsAre("producer:flush"));
  EXPECT_THAT(kafka_.properties()[0], Contains(Pair("enable.idempotence", "true")));
  EXPECT_THAT(kafka_.properties()[0], Not(Contains(Pair("transactional.id", ::testing::_))));
}

TEST_F(KafkaSinkFakeTest, NoneNeverFlushesAtBarriersAndOnlyCountsFailures) {
  auto writer = NewWriter(DeliveryGuarantee::kNone);
  ASSERT_NE(writer, nullptr);
  kafka_.FailNextDeliveries(1);
  ASSERT_THAT(Write(*writer, {"lost", "a"}), IsOk());
  EXPECT_THAT(writer->SnapshotState(1), IsOkAndHolds(""));
  EXPECT_THAT(kafka_.calls(), IsEmpty());
  EXPECT_THAT(kafka_.visible(), IsEmpty());
  EXPECT_THAT(writer->Flush(), IsOk());  // the end of input delivers the rest
  EXPECT_THAT(kafka_.visible_values(), ElementsAre("a"));
  EXPECT_EQ(Metric("delivery_failures"), 1);
}

TEST_F(KafkaSinkFakeTest, TransactionTimeoutShorterThanTheCheckpointIntervalIsRejected) {
  auto options = RowOptions(DeliveryGuarantee::kExactlyOnce);
  options.producer_factory = kafka_.Factory();
  auto sink = KafkaSink<Row>::Create(options);
  ASSERT_THAT(sink.status(), IsOk());
  SinkWriterContext ctx;
  ctx.checkpoint_interval = absl::Minutes(2);  // librdkafka's default timeout is 60 s
  EXPECT_THAT((*sink)->CreateWriter(ctx).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("transaction.timeout.ms=60000 is shorter than the checkpoint "
                                 "interval (2m)")));
  options.properties = {{"transaction.timeout.ms", "300000"}};
  auto longer = KafkaSink<Row>::Create(options);
  ASSERT_THAT(longer.status(), IsOk());
  EXPECT_THAT((*longer)->CreateWriter(ctx).status(), IsOk());
}

TEST_F(KafkaSinkFakeTest, AJobsCheckpointIntervalReachesTheSink) {
  ExecutionConfig config;
  config.checkpoint.interval = absl::Minutes(2);
  config.checkpoint.storage = NewInMemoryCheckpointStorage();
  auto options = RowOptions(DeliveryGuarantee::kExactlyOnce);
  options.producer_factory = kafka_.Factory();
  auto sink = KafkaSink<Row>::Create(options);
  ASSERT_THAT(sink.status(), IsOk());
  StreamExecutionEnvironment env(config);
  env.FromCollection(std::vector<Row>{{1, "a"}}).SinkTo(*sink, "kafka");
  EXPECT_THAT(env.Execute(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint interval (2m)")));
  EXPECT_THAT(kafka_.visible(), IsEmpty());
}

TEST(KafkaSinkTest, CreateRejectsIncompleteOptions) {
  auto options = RowOptions(DeliveryGuarantee::kExactlyOnce);
  options.transactional_id_prefix.clear();
  EXPECT_THAT(KafkaSink<Row>::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("transactional_id_prefix")));
  options = RowOptions(DeliveryGuarantee::kAtLeastOnce);
  options.serializer = nullptr;
  EXPECT_THAT(KafkaSink<Row>::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDeliveryGuarantee("exactly-once"),
              IsOkAndHolds(DeliveryGuarantee::kExactlyOnce));
  EXPECT_THAT(ParseDeliveryGuarantee("once"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- against librdkafka's mock cluster (real producers; the mock cannot
// show transactional visibility, so only the call paths are checked).

// "key\tvalue" lines of `topic`, read with kcat from the beginning to the end.
std::vector<std::string> ReadTopic(const std::string& servers, const std::string& topic) {
  const std::string command = absl::StrCat("kcat -C -q -b ", servers, " -t ", topic,
                                           " -o beginning -e -f '%k\\t%s\\n' 2>&1");
  std::FILE* pipe = popen(command.c_str(), "r");
  std::vector<std::string> lines;
  if (pipe == nullptr) return lines;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    std::string line(buffer);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
  }
  pclose(pipe);
  return lines;
}

TEST(KafkaSinkMockClusterTest, ProducesThroughEveryGuarantee) {
  auto cluster = KafkaMockCluster::Start(1);
  ASSERT_THAT(cluster.status(), IsOk());
  for (auto guarantee : {DeliveryGuarantee::kNone, DeliveryGuarantee::kAtLeastOnce,
                         DeliveryGuarantee::kExactlyOnce}) {
    SCOPED_TRACE(DeliveryGuaranteeName(guarantee));
    const std::string topic = absl::StrCat("out-", static_cast<int>(guarantee));
    ASSERT_THAT((*cluster)->CreateTopic(topic, 1), IsOk());
    auto options = RowOptions(guarantee);
    options.bootstrap_servers = (*cluster)->bootstrap_servers();
    options.topic = topic;
    auto sink = KafkaSink<Row>::Create(options);
    ASSERT_THAT(sink.status(), IsOk());
    auto writer = (*sink)->CreateWriter(SinkWriterContext{});
    ASSERT_THAT(writer.status(), IsOk());
    auto first = Rows({"a", "b"});
    ASSERT_THAT((*writer)->Write(first), IsOk());
    ASSERT_THAT((*writer)->SnapshotState(1).status(), IsOk());
    auto second = Rows({"c"});
    ASSERT_THAT((*writer)->Write(second), IsOk());
    ASSERT_THAT((*writer)->NotifyCheckpointComplete(1), IsOk());
    ASSERT_THAT((*writer)->Flush(), IsOk());
    ASSERT_THAT((*writer)->Close(), IsOk());
    EXPECT_THAT(ReadTopic((*cluster)->bootstrap_servers(), topic),
                ElementsAre("0\ta", "1\tb", "0\tc"));
  }
}

}  // namespace
}  // namespace brook::connectors
