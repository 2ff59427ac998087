// File: tests/kafka/kafka_exchange_test.cc
//
// KafkaExchange against librdkafka's mock cluster (one per suite): routing by
// key group, the documented message layout, the watermark as the minimum over
// upstream tasks, the end of input, deduplication of a replayed (task,
// sequence) range, restore of the dedup state and of the sink's sequence,
// and jobs in two "processes" (two environments on threads) giving one
// process's keyed result, also when one sends twice or resumes from a
// savepoint.
#include "brook/connectors/kafka/kafka_exchange.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/kafka/kafka_mock_cluster.h"
#include "brook/connectors/kafka/kafka_source.h"
#include "brook/testing/status_matchers.h"
#include "brook/window.h"
#include "connectors/test_util.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// (key, event time ms): the exchanged record.
using Rec = std::pair<int64_t, int64_t>;
using Exchange = KafkaExchange<int64_t, Rec>;

int64_t KeyOf(const Rec& r) { return r.first; }

// The documented message layout (kafka_exchange.h), written independently.
std::string Marker(uint8_t kind, int32_t task, int64_t number) {
  std::string v;
  DataOutputView out(&v);
  out.WriteUint8(1);
  out.WriteUint8(kind);
  out.WriteInt32(task);
  out.WriteInt64(number);
  return v;
}
std::string Record(int32_t task, int64_t seq, const Rec& r) {
  std::string v = Marker(0, task, seq);
  DataOutputView out(&v);
  out.WriteInt64(r.second);
  TypeSerializer<Rec>::Serialize(r, out);
  return v;
}
std::string Watermark(int32_t task, int64_t wm) { return Marker(1, task, wm); }
std::string End(int32_t task, int64_t last_seq) { return Marker(2, task, last_seq); }

// A ReaderOutput that records, per split, records and watermarks in order
// ("r:KEY@TS", "w:WM"), and releases.
class RecordingOutput final : public ReaderOutput<Rec> {
 public:
  class Split final : public SourceOutput<Rec> {
   public:
    Split(RecordingOutput* owner, std::string id) : owner_(owner), id_(std::move(id)) {}
    void Collect(const Rec& v, int64_t ts) override { Add(absl::StrCat("r:", v.first, "@", ts)); }
    void Collect(Rec&& v, int64_t ts) override { Add(absl::StrCat("r:", v.first, "@", ts)); }
    void MarkIdle() override { Add("idle"); }

   protected:
    void DoEmitWatermark(int64_t wm) override { Add(absl::StrCat("w:", wm)); }

   private:
    void Add(std::string e) { owner_->events[id_].push_back(std::move(e)); }
    RecordingOutput* owner_;
    std::string id_;
  };

  void Collect(const Rec&, int64_t) override { events["<reader>"].push_back("r"); }
  void Collect(Rec&&, int64_t) override { events["<reader>"].push_back("r"); }
  void MarkIdle() override { ++idle_marks; }
  SourceOutput<Rec>& CreateOutputForSplit(std::string_view id) override {
    auto& split = splits[std::string(id)];
    if (split == nullptr) split = std::make_unique<Split>(this, std::string(id));
    return *split;
  }
  void ReleaseOutputForSplit(std::string_view id) override {
    released.emplace_back(id);
    splits.erase(std::string(id));
  }

  std::map<std::string, std::vector<std::string>> events;
  std::map<std::string, std::unique_ptr<Split>> splits;
  std::vector<std::string> released;
  int idle_marks = 0;
};

class KafkaExchangeTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto c = KafkaMockCluster::Start(1);
    ASSERT_THAT(c.status(), IsOk());
    cluster_ = std::move(*c).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static std::string NewTopic(int partitions) {
    static int next = 0;
    std::string topic = absl::StrCat("exchange", next++);
    if (partitions > 0) EXPECT_THAT(cluster_->CreateTopic(topic, partitions), IsOk());
    return topic;
  }
  static KafkaExchangeOptions Options(const std::string& topic, int num_processes = 1,
                                      int process_index = 0, int upstream_parallelism = 1) {
    KafkaExchangeOptions o;
    o.bootstrap_servers = cluster_->bootstrap_servers();
    o.topic = topic;
    o.num_processes = num_processes;
    o.process_index = process_index;
    o.upstream_parallelism = upstream_parallelism;
    o.bounded = true;
    o.request_timeout_ms = 5000;
    return o;
  }
  static std::shared_ptr<Exchange> Make(const KafkaExchangeOptions& o) {
    auto e = Exchange::Create(o, KeyOf);
    EXPECT_THAT(e.status(), IsOk());
    return e.ok() ? *e : nullptr;
  }
  static void Produce(const std::string& topic, int partition, const std::vector<std::string>& vs) {
    for (const std::string& v : vs) ASSERT_THAT(cluster_->Produce(topic, partition, "", v), IsOk());
    ASSERT_THAT(cluster_->Flush(), IsOk());
  }

  // Polls `reader` until it ends, or until split `split` has `events` events
  // (then a few more polls show that nothing else follows), or 10 s pass;
  // true at the end of input.
  static bool Drain(SourceReader<Rec>& reader, RecordingOutput& out, const std::string& split = "",
                    size_t events = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int extra = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto st = reader.PollNext(out);
      EXPECT_THAT(st.status(), IsOk());
      if (!st.ok()) return false;
      if (*st == InputStatus::kEndOfInput) return true;
      if (!split.empty() && out.events[split].size() >= events && ++extra > 20) return false;
      if (*st == InputStatus::kNothingAvailable) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    return false;
  }

  static KafkaMockCluster* cluster_;
};
KafkaMockCluster* KafkaExchangeTest::cluster_ = nullptr;

TEST(KafkaExchangeOptionsTest, ValidatesAndMapsKeyGroupsToPartitionRanges) {
  KafkaExchangeOptions o;
  o.bootstrap_servers = "127.0.0.1:1";
  o.topic = "t";
  EXPECT_THAT(ValidateKafkaExchangeOptions(o), IsOk());
  o.process_index = 1;
  EXPECT_THAT(ValidateKafkaExchangeOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("process_index=1")));
  o.process_index = 0;
  o.upstream_parallelism = 0;
  EXPECT_THAT(ValidateKafkaExchangeOptions(o), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Exchange::Create(o, KeyOf).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // Contiguous ranges: 128 key groups over 3 partitions -> 43, 43, 42.
  std::vector<int> sizes(3);
  for (int kg = 0; kg < 128; ++kg) ++sizes[KafkaExchangePartition(kg, 128, 3)];
  EXPECT_THAT(sizes, ElementsAre(43, 43, 42));
  EXPECT_EQ(KafkaExchangePartition(0, 128, 4), 0);
  EXPECT_EQ(KafkaExchangePartition(31, 128, 4), 0);
  EXPECT_EQ(KafkaExchangePartition(32, 128, 4), 1);
  EXPECT_EQ(KafkaExchangePartition(127, 128, 4), 3);
}

// The prefix of a message, read back by the documented layout.
struct Prefix {
  int version = 0;
  int kind = 0;
  int32_t task = 0;
  int64_t number = 0;
  absl::Status Read(DataInputView& in) {
    uint8_t v = 0, k = 0;
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&v));
    BROOK_RETURN_IF_ERROR(in.ReadUint8(&k));
    version = v;
    kind = k;
    BROOK_RETURN_IF_ERROR(in.ReadInt32(&task));
    return in.ReadInt64(&number);
  }
};

// The raw messages of `topic`: (partition, value), per partition in order.
std::vector<std::pair<int32_t, std::string>> ReadAll(const std::string& servers,
                                                     const std::string& topic) {
  class Raw final : public KafkaDeserializer<std::pair<int32_t, std::string>> {
   public:
    Result Deserialize(const KafkaMessage& m, std::pair<int32_t, std::string>& record, int64_t&,
                       std::string&) override {
      record = {m.partition, std::string(m.value)};
      return Result::kRecord;
    }
  };
  KafkaSourceOptions options;
  options.bootstrap_servers = servers;
  options.topics = {topic};
  options.bounded = true;
  auto source = KafkaSource<std::pair<int32_t, std::string>>::Create(
      options, [] { return std::make_unique<Raw>(); });
  EXPECT_THAT(source.status(), IsOk());
  auto reader = (*source)->CreateReader({0, 1, nullptr});
  EXPECT_THAT(reader.status(), IsOk());
  brook_test::SourceReaderDriver<std::variant<std::pair<int32_t, std::string>, DeadLetter>> driver(
      std::move(*reader));
  EXPECT_THAT(driver.Open(), IsOk());
  EXPECT_THAT(driver.Poll(-1).status(), IsOk());
  std::vector<std::pair<int32_t, std::string>> out;
  for (const auto& r : driver.records()) out.push_back(std::get<0>(r.value));
  return out;
}

