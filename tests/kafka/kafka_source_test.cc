// File: tests/kafka/kafka_source_test.cc
//
// KafkaSource against librdkafka's mock cluster (one per suite, on loopback):
// the owner formula, starting offsets, the bounded stop, split outputs and
// idleness, the deterministic order, snapshots and restore at 1 -> 2 -> 1,
// dead letters, offset commits and their failures, and a job in the engine.
#include "brook/connectors/kafka/kafka_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/callback_sink.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/kafka/kafka_mock_cluster.h"
#include "brook/connectors/kafka/line_format_deserializer.h"
#include "brook/connectors/text_line_format.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/testing/status_matchers.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

using Output = std::variant<std::string, DeadLetter>;

// The value as the record, its timestamp the message's; "bad..." values are
// rejected, empty ones skipped.
class StringDeserializer final : public KafkaDeserializer<std::string> {
 public:
  Result Deserialize(const KafkaMessage& message, std::string& record, int64_t& /*timestamp_ms*/,
                     std::string& reason) override {
    if (message.value.empty()) return Result::kSkip;
    if (message.value.substr(0, 3) == "bad") {
      reason = absl::StrCat("bad value, key ", std::string(message.key));
      return Result::kRejected;
    }
    record.assign(message.value);
    return Result::kRecord;
  }
};

// One emitted element: the split output it went to, and its timestamp.
struct Emitted {
  std::string split;
  Output value;
  int64_t timestamp_ms;
};

// A ReaderOutput that records which split output each record went to.
class SplitRecordingOutput final : public ReaderOutput<Output> {
 public:
  class Split final : public SourceOutput<Output> {
   public:
    Split(SplitRecordingOutput* owner, std::string id) : owner_(owner), id_(std::move(id)) {}
    void Collect(const Output& v, int64_t ts) override { owner_->emitted.push_back({id_, v, ts}); }
    void Collect(Output&& v, int64_t ts) override {
      owner_->emitted.push_back({id_, std::move(v), ts});
    }
    void MarkIdle() override {}

   private:
    SplitRecordingOutput* owner_;
    std::string id_;
  };

  void Collect(const Output& v, int64_t ts) override { emitted.push_back({"", v, ts}); }
  void Collect(Output&& v, int64_t ts) override { emitted.push_back({"", std::move(v), ts}); }
  void MarkIdle() override { ++idle_marks; }
  SourceOutput<Output>& CreateOutputForSplit(std::string_view id) override {
    auto& split = splits[std::string(id)];
    if (split == nullptr) split = std::make_unique<Split>(this, std::string(id));
    return *split;
  }
  void ReleaseOutputForSplit(std::string_view id) override {
    released.emplace_back(id);
    splits.erase(std::string(id));
  }

  // The values of the records (not dead letters) emitted so far.
  std::vector<std::string> Values() const {
    std::vector<std::string> out;
    for (const Emitted& e : emitted) {
      if (e.value.index() == 0) out.push_back(std::get<0>(e.value));
    }
    return out;
  }

  std::vector<Emitted> emitted;
  std::map<std::string, std::unique_ptr<Split>> splits;
  std::vector<std::string> released;
  int idle_marks = 0;
};

class KafkaSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = KafkaMockCluster::Start(1);
    ASSERT_THAT(c.status(), IsOk());
    cluster_ = std::move(*c).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // A new topic whose partition i holds counts[i] messages "TOPIC/i:j" with
  // timestamps 1000 * (j + 1); returns its name.
  static std::string Topic(const std::vector<int>& counts) {
    static int next = 0;
    std::string topic = absl::StrCat("topic", next++);
    EXPECT_THAT(cluster_->CreateTopic(topic, static_cast<int>(counts.size())), IsOk());
    Produce(topic, counts);
    return topic;
  }
  static void Produce(const std::string& topic, const std::vector<int>& counts, int from = 0) {
    for (int p = 0; p < static_cast<int>(counts.size()); ++p) {
      for (int j = from; j < from + counts[p]; ++j) {
        EXPECT_THAT(cluster_->Produce(topic, p, "k", Value(topic, p, j), 1000 * (j + 1)), IsOk());
      }
    }
    EXPECT_THAT(cluster_->Flush(), IsOk());
  }
  static std::string Value(const std::string& topic, int p, int j) {
    return absl::StrCat(topic, "/", p, ":", j);
  }
  // Every value of `counts` messages per partition.
  static std::vector<std::string> AllValues(const std::string& topic,
                                            const std::vector<int>& counts) {
    std::vector<std::string> out;
    for (int p = 0; p < static_cast<int>(counts.size()); ++p) {
      for (int j = 0; j < counts[p]; ++j) out.push_back(Value(topic, p, j));
    }
    return out;
  }

  static KafkaSourceOptions Options(const std::string& topic, bool bounded = true) {
    KafkaSourceOptions options;
    options.bootstrap_servers = cluster_->bootstrap_servers();
    options.topics = {topic};
    options.group_id = absl::StrCat("group-", topic);
    options.bounded = bounded;
    options.properties = {{"fetch.wait.max.ms", "20"}};
    return options;
  }

  // A reader of subtask `index` of `parallelism`, restored from `states`
  // (when not null) and opened.
  static std::unique_ptr<SourceReader<Output>> Reader(
      const KafkaSourceOptions& options, int index = 0, int parallelism = 1,
      const std::vector<std::string>* states = nullptr, MetricGroup* metrics = nullptr) {
    auto source = KafkaSource<std::string>::Create(
        options, [] { return std::make_unique<StringDeserializer>(); });
    EXPECT_THAT(source.status(), IsOk());
    EXPECT_EQ((*source)->state_distribution(), SourceStateDistribution::kUnion);
    auto reader = (*source)->CreateReader(SourceReaderContext{index, parallelism, metrics});
    EXPECT_THAT(reader.status(), IsOk());
    if (!reader.ok()) return nullptr;
    if (states != nullptr) EXPECT_THAT((*reader)->RestoreState(*states), IsOk());
    EXPECT_THAT((*reader)->Open(), IsOk());
    return *std::move(reader);
  }

  // Polls until the end of input, or (polls >= 0) `polls` times returning
  // records; fails after 10 s.
  static void Poll(SourceReader<Output>& reader, SplitRecordingOutput& out, int polls = -1) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (polls != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the reader did not finish";
      auto status = reader.PollNext(out);
      ASSERT_THAT(status.status(), IsOk());
      if (*status == InputStatus::kEndOfInput) return;
      if (*status == InputStatus::kNothingAvailable) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else if (polls > 0) {
        --polls;
      }
    }
  }
  // Polls an unbounded reader until it emitted `n` elements in all.
  static void PollUntil(SourceReader<Output>& reader, SplitRecordingOutput& out, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.emitted.size() < n) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << out.emitted.size() << " of " << n;
      ASSERT_THAT(reader.PollNext(out).status(), IsOk());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  static KafkaMockCluster* cluster_;
};

KafkaMockCluster* KafkaSourceTest::cluster_ = nullptr;

TEST(KafkaOwnerTest, JavaStringHashCodeMatchesJava) {
  EXPECT_EQ(JavaStringHashCode(""), 0);
  EXPECT_EQ(JavaStringHashCode("a"), 97);
  EXPECT_EQ(JavaStringHashCode("hello"), 99162322);
  EXPECT_EQ(JavaStringHashCode("polygenelubricants"), INT_MIN);
  EXPECT_EQ(JavaStringHashCode("\xc3\xa9"), 0xE9);                          // "é"
  EXPECT_EQ(JavaStringHashCode("\xf0\x9f\x98\x80"), 0xD83D * 31 + 0xDE00);  // U+1F600
}

TEST(KafkaOwnerTest, FlinkSplitOwnerFormula) {
  // "hello": ((99162322 * 31) & 0x7FFFFFFF) % 3 = 926548334 % 3 = 2.
  EXPECT_EQ(KafkaPartitionOwner("hello", 0, 3), 2);
  EXPECT_EQ(KafkaPartitionOwner("hello", 1, 3), 0);
  EXPECT_EQ(KafkaPartitionOwner("hello", 2, 3), 1);
  // INT_MIN * 31 wraps to INT_MIN; masked, 0: partitions go from subtask 0.
  EXPECT_EQ(KafkaPartitionOwner("polygenelubricants", 5, 4), 1);
  for (int p = 0; p < 8; ++p) EXPECT_EQ(KafkaPartitionOwner("t", p, 1), 0);
}