TEST_F(KafkaExchangeTest, SinkRoutesByKeyGroupWithSequencesAndMarkersToEveryPartition) {
  const std::string topic = NewTopic(4);
  auto exchange = Make(Options(topic, /*num_processes=*/2, /*process_index=*/1));
  std::vector<Rec> input;
  for (int64_t i = 0; i < 50; ++i) input.push_back({i * 7919 % 1000, 1000 + i});
  StreamExecutionEnvironment env;
  exchange->Send(env.FromCollection(input, WatermarkStrategy<Rec>::ForMonotonousTimestamps()
                                               .WithTimestampAssigner(
                                                   [](const Rec& r) { return r.second; })));
  ASSERT_THAT(env.Execute("send"), IsOk());

  std::vector<int64_t> seqs;
  std::map<int32_t, std::vector<std::string>> markers;  // per partition
  for (const auto& [partition, value] : ReadAll(cluster_->bootstrap_servers(), topic)) {
    DataInputView in(value);
    Prefix prefix;
    ASSERT_THAT(prefix.Read(in), IsOk());
    const auto [version, kind, task, number] = prefix;
    EXPECT_EQ(version, 1);
    EXPECT_EQ(task, 1);  // process 1 of 2, subtask 0 of 1
    if (kind == 0) {
      int64_t ts = 0;
      Rec rec;
      ASSERT_THAT(in.ReadInt64(&ts), IsOk());
      ASSERT_THAT(TypeSerializer<Rec>::Deserialize(in, &rec), IsOk());
      EXPECT_TRUE(in.AtEnd());
      EXPECT_EQ(ts, rec.second);
      EXPECT_EQ(partition, KafkaExchangePartition(AssignToKeyGroup(rec.first, 128), 128, 4))
          << "key " << rec.first;
      EXPECT_EQ(rec, input[number - 1]);  // sequence i+1 is the i-th record
      seqs.push_back(number);
    } else {
      markers[partition].push_back(absl::StrCat(kind == 1 ? "w" : "end", ":", number));
    }
  }
  std::sort(seqs.begin(), seqs.end());
  std::vector<int64_t> expected(50);
  for (int i = 0; i < 50; ++i) expected[i] = i + 1;
  EXPECT_THAT(seqs, ElementsAreArray(expected));
  // Every partition ends with the maximum watermark and the end of input
  // (carrying the last sequence number).
  ASSERT_EQ(markers.size(), 4u);
  for (const auto& [partition, m] : markers) {
    ASSERT_GE(m.size(), 2u) << partition;
    EXPECT_EQ(m[m.size() - 2], absl::StrCat("w:", kMaxWatermarkMs)) << partition;
    EXPECT_EQ(m.back(), "end:50") << partition;
  }
}

TEST_F(KafkaExchangeTest, EnsureTopicCreatesAMissingTopicWhereTheClusterAllows) {
  // librdkafka 2.0.2's mock has no CreateTopics: the metadata request
  // auto-creates the topic, with the mock's 4 partitions.
  const std::string topic = NewTopic(/*partitions=*/0);
  auto count = EnsureKafkaTopic(cluster_->bootstrap_servers(), topic, 6, {}, absl::Seconds(5));
  ASSERT_THAT(count.status(), IsOk());
  EXPECT_THAT(*count, ::testing::AnyOf(4, 6));
  EXPECT_THAT(EnsureKafkaTopic(cluster_->bootstrap_servers(), topic, 6, {}, absl::Seconds(5)),
              ::brook::testing::IsOkAndHolds(*count));
  EXPECT_THAT(EnsureKafkaTopic("127.0.0.1:1", topic, 6, {}, absl::Milliseconds(300)).status(),
              ::testing::Not(IsOk()));
}

TEST_F(KafkaExchangeTest, SinkCheckpointsItsSequenceNumber) {
  const std::string topic = NewTopic(1);
  auto exchange = Make(Options(topic, /*num_processes=*/2, /*process_index=*/1));
  auto write = [](SinkWriter<Rec>& writer, std::vector<Rec> recs) {
    std::vector<StreamRecord<Rec>> batch;
    for (const Rec& r : recs) batch.push_back({r.second, r});
    EXPECT_THAT(writer.Write(batch), IsOk());
  };
  std::string state;
  {
    auto writer = exchange->sink()->CreateWriter({0, 1, nullptr});
    ASSERT_THAT(writer.status(), IsOk());
    write(**writer, {{1, 10}, {2, 20}, {3, 30}});
    auto s = (*writer)->SnapshotState(1);  // flushes: the three are in the topic
    ASSERT_THAT(s.status(), IsOk());
    state = *s;
    write(**writer, {{4, 40}});
    // Delivered, but the crash comes before checkpoint 2 completes.
    ASSERT_THAT((*writer)->SnapshotState(2).status(), IsOk());
  }
  auto restored = exchange->sink()->CreateWriter({0, 1, nullptr});
  ASSERT_THAT(restored.status(), IsOk());
  ASSERT_THAT((*restored)->RestoreState({state}), IsOk());
  write(**restored, {{4, 40}, {5, 50}});
  ASSERT_THAT((*restored)->Flush(), IsOk());
  std::vector<std::string> seqs;
  for (const auto& [partition, value] : ReadAll(cluster_->bootstrap_servers(), topic)) {
    DataInputView in(value);
    Prefix p;
    ASSERT_THAT(p.Read(in), IsOk());
    seqs.push_back(absl::StrCat(p.kind, ":", p.task, ":", p.number));
  }
  // The record of sequence 4 went out twice, with the same number; then the
  // end of input with the last number.
  EXPECT_THAT(seqs, ElementsAre("0:1:1", "0:1:2", "0:1:3", "0:1:4", "0:1:4", "0:1:5", "2:1:5"));

  // The state of another task does not restore.
  auto other = Make(Options(topic, /*num_processes=*/2, /*process_index=*/0));
  auto mismatched = other->sink()->CreateWriter({0, 1, nullptr});
  ASSERT_THAT(mismatched.status(), IsOk());
  EXPECT_THAT((*mismatched)->RestoreState({state}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("task 1 of 2")));
}

TEST_F(KafkaExchangeTest, SinkRefusesAnotherParallelismThanUpstreamParallelism) {
  auto exchange = Make(Options(NewTopic(1), 1, 0, /*upstream_parallelism=*/2));
  auto writer = exchange->sink()->CreateWriter({0, 1, nullptr});
  EXPECT_THAT(writer.status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("upstream_parallelism is 2")));
}

TEST_F(KafkaExchangeTest, WatermarkIsTheMinimumOverUpstreamTasksAndEndFinishes) {
  const std::string topic = NewTopic(1);
  auto exchange = Make(Options(topic, /*num_processes=*/1, 0, /*upstream_parallelism=*/3));
  auto reader = exchange->source()->CreateReader({0, 1, nullptr});
  ASSERT_THAT(reader.status(), IsOk());
  ASSERT_THAT((*reader)->Open(), IsOk());
  RecordingOutput out;
  const std::string split = topic + "/0";
  Produce(topic, 0,
          {Watermark(0, 100), Watermark(1, 50), Record(2, 1, {7, 10}), Watermark(2, 70),
           Watermark(1, 200), Watermark(0, 150), Watermark(2, 300), End(0, 0), End(2, 1)});
  EXPECT_FALSE(Drain(**reader, out, split, 5));
  // Task 2's record; min(100, 50, 70) = 50; task 1 to 200: 70; task 0 to
  // 150: still 70; task 2 to 300: 150; task 0 ends: 200; task 2 ends: 200.
  EXPECT_THAT(out.events[split], ElementsAre("r:7@10", "w:50", "w:70", "w:150", "w:200"));
  EXPECT_THAT(out.released, IsEmpty());
  Produce(topic, 0, {End(1, 0)});
  EXPECT_TRUE(Drain(**reader, out));  // every task ended: the split, then the reader
  EXPECT_THAT(out.released, ElementsAre(split));
  EXPECT_THAT((*reader)->Close(), IsOk());
}