TEST(KafkaOptionsTest, ParsesStartingOffsetsAndValidates) {
  KafkaSourceOptions o;
  EXPECT_THAT(ParseKafkaStartingOffsets("latest", &o), IsOk());
  EXPECT_EQ(o.starting_offsets, KafkaStartingOffsets::kLatest);
  EXPECT_THAT(ParseKafkaStartingOffsets("1700000000000", &o), IsOk());
  EXPECT_EQ(o.starting_offsets, KafkaStartingOffsets::kTimestamp);
  EXPECT_EQ(o.starting_timestamp_ms, 1700000000000);
  EXPECT_THAT(ParseKafkaStartingOffsets("newest", &o),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseKafkaStartingOffsets("", &o), StatusIs(absl::StatusCode::kInvalidArgument));

  auto create = [](KafkaSourceOptions options) {
    return KafkaSource<std::string>::Create(std::move(options),
                                            [] { return std::make_unique<StringDeserializer>(); })
        .status();
  };
  KafkaSourceOptions ok;
  ok.bootstrap_servers = "127.0.0.1:9";
  ok.topics = {"t"};
  EXPECT_THAT(create(ok), IsOk());
  KafkaSourceOptions committed = ok;
  committed.starting_offsets = KafkaStartingOffsets::kCommitted;
  EXPECT_THAT(create(committed), StatusIs(absl::StatusCode::kInvalidArgument));
  KafkaSourceOptions no_topic = ok;
  no_topic.topics.clear();
  EXPECT_THAT(create(no_topic), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(KafkaSourceTest, MissingTopicFailsOpen) {
  auto source = KafkaSource<std::string>::Create(
      Options("no-such-topic"), [] { return std::make_unique<StringDeserializer>(); });
  ASSERT_THAT(source.status(), IsOk());
  auto reader = (*source)->CreateReader({0, 1, nullptr});
  ASSERT_THAT(reader.status(), IsOk());
  EXPECT_THAT((*reader)->Open(), StatusIs(absl::StatusCode::kNotFound));
}

TEST(KafkaSourceOpenTest, UnreachableClusterFailsOpenWithUnavailable) {
  KafkaSourceOptions options;
  options.bootstrap_servers = "127.0.0.1:1";  // nothing listens on port 1
  options.topics = {"t"};
  options.request_timeout_ms = 200;
  auto source = KafkaSource<std::string>::Create(
      options, [] { return std::make_unique<StringDeserializer>(); });
  ASSERT_THAT(source.status(), IsOk());
  auto reader = (*source)->CreateReader({0, 1, nullptr});
  ASSERT_THAT(reader.status(), IsOk());
  EXPECT_THAT((*reader)->Open(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(KafkaSourceTest, BoundedReadsToTheEndOffsetsAtStartOnly) {
  // Partition 1 is empty; records produced after the reader opened are not read.
  const std::string topic = Topic({3, 0, 2});
  auto reader = Reader(Options(topic));
  Produce(topic, {2, 1, 1}, /*from=*/10);
  SplitRecordingOutput out;
  Poll(*reader, out);
  EXPECT_THAT(out.Values(), UnorderedElementsAreArray(AllValues(topic, {3, 0, 2})));
  // Each record went to its partition's split output, with its timestamp.
  for (const Emitted& e : out.emitted) {
    const std::string& v = std::get<0>(e.value);
    EXPECT_EQ(e.split, v.substr(0, v.find(':')));
    EXPECT_EQ(e.timestamp_ms, 1000 * (std::stoi(v.substr(v.find(':') + 1)) + 1));
  }
  // Finished partitions release their outputs; the empty one never had one.
  EXPECT_THAT(out.released, ElementsAre(topic + "/0", topic + "/2"));
}

// A partition whose records are still to come holds the watermark back from
// the first poll: every unfinished partition has its split output before any
// record is emitted (an empty partition is finished and never gets one).
TEST_F(KafkaSourceTest, EveryPartitionHasItsSplitOutputFromTheFirstPoll) {
  const std::string topic = Topic({3, 0, 2, 2});
  KafkaSourceOptions options = Options(topic);
  options.max_records_per_poll = 1;
  auto reader = Reader(options);
  SplitRecordingOutput out;
  Poll(*reader, out, /*polls=*/1);
  EXPECT_LE(out.emitted.size(), 1u);
  std::vector<std::string> ids;
  for (const auto& [id, split] : out.splits) ids.push_back(id);
  EXPECT_THAT(ids, ElementsAre(topic + "/0", topic + "/2", topic + "/3"));
}

TEST_F(KafkaSourceTest, StartingOffsets) {
  const std::string topic = Topic({5});
  {
    SCOPED_TRACE("earliest");
    SplitRecordingOutput out;
    Poll(*Reader(Options(topic)), out);
    EXPECT_THAT(out.Values(), ElementsAreArray(AllValues(topic, {5})));
  }
  {
    // librdkafka 2.0.2's mock answers every lookup by timestamp with -1, "no
    // record at or after it", which starts a partition at its end.
    SCOPED_TRACE("timestamp, as the mock answers it");
    KafkaSourceOptions options = Options(topic);
    ASSERT_THAT(ParseKafkaStartingOffsets("2500", &options), IsOk());
    SplitRecordingOutput none;
    Poll(*Reader(options), none);
    EXPECT_THAT(none.emitted, IsEmpty());
  }
  {
    SCOPED_TRACE("committed, with nothing committed: the fallback");
    KafkaSourceOptions options = Options(topic);
    options.starting_offsets = KafkaStartingOffsets::kCommitted;
    SplitRecordingOutput out;
    Poll(*Reader(options), out);
    EXPECT_EQ(out.Values().size(), 5u);
    options.committed_fallback = KafkaStartingOffsets::kLatest;
    SplitRecordingOutput none;
    Poll(*Reader(options), none);
    EXPECT_THAT(none.emitted, IsEmpty());
  }
  {
    SCOPED_TRACE("latest, unbounded: only what is produced after the start");
    auto reader = Reader(Options(topic, /*bounded=*/false));
    SplitRecordingOutput out;
    Poll(*reader, out, 0);
    Produce(topic, {1}, /*from=*/5);
    PollUntil(*reader, out, 5);  // from earliest: 6 records in all
    KafkaSourceOptions options = Options(topic, /*bounded=*/false);
    options.starting_offsets = KafkaStartingOffsets::kLatest;
    auto latest = Reader(options);
    SplitRecordingOutput later;
    for (int i = 0; i < 20; ++i) ASSERT_THAT(latest->PollNext(later).status(), IsOk());
    Produce(topic, {1}, /*from=*/6);
    PollUntil(*latest, later, 1);
    EXPECT_THAT(later.Values(), ElementsAre(Value(topic, 0, 6)));
  }
}

TEST_F(KafkaSourceTest, CommitsCheckpointedOffsetsOnCompletionAndCountsFailures) {
  const std::string topic = Topic({6});
  KafkaSourceOptions options = Options(topic);
  options.max_records_per_poll = 4;
  MetricRegistry registry;
  MetricGroup metrics(&registry, {"job", "kafka", 0});
  auto reader = Reader(options, 0, 1, nullptr, &metrics);
  SplitRecordingOutput out;
  Poll(*reader, out, 1);
  ASSERT_EQ(out.emitted.size(), 4u);
  ASSERT_THAT(reader->SnapshotState(1).status(), IsOk());
  Poll(*reader, out);  // to the end: offset 6
  ASSERT_THAT(reader->SnapshotState(2).status(), IsOk());
  // Checkpoint 1 completes: its offset (4), not the current one, is committed.
  ASSERT_THAT(reader->NotifyCheckpointComplete(1), IsOk());
  auto committed = [&] { return cluster_->CommittedOffset(options.group_id, topic, 0); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (committed().value_or(-1) != 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(committed().value_or(-1), 4);

  // A reader starting from the committed offsets reads the rest.
  KafkaSourceOptions from_committed = options;
  from_committed.starting_offsets = KafkaStartingOffsets::kCommitted;
  SplitRecordingOutput rest;
  Poll(*Reader(from_committed), rest);
  EXPECT_THAT(rest.Values(), ElementsAre(Value(topic, 0, 4), Value(topic, 0, 5)));

  // A failed commit is counted, never fatal; the offset stays.
  cluster_->FailOffsetCommits(1);
  ASSERT_THAT(reader->NotifyCheckpointComplete(2), IsOk());
  while (registry.Sum("kafka_commit_failures", "kafka").value_or(0) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_THAT(reader->NotifyCheckpointComplete(3), IsOk());  // drains results
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(registry.Sum("kafka_commit_failures", "kafka").value_or(0), 1);
  EXPECT_EQ(committed().value_or(-1), 4);
  EXPECT_EQ(registry.Sum("kafka_commits", "kafka").value_or(0), 1);
  EXPECT_EQ(registry.Sum(absl::StrCat("kafka_records_in.", topic, "/0"), "kafka").value_or(0), 6);
  EXPECT_EQ(registry.Sum(absl::StrCat("kafka_consumer_lag.", topic, "/0"), "kafka").value_or(-1),
            0);
  EXPECT_THAT(reader->Close(), IsOk());
}

TEST_F(KafkaSourceTest, RejectionsBecomeDeadLettersWithTopicPartitionAndOffset) {
  const std::string topic = Topic({0});
  ASSERT_THAT(cluster_->Produce(topic, 0, "k1", "good", 5000), IsOk());
  ASSERT_THAT(cluster_->Produce(topic, 0, "k2", "bad json", 9000), IsOk());
  ASSERT_THAT(cluster_->Produce(topic, 0, "k3", "", 9000), IsOk());  // skipped
  ASSERT_THAT(cluster_->Produce(topic, 0, "k4", "fine", 6000), IsOk());
  ASSERT_THAT(cluster_->Flush(), IsOk());
  SplitRecordingOutput out;
  Poll(*Reader(Options(topic)), out);
  ASSERT_EQ(out.emitted.size(), 3u);
  EXPECT_EQ(std::get<0>(out.emitted[0].value), "good");
  const DeadLetter& dl = std::get<1>(out.emitted[1].value);
  EXPECT_EQ(dl,
            (DeadLetter{absl::StrCat("kafka:", topic, "/0"), 1, "bad value, key k2", "bad json"}));
  // A rejection carries its partition's latest record timestamp, not its own.
  EXPECT_EQ(out.emitted[1].timestamp_ms, 5000);
  EXPECT_EQ(out.emitted[1].split, topic + "/0");
  EXPECT_EQ(std::get<0>(out.emitted[2].value), "fine");
}

TEST_F(KafkaSourceTest, LineFormatDeserializerRejectsAsAFileSourceDoes) {
  const std::string topic = Topic({0});
  for (const std::string& value : {std::string("caf\xc3\xa9"), std::string("bad \xff byte"),
                                   std::string(), std::string("last")}) {
    ASSERT_THAT(cluster_->Produce(topic, 0, "", value, 7000), IsOk());
  }
  ASSERT_THAT(cluster_->Flush(), IsOk());
  auto source = KafkaSource<std::string>::Create(Options(topic), [] {
    return std::make_unique<LineFormatDeserializer<TextLineFormat>>(TextLineFormat());
  });
  ASSERT_THAT(source.status(), IsOk());
  auto reader = (*source)->CreateReader({0, 1, nullptr});
  ASSERT_THAT(reader.status(), IsOk());
  ASSERT_THAT((*reader)->Open(), IsOk());
  SplitRecordingOutput out;
  Poll(**reader, out);
  EXPECT_THAT(out.Values(), ElementsAre("caf\xc3\xa9", "last"));
  std::vector<std::pair<int64_t, std::string>> rejected;
  for (const Emitted& e : out.emitted) {
    if (e.value.index() == 1) {
      const DeadLetter& dl = std::get<1>(e.value);
      EXPECT_EQ(dl.source, absl::StrCat("kafka:", topic, "/0"));
      rejected.emplace_back(dl.line_number, dl.reason);
    }
  }
  EXPECT_THAT(rejected,
              ElementsAre(std::pair<int64_t, std::string>{1, "invalid UTF-8 at byte offset 4"}));
}

TEST_F(KafkaSourceTest, ReaderWithoutPartitionsIsIdleOrEnds) {
  const std::string topic = Topic({1});
  const int owner = KafkaPartitionOwner(topic, 0, 2);
  SplitRecordingOutput out;
  auto unbounded = Reader(Options(topic, false), 1 - owner, 2);
  EXPECT_THAT(unbounded->PollNext(out), IsOkAndHolds(InputStatus::kNothingAvailable));
  EXPECT_THAT(unbounded->PollNext(out), IsOkAndHolds(InputStatus::kNothingAvailable));
  EXPECT_EQ(out.idle_marks, 2);
  auto bounded = Reader(Options(topic), 1 - owner, 2);
  EXPECT_THAT(bounded->PollNext(out), IsOkAndHolds(InputStatus::kEndOfInput));
  EXPECT_THAT(out.emitted, IsEmpty());
}

TEST_F(KafkaSourceTest, BoundedOrderIsAFunctionOfTheTopicAlone) {
  // Uneven partitions, turns of 3 records: partitions in order, 3 at a time.
  const std::vector<int> counts = {7, 2, 0, 5};
  const std::string topic = Topic(counts);
  KafkaSourceOptions options = Options(topic);
  options.max_records_per_turn = 3;
  options.max_records_per_poll = 5;
  std::vector<std::string> expected;
  std::vector<int> next(counts.size(), 0);
  for (bool more = true; more;) {
    more = false;
    for (size_t p = 0; p < counts.size(); ++p) {
      for (int k = 0; k < 3 && next[p] < counts[p]; ++k)
        expected.push_back(Value(topic, p, next[p]++));
      more |= next[p] < counts[p];
    }
  }
  for (int run = 0; run < 2; ++run) {
    SplitRecordingOutput out;
    Poll(*Reader(options), out);
    EXPECT_THAT(out.Values(), ElementsAreArray(expected)) << "run " << run;
  }
  // Restored mid-turn, the sequence goes on as if uninterrupted.
  SplitRecordingOutput first;
  auto reader = Reader(options);
  Poll(*reader, first, 2);  // 10 records: mid-way through partition 0's second turn
  auto state = reader->SnapshotState(1);
  ASSERT_THAT(state.status(), IsOk());
  std::vector<std::string> states = {*state};
  SplitRecordingOutput rest;
  Poll(*Reader(options, 0, 1, &states), rest);
  std::vector<std::string> all = first.Values();
  for (const std::string& v : rest.Values()) all.push_back(v);
  EXPECT_THAT(all, ElementsAreArray(expected));
}

TEST_F(KafkaSourceTest, RestoreAtParallelismOneTwoOneLosesAndRepeatsNothing) {
  const std::vector<int> counts = {10, 10, 10, 10, 10};
  const std::string topic = Topic(counts);
  KafkaSourceOptions options = Options(topic);
  options.max_records_per_poll = 7;
  std::vector<std::string> seen;
  auto take = [&seen](const SplitRecordingOutput& out) {
    for (const std::string& v : out.Values()) seen.push_back(v);
  };
  // p = 1: 14 records, then a checkpoint.
  SplitRecordingOutput out1;
  auto one = Reader(options);
  Poll(*one, out1, 2);
  take(out1);
  auto s1 = one->SnapshotState(1);
  ASSERT_THAT(s1.status(), IsOk());
  // p = 2: each reader gets the union, keeps its own partitions.
  std::vector<std::string> union1 = {*s1};
  std::vector<std::string> union2;
  for (int i = 0; i < 2; ++i) {
    SplitRecordingOutput out;
    auto reader = Reader(options, i, 2, &union1);
    Poll(*reader, out, 1 + i);
    take(out);
    for (const Emitted& e : out.emitted) {
      const std::string split = std::get<0>(e.value).substr(0, std::get<0>(e.value).find(':'));
      const int partition = std::stoi(split.substr(split.find('/') + 1));
      EXPECT_EQ(KafkaPartitionOwner(topic, partition, 2), i) << split;
    }
    auto s = reader->SnapshotState(2);
    ASSERT_THAT(s.status(), IsOk());
    union2.push_back(*s);
  }
  // p = 1 again, to the end.
  SplitRecordingOutput out3;
  Poll(*Reader(options, 0, 1, &union2), out3);
  take(out3);
  EXPECT_THAT(seen, UnorderedElementsAreArray(AllValues(topic, counts)));
}

TEST_F(KafkaSourceTest, RunsInAJobAtParallelismOneAndTwo) {
  const std::vector<int> counts = {50, 30, 0, 40};
  const std::string topic = Topic(counts);
  for (int parallelism : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("parallelism ", parallelism));
    auto source = KafkaSource<std::string>::Create(
        Options(topic), [] { return std::make_unique<StringDeserializer>(); });
    ASSERT_THAT(source.status(), IsOk());
    std::mutex mu;
    std::vector<std::string> values;
    auto sink = std::make_shared<CallbackSink<Output>>([&](const Output& v) {
      std::lock_guard<std::mutex> lock(mu);
      values.push_back(std::get<0>(v));
    });
    ExecutionConfig config;
    config.parallelism = parallelism;
    StreamExecutionEnvironment env(config);
    env.FromSource<Output>(*source, WatermarkStrategy<Output>::NoWatermarks(), "kafka")
        .SinkTo(sink, "values", 1);
    ASSERT_THAT(env.Execute("kafka"), IsOk());
    EXPECT_THAT(values, UnorderedElementsAreArray(AllValues(topic, counts)));
  }
}

// A checkpointed job over a bounded topic, cancelled after `cancel_after`
// checkpoints (0: run to the end), restoring from `storage` when `restore`;
// writes the values exactly once to `path`.
absl::Status RunCheckpointedJob(const std::string& bootstrap, const std::string& topic,
                                const std::string& path, std::shared_ptr<CheckpointStorage> storage,
                                int parallelism, int cancel_after, bool restore) {
  KafkaSourceOptions options;
  options.bootstrap_servers = bootstrap;
  options.topics = {topic};
  options.bounded = true;
  options.max_records_per_poll = 16;
  auto source = KafkaSource<std::string>::Create(
      options, [] { return std::make_unique<StringDeserializer>(); });
  if (!source.ok()) return source.status();
  FileSinkOptions<std::string> sink_options;
  sink_options.encoder = [](const std::string& v, std::string& out) { AppendCsvRow(out, v); };
  auto sink =
      TransactionalFileSink<std::string>::Open(path, FileSinkMode::kTransactional, sink_options);
  if (!sink.ok()) return sink.status();
  ExecutionConfig config;
  config.parallelism = parallelism;
  config.batch_size = 16;
  config.channel_capacity = 2;
  config.checkpoint.interval = absl::Milliseconds(10);
  config.checkpoint.storage = std::move(storage);
  config.checkpoint.restore =
      restore ? CheckpointConfig::Restore::kLatest : CheckpointConfig::Restore::kNone;
  StreamExecutionEnvironment env(config);
  const bool pace = cancel_after > 0;
  env.FromSource<Output>(*source, WatermarkStrategy<Output>::NoWatermarks(), "kafka")
      .Map(
          [pace](const Output& v) {
            if (pace) std::this_thread::sleep_for(std::chrono::microseconds(200));
            return std::get<0>(v);
          },
          "pace")
      .SinkTo(*sink, "file", 1);
  absl::Status status;
  std::thread runner([&] { status = env.Execute("kafka-exactly-once"); });
  if (cancel_after > 0) {
    for (int i = 0; i < 10000; ++i) {
      if (env.metrics().Sum("checkpoints_completed", "checkpoint").value_or(0) >= cancel_after) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    env.Cancel();
  }
  runner.join();
  return status;
}

TEST_F(KafkaSourceTest, CheckpointedJobRestoredReadsEveryRecordOnce) {
  const std::vector<int> counts = {300, 200, 0, 250};
  const std::string topic = Topic(counts);
  // Same parallelism before and after: on main the engine hands reader i
  // the state of reader i; a rescaled restore needs its union distribution.
  for (int parallelism : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("parallelism ", parallelism));
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(::testing::TempDir()) /
                         absl::StrCat("kafka-exactly-once-", ::getpid(), "-", parallelism);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string path = (dir / "out.csv").string();
    std::shared_ptr<CheckpointStorage> storage = NewInMemoryCheckpointStorage();
    const absl::Status first = RunCheckpointedJob(cluster_->bootstrap_servers(), topic, path,
                                                  storage, parallelism, 3, false);
    ASSERT_TRUE(absl::IsCancelled(first)) << first;
    ASSERT_THAT(RunCheckpointedJob(cluster_->bootstrap_servers(), topic, path, storage, parallelism,
                                   0, true),
                IsOk());
    std::ifstream in(path);
    std::vector<std::string> got;
    for (std::string line; std::getline(in, line);) got.push_back(line);
    EXPECT_THAT(got, UnorderedElementsAreArray(AllValues(topic, counts)));
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace brook::connectors