TEST_F(KafkaExchangeTest, DropsAReplayedRangeAndKeepsDedupStateAcrossRestore) {
  const std::string topic = NewTopic(1);
  // The process that owns the partition: the topic's name depends on which
  // tests ran before in this process (ctest runs each test alone).
  const int owner = KafkaPartitionOwner(topic, 0, /*parallelism=*/2);
  auto exchange = Make(Options(topic, /*num_processes=*/2, owner, /*upstream_parallelism=*/1));
  MetricRegistry registry;
  MetricGroup group(&registry, MetricScope{});
  const std::string split = topic + "/0";
  std::string snapshot;
  {
    auto reader = exchange->source()->CreateReader({0, 1, &group});
    ASSERT_THAT(reader.status(), IsOk());
    ASSERT_THAT((*reader)->Open(), IsOk());
    RecordingOutput out;
    // Task 1 restarts after its 3rd record and sends 2..3 again, then 4.
    Produce(topic, 0,
            {Record(0, 1, {1, 1}), Record(1, 1, {2, 2}), Record(1, 2, {3, 3}),
             Record(1, 3, {4, 4}), Record(1, 2, {3, 3}), Record(1, 3, {4, 4}),
             Record(1, 4, {5, 5}), Record(0, 2, {6, 6})});
    EXPECT_FALSE(Drain(**reader, out, split, 6));
    EXPECT_THAT(out.events[split],
                ElementsAre("r:1@1", "r:2@2", "r:3@3", "r:4@4", "r:5@5", "r:6@6"));
    EXPECT_EQ(group.GetCounter("exchange_duplicates_dropped")->value(), 2);
    auto s = (*reader)->SnapshotState(1);
    ASSERT_THAT(s.status(), IsOk());
    snapshot = *s;
    ASSERT_THAT((*reader)->Close(), IsOk());
  }
  // Both tasks replay from earlier checkpoints; only what is new comes out,
  // and nothing before the snapshot's offsets is read again.
  Produce(topic, 0,
          {Record(1, 3, {4, 4}), Record(1, 4, {5, 5}), Record(0, 1, {1, 1}),
           Record(0, 2, {6, 6}), Record(0, 3, {7, 7}), Record(1, 5, {8, 8})});
  auto restored = exchange->source()->CreateReader({0, 1, nullptr});
  ASSERT_THAT(restored.status(), IsOk());
  ASSERT_THAT((*restored)->RestoreState({snapshot}), IsOk());
  ASSERT_THAT((*restored)->Open(), IsOk());
  RecordingOutput out;
  EXPECT_FALSE(Drain(**restored, out, split, 2));
  EXPECT_THAT(out.events[split], ElementsAre("r:7@7", "r:8@8"));

  // A checkpoint of another task count does not restore.
  auto other = Make(Options(topic, /*num_processes=*/3, 0, 1));
  auto mismatched = other->source()->CreateReader({0, 1, nullptr});
  ASSERT_THAT(mismatched.status(), IsOk());
  EXPECT_THAT((*mismatched)->RestoreState({snapshot}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("upstream tasks")));
}

TEST_F(KafkaExchangeTest, CorruptMessageFailsWithDataLoss) {
  const std::string topic = NewTopic(1);
  auto exchange = Make(Options(topic));
  auto reader = exchange->source()->CreateReader({0, 1, nullptr});
  ASSERT_THAT(reader.status(), IsOk());
  ASSERT_THAT((*reader)->Open(), IsOk());
  Produce(topic, 0, {"not an exchange message"});
  RecordingOutput out;
  absl::StatusOr<InputStatus> st = InputStatus::kNothingAvailable;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && st.ok() &&
         *st == InputStatus::kNothingAvailable) {
    st = (*reader)->PollNext(out);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_THAT(st.status(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(topic + "/0 offset 0")));
}

TEST_F(KafkaExchangeTest, ReaderOwnsPartitionsByTheSplitOwnerFormulaOverAllProcesses) {
  const std::string topic = NewTopic(5);
  std::multiset<std::string> owned;
  for (int process = 0; process < 2; ++process) {
    auto exchange = Make(Options(topic, /*num_processes=*/2, process));
    for (int subtask = 0; subtask < 2; ++subtask) {
      auto reader = exchange->source()->CreateReader({subtask, 2, nullptr});
      ASSERT_THAT(reader.status(), IsOk());
      ASSERT_THAT((*reader)->Open(), IsOk());
      RecordingOutput out;
      EXPECT_THAT((*reader)->PollNext(out).status(), IsOk());  // creates the split outputs
      for (const auto& [id, split] : out.splits) {
        const int partition = id.back() - '0';
        EXPECT_EQ(KafkaPartitionOwner(topic, partition, 4), process * 2 + subtask) << id;
        owned.insert(id);
      }
    }
  }
  EXPECT_EQ(owned.size(), 5u);
  EXPECT_EQ(std::set<std::string>(owned.begin(), owned.end()).size(), 5u);
}

// ---- jobs: two processes = one

// Counts per (window, key) over 1 s tumbling windows: "END:KEY:COUNT".
struct CountPerKey {
  using Accumulator = int64_t;
  using OutputType = std::string;
  Accumulator CreateAccumulator() const { return 0; }
  void Add(const Rec&, Accumulator& acc) { ++acc; }
  void GetResult(const Accumulator& acc, const TimeWindow& w, const int64_t& key,
                 std::vector<std::string>& out) {
    out.push_back(absl::StrCat(w.end_ms, ":", key, ":", acc));
  }
};

// Records with keys 0..16 and increasing timestamps; process `i` of `n`
// owns the chunks of 100 with (j / 100) % n == i.
std::vector<Rec> Input(int process, int num_processes) {
  std::vector<Rec> out;
  for (int64_t j = 0; j < 3000; ++j) {
    if ((j / 100) % num_processes == process) out.push_back({j * 31 % 17, j * 10});
  }
  return out;
}

WatermarkStrategy<Rec> Strategy() {
  return WatermarkStrategy<Rec>::ForMonotonousTimestamps()
      .WithTimestampAssigner([](const Rec& r) { return r.second; })
      .WithRecordsPerWatermark(50);
}

// One process's job: its input through the exchange, counted per key and
// window at parallelism 2 downstream. `watermarks`, if given, gets the
// watermarks the sink's subtasks saw.
std::vector<std::string> RunProcess(const KafkaExchangeOptions& options,
                                    std::shared_ptr<Exchange> exchange,
                                    std::vector<int64_t>* watermarks = nullptr) {
  StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<CollectSink<std::string>>();
  exchange->Through(env.FromCollection(Input(options.process_index, options.num_processes),
                                       Strategy()))
      .Window(TumblingEventTimeWindows::Of(absl::Seconds(1)))
      .Aggregate(CountPerKey(), "count")
      .SinkTo(sink);
  EXPECT_THAT(env.Execute(absl::StrCat("process-", options.process_index)), IsOk());
  if (watermarks != nullptr) {
    for (int subtask = 0; subtask < 2; ++subtask) {
      for (int64_t wm : sink->watermarks(subtask)) watermarks->push_back(wm);
    }
  }
  std::vector<std::string> rows = sink->values();
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::set<std::string> Keys(const std::vector<std::string>& rows) {
  std::set<std::string> keys;
  for (const std::string& r : rows) keys.insert(r.substr(r.find(':') + 1, r.rfind(':') - r.find(':') - 1));
  return keys;
}

TEST_F(KafkaExchangeTest, TwoProcessesThroughOneTopicGiveOneProcessResult) {
  auto single = Make(Options(NewTopic(4), 1, 0));
  const std::vector<std::string> expected = RunProcess(single->options(), single);
  ASSERT_EQ(expected.size(), 30u * 17u);  // every (window, key) once

  const std::string topic = NewTopic(4);
  std::vector<std::vector<std::string>> rows(2);
  std::vector<std::vector<int64_t>> watermarks(2);
  std::vector<std::thread> processes;
  for (int i = 0; i < 2; ++i) {
    processes.emplace_back([&, i] {
      KafkaExchangeOptions o = Options(topic, 2, i);
      rows[i] = RunProcess(o, Make(o), &watermarks[i]);
    });
  }
  for (std::thread& t : processes) t.join();
  std::vector<std::string> all = rows[0];
  all.insert(all.end(), rows[1].begin(), rows[1].end());
  std::sort(all.begin(), all.end());
  EXPECT_THAT(all, ElementsAreArray(expected));
  // Each key's state lived in one process.
  std::set<std::string> both;
  const std::set<std::string> k0 = Keys(rows[0]), k1 = Keys(rows[1]);
  std::set_intersection(k0.begin(), k0.end(), k1.begin(), k1.end(),
                        std::inserter(both, both.begin()));
  EXPECT_THAT(both, IsEmpty());
  EXPECT_FALSE(rows[0].empty());
  EXPECT_FALSE(rows[1].empty());
  // Event time advanced through the markers during the run, not only at the
  // end (windows fired on the way).
  for (const std::vector<int64_t>& w : watermarks) {
    EXPECT_TRUE(std::any_of(w.begin(), w.end(),
                            [](int64_t wm) { return wm > 0 && wm < 29000; }))
        << ::testing::PrintToString(w);
  }
}

// The receiving side of two processes, each in its own environment on a
// thread, counting per key and window; Join() returns the union of their
// rows, sorted, and the duplicates they dropped.
class Receivers {
 public:
  explicit Receivers(const std::string& topic) {
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this, topic, i] {
        StreamExecutionEnvironment env({.parallelism = 2});
        auto sink = std::make_shared<CollectSink<std::string>>();
        KafkaExchangeTest::Make(KafkaExchangeTest::Options(topic, 2, i))
            ->Receive(env)
            .Window(TumblingEventTimeWindows::Of(absl::Seconds(1)))
            .Aggregate(CountPerKey(), "count")
            .SinkTo(sink);
        EXPECT_THAT(env.Execute("receive"), IsOk());
        rows_[i] = sink->values();
        for (const MetricValue& m : env.metrics().Snapshot()) {
          if (m.name == "exchange_duplicates_dropped") dropped_ += m.value;
        }
      });
    }
  }
  std::vector<std::string> Join() {
    for (std::thread& t : threads_) t.join();
    std::vector<std::string> all = rows_[0];
    all.insert(all.end(), rows_[1].begin(), rows_[1].end());
    std::sort(all.begin(), all.end());
    return all;
  }
  int64_t dropped() const { return dropped_; }

 private:
  std::vector<std::string> rows_[2];
  std::atomic<int64_t> dropped_ = 0;
  std::vector<std::thread> threads_;
};

TEST_F(KafkaExchangeTest, AnUpstreamProcessSendingAllAgainCausesNoDuplicates) {
  auto single = Make(Options(NewTopic(4), 1, 0));
  const std::vector<std::string> expected = RunProcess(single->options(), single);

  // Senders and receivers in separate environments: process 0's sender runs
  // twice (a restart without checkpoint replays everything with the same
  // sequence numbers), then process 1's.
  const std::string topic = NewTopic(4);
  Receivers receivers(topic);
  for (int process : {0, 0, 1}) {
    StreamExecutionEnvironment env;
    Make(Options(topic, 2, process))->Send(env.FromCollection(Input(process, 2), Strategy()));
    ASSERT_THAT(env.Execute("send"), IsOk());
  }
  EXPECT_THAT(receivers.Join(), ElementsAreArray(expected));
}

// A slow, checkpointable input: Input(process, n), one record per poll,
// its position in the checkpoint (deterministic: the same records in the
// same order after a restore).
class SlowSource final : public Source<Rec> {
 public:
  explicit SlowSource(std::vector<Rec> records) : records_(std::move(records)) {}
  // Records emitted so far by any reader (for the test to act on).
  std::atomic<int64_t> emitted = 0;
  Boundedness boundedness() const override { return Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<SourceReader<Rec>>> CreateReader(
      const SourceReaderContext&) override {
    return std::unique_ptr<SourceReader<Rec>>(new Reader(&records_, &emitted));
  }

 private:
  class Reader final : public SourceReader<Rec> {
   public:
    Reader(const std::vector<Rec>* records, std::atomic<int64_t>* emitted)
        : records_(records), emitted_(emitted) {}
    absl::StatusOr<InputStatus> PollNext(ReaderOutput<Rec>& output) override {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      if (next_ < records_->size()) {
        output.Collect((*records_)[next_++]);
        ++*emitted_;
      }
      return next_ < records_->size() ? InputStatus::kMoreAvailable : InputStatus::kEndOfInput;
    }
    absl::StatusOr<std::string> SnapshotState(int64_t) override {
      return SerializeToString<int64_t>(static_cast<int64_t>(next_));
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      int64_t next = 0;
      for (const std::string& s : states) BROOK_RETURN_IF_ERROR(DeserializeFromString(s, &next));
      next_ = static_cast<size_t>(next);
      return absl::OkStatus();
    }

   private:
    const std::vector<Rec>* records_;
    std::atomic<int64_t>* emitted_;
    size_t next_ = 0;
  };
  std::vector<Rec> records_;
};

TEST_F(KafkaExchangeTest, AnUpstreamProcessRestoredFromItsCheckpointCausesNoDuplicates) {
  auto single = Make(Options(NewTopic(4), 1, 0));
  const std::vector<std::string> expected = RunProcess(single->options(), single);

  const std::string topic = NewTopic(4);
  Receivers receivers(topic);
  // Process 0's sender takes a savepoint after about 500 of its 1500 records,
  // is stopped after about 1000 (those after the savepoint are in the topic:
  // a second savepoint flushed them) and resumes from the first; then
  // process 1's sender runs.
  std::shared_ptr<CheckpointStorage> storage = NewInMemoryCheckpointStorage();
  auto source = std::make_shared<SlowSource>(Input(0, 2));
  KafkaExchangeOptions sender = Options(topic, 2, 0);
  sender.producer_properties = {{"linger.ms", "0"}};
  std::string savepoint;
  for (int run = 0; run < 2; ++run) {
    ExecutionConfig config;
    config.batch_size = 16;  // records reach the sink soon after the source
    config.checkpoint.storage = storage;
    config.checkpoint.restore =
        run == 0 ? CheckpointConfig::Restore::kNone : CheckpointConfig::Restore::kPath;
    config.checkpoint.restore_path = savepoint;
    StreamExecutionEnvironment env(config);
    Make(sender)->Send(env.FromSource<Rec>(source, Strategy(), "input"));
    std::thread stopper;
    if (run == 0) {
      stopper = std::thread([&] {
        auto wait_for = [&](int64_t n) {
          while (source->emitted < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        };
        wait_for(500);
        auto path = env.TriggerSavepoint();
        EXPECT_THAT(path.status(), IsOk());
        if (path.ok()) savepoint = *path;
        wait_for(1000);  // the other 500 take >= 150 ms
        // A second savepoint flushes the sink's producer at its barrier, so
        // what followed the first one is in the topic however slow the
        // machine; the run resumes from the first.
        EXPECT_THAT(env.TriggerSavepoint().status(), IsOk());
        env.Cancel();
      });
    }
    const absl::Status status = env.Execute("send");
    if (stopper.joinable()) stopper.join();
    if (run == 0) {
      ASSERT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
      ASSERT_FALSE(savepoint.empty());
    } else {
      ASSERT_THAT(status, IsOk());
    }
  }
  {
    StreamExecutionEnvironment env;
    Make(Options(topic, 2, 1))->Send(env.FromCollection(Input(1, 2), Strategy()));
    ASSERT_THAT(env.Execute("send"), IsOk());
  }
  EXPECT_THAT(receivers.Join(), ElementsAreArray(expected));
  // The resumed sender sent again what followed its savepoint, and those
  // the first run had delivered were dropped.
  EXPECT_GT(receivers.dropped(), 0);
}

}  // namespace
}  // namespace brook::connectors
