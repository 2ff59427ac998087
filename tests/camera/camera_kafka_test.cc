// The camera job on a Kafka topic (issue #12): the value parser's reasons
// are the file formats'; flag validation; and the equivalence run: a topic of
// 8 partitions holding a file's records, keyed by detection_oid and produced
// in file order (kcat through an in-process KafkaMockCluster, on loopback),
// read with kafka.bounded, gives the file run's result rows and the same
// dead-letter reasons and counts, at parallelism 1 and 2, windowed and
// global, with JSON and CSV values.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/kafka/kafka_mock_cluster.h"
#include "brook/testing/status_matchers.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/camera_job.h"
#include "camera_top_k/generator.h"
#include "camera_top_k/kafka_input.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camera {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using Result = brook::connectors::KafkaDeserializer<Event>::Result;

constexpr char kGoodJson[] =
    R"({"geographical_location_oid":1,"video_camera_oid":10,"detection_oid":7,)"
    R"("item_name":"car","timestamp_detected":1700000000123})";

// Deserializes `value` as message `offset` of partition `partition`.
Result Deserialize(brook::connectors::KafkaDeserializer<Event>& d, std::string_view value,
                   int32_t partition, int64_t offset, Event& e, int64_t& timestamp_ms,
                   std::string& reason) {
  brook::connectors::KafkaMessage m;
  m.topic = "t";
  m.partition = partition;
  m.offset = offset;
  m.value = value;
  m.timestamp_ms = 5;
  timestamp_ms = m.timestamp_ms;
  reason.clear();
  return d.Deserialize(m, e, timestamp_ms, reason);
}

TEST(DetectionDeserializerTest, ParsesJsonAndCsvValues) {
  auto json = MakeDetectionDeserializer(KafkaValueFormat::kJson, TimestampUnit::kMilliseconds);
  Event e;
  int64_t ts = 0;
  std::string reason;
  ASSERT_EQ(Deserialize(*json, kGoodJson, 3, 42, e, ts, reason), Result::kRecord) << reason;
  EXPECT_EQ(e.detection, (Detection{1, 10, 7, "car", 1700000000123}));
  EXPECT_EQ(e.line_number, 42);
  EXPECT_EQ(e.partition, 3);
  EXPECT_EQ(ts, 1700000000123);  // event time, not the message's timestamp

  auto csv = MakeDetectionDeserializer(KafkaValueFormat::kCsv, TimestampUnit::kSeconds);
  ASSERT_EQ(Deserialize(*csv, "2,20,8,\"bus, red\",1700000000", 0, 5, e, ts, reason),
            Result::kRecord)
      << reason;
  EXPECT_EQ(e.detection, (Detection{2, 20, 8, "bus, red", 1700000000000}));
  EXPECT_EQ(e.line_number, 5);
  EXPECT_EQ(Deserialize(*json, "", 0, 6, e, ts, reason), Result::kSkip);
}

TEST(DetectionDeserializerTest, RejectsWithTheFileFormatsReasons) {
  auto json = MakeDetectionDeserializer(KafkaValueFormat::kJson, TimestampUnit::kMilliseconds);
  auto csv = MakeDetectionDeserializer(KafkaValueFormat::kCsv, TimestampUnit::kMilliseconds);
  Event e;
  auto reason_of = [&e](brook::connectors::KafkaDeserializer<Event>& d, std::string_view value) {
    std::string reason;
    int64_t ts = 0;
    EXPECT_EQ(Deserialize(d, value, 0, 1, e, ts, reason), Result::kRejected) << value;
    return reason;
  };
  EXPECT_THAT(reason_of(*json, "{\"geographical_location_oid\":1,"), HasSubstr("invalid JSON"));
  EXPECT_EQ(reason_of(*json, R"({"geographical_location_oid":1,"video_camera_oid":10,)"
                             R"("detection_oid":"7","item_name":"car","timestamp_detected":1})"),
            "detection_oid: expected integer, got string");
  EXPECT_EQ(reason_of(*json, absl::StrCat(R"({"geographical_location_oid":1,"video_camera_oid":1,)"
                                          R"("detection_oid":7,"item_name":")",
                                          std::string(5001, 'x'), R"(","timestamp_detected":1})")),
            "item_name: 5001 bytes exceeds 5000");
  EXPECT_EQ(reason_of(*json, "{\"item_name\":\"\xff\"}"), "invalid UTF-8 at byte offset 14");
  EXPECT_EQ(reason_of(*csv, "1,2,3"), "wrong field count: expected 5, got 3");
  EXPECT_EQ(reason_of(*csv, "1,2,x,car,5"), "detection_oid: not an integer: \"x\"");
}

TEST(RejectedEventLettersTest, NamesTheKafkaPartitionAndOffset) {
  const RejectedEventLetters letters{"in.csv", "detections", KafkaValueFormat::kJson,
                                     TimestampUnit::kMilliseconds};
  Event kafka{{1, 10, 7, "car \"x\"", 1700000000123}, /*line_number=*/42, /*partition=*/3};
  const Rejection k = letters(kafka, "late");
  EXPECT_EQ(k.source, "kafka:detections/3");
  EXPECT_EQ(k.line_number, 42);
  EXPECT_EQ(k.raw_line,
            R"({"geographical_location_oid":1,"video_camera_oid":10,"detection_oid":7,)"
            R"("item_name":"car \"x\"","timestamp_detected":1700000000123})");
  Event file{{1, 10, 7, "car", 5}, 9, -1};
  const Rejection f = letters(file, "late");
  EXPECT_EQ(f.source, "in.csv");
  EXPECT_EQ(f.raw_line, "1,10,7,car,5");
}

TEST(KafkaInputValidationTest, RejectsBadCombinations) {
  KafkaInputOptions k;
  k.topic = "t";
  EXPECT_THAT(ValidateKafkaInput(k, false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--kafka_brokers")));
  k.brokers = "127.0.0.1:1";
  EXPECT_THAT(ValidateKafkaInput(k, true, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--detections")));
  EXPECT_THAT(ValidateKafkaInput(k, false, true, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--generate")));
  EXPECT_THAT(ValidateKafkaInput(k, false, false, /*window_is_global=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--window")));
  k.start = "yesterday";
  EXPECT_THAT(ValidateKafkaInput(k, false, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--kafka_start")));
  k.start = "1700000000000";
  k.bounded = true;
  EXPECT_THAT(ValidateKafkaInput(k, false, false, true), IsOk());
  EXPECT_THAT(ValidateKafkaInput(KafkaInputOptions{.bounded = true}, true, false, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--kafka_bounded")));
}

// The binary checks the Kafka flags before any work: exit status 2 and the
// flag named on stderr.
TEST(CameraKafkaFlagsTest, BadCombinationsExitWithStatus2) {
#ifndef CAMERA_TOP_K_BINARY
  GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
#else
  const std::string err = absl::StrCat(::testing::TempDir(), "/camera_kafka_flags_", getpid());
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--detections_topic=t --locations=x.csv", "--detections_topic: needs --kafka_brokers"},
           {"--detections_topic=t --kafka_brokers=127.0.0.1:1 --detections=a.csv --locations=x.csv",
            "cannot be combined with --detections"},
           {"--kafka_value_format=xml", "--kafka_value_format"},
           {"--detections_topic=t --kafka_brokers=127.0.0.1:1 --kafka_start=soon --window=1s "
            "--locations=x.csv",
            "--kafka_start"}}) {
    const std::string command = absl::StrCat(CAMERA_TOP_K_BINARY, " ", args, " 2>", err);
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << command;
    EXPECT_EQ(WEXITSTATUS(status), 2) << command;
    std::ifstream in(err);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_THAT(text.str(), HasSubstr(message)) << command;
  }
  std::remove(err.c_str());
#endif
}

// ---------------------------------------------------------------------------
// Equivalence with the file run.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

// The dead-letter CSV as reason -> count, and the malformed rows' raw lines.
struct DeadLetterSummary {
  std::map<std::string, int> reasons;
  std::multiset<std::string> malformed_raw;
  std::vector<std::vector<std::string>> rows;
};

DeadLetterSummary SummarizeDeadLetters(const std::string& csv) {
  DeadLetterSummary s;
  brook::connectors::CsvSplitter splitter;
  std::vector<std::string_view> fields;
  std::string reason;
  bool header = true;
  for (absl::string_view piece : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
    const std::string_view line(piece.data(), piece.size());
    if (std::exchange(header, false)) continue;
    EXPECT_TRUE(splitter.Split(line, fields, reason)) << reason;
    if (fields.size() != 4) {
      ADD_FAILURE() << "dead letter row: " << line;
      continue;
    }
    ++s.reasons[std::string(fields[2])];
    const bool after_parsing = fields[2].starts_with("late") ||
                               fields[2].starts_with("unknown ");
    if (!after_parsing) s.malformed_raw.insert(std::string(fields[3]));
    s.rows.push_back({fields.begin(), fields.end()});
  }
  return s;
}

class CameraKafkaEquivalenceTest : public ::testing::Test {
 protected:
  static constexpr int kPartitions = 8;

  static void SetUpTestSuite() {
    if (std::system("kcat -V >/dev/null 2>&1") != 0) return;  // the tests skip
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/camera_kafka_test_", getpid()));
    std::filesystem::create_directories(*dir_);
    auto cluster = brook::connectors::KafkaMockCluster::Start(1);
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = cluster->release();

    GeneratorOptions g;
    g.count = 20000;
    g.num_locations = 12;
    g.duplicate_rate = 0.05;
    DetectionGenerator generator(g);
    std::vector<Location> locations = generator.Locations();
    locations.erase(locations.begin() + 3);  // its detections: unknown location
    ASSERT_THAT(WriteLocationsCsv(locations, Path("locations.csv")), IsOk());

    // The same records as JSON Lines, headerless CSV and keyed messages;
    // every 1000th position also a malformed record of each kind.
    std::string jsonl, csv = "geographical_location_oid,video_camera_oid,detection_oid,"
                             "item_name,timestamp_detected\n";
    std::string keyed_json, keyed_csv;
    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"geographical_location_oid":1,)", "1,2"},
        {R"({"geographical_location_oid":1,"video_camera_oid":"x","detection_oid":1,)"
         R"("item_name":"a","timestamp_detected":1})",
         "1,x,1,a,1"},
        {absl::StrCat(R"({"geographical_location_oid":1,"video_camera_oid":1,"detection_oid":1,)"
                      R"("item_name":")",
                      std::string(5001, 'n'), R"(","timestamp_detected":1})"),
         absl::StrCat("1,1,1,", std::string(5001, 'n'), ",1")},
        {"{\"geographical_location_oid\":1,\"item_name\":\"\xc3\x28\"}", "1,1,1,\xc3\x28,1"},
    };
    const RejectedEventLetters json_of{"", "t", KafkaValueFormat::kJson,
                                       TimestampUnit::kMilliseconds};
    Detection d;
    for (int64_t i = 0; generator.Next(d); ++i) {
      if (i % 1000 == 999) {
        for (const auto& [json, line] : bad) {
          absl::StrAppend(&jsonl, json, "\n");
          absl::StrAppend(&csv, line, "\n");
          absl::StrAppend(&keyed_json, "bad\t", json, "\n");
          absl::StrAppend(&keyed_csv, "bad\t", line, "\n");
        }
      }
      const std::string json = json_of(Event{d, 0, 0}, "").raw_line;
      const std::string line = FormatDetectionCsv(d, TimestampUnit::kMilliseconds);
      absl::StrAppend(&jsonl, json, "\n");
      absl::StrAppend(&csv, line, "\n");
      absl::StrAppend(&keyed_json, d.detection_oid, "\t", json, "\n");
      absl::StrAppend(&keyed_csv, d.detection_oid, "\t", line, "\n");
    }
    WriteFile(Path("detections.jsonl"), jsonl);
    WriteFile(Path("detections.csv"), csv);
    Produce("json", keyed_json);
    Produce("csv", keyed_csv);
  }

  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (cluster_ == nullptr) GTEST_SKIP() << "kcat is not installed";
  }

  static std::string Path(const std::string& name) { return absl::StrCat(*dir_, "/", name); }

  // Produces "key\tvalue" lines, in order, to a new topic of kPartitions.
  static void Produce(const std::string& topic, const std::string& keyed) {
    ASSERT_THAT(cluster_->CreateTopic(topic, kPartitions), IsOk());
    WriteFile(Path(topic + ".keyed"), keyed);
    const std::string command = absl::StrCat("kcat -P -b ", cluster_->bootstrap_servers(),
                                             " -t ", topic, " -K '\\t' < ", Path(topic + ".keyed"));
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }

  struct Run {
    CameraJobSummary summary;
    std::string output;
    DeadLetterSummary dead;
  };

  static Run RunJob(CameraJobOptions o, const std::string& tag) {
    o.locations_path = Path("locations.csv");
    o.top_x = 5;
    o.output_path = Path(tag + "_out.csv");
    o.dead_letter_path = Path(tag + "_dead.csv");
    Run run;
    auto job = CameraJob::Create(o);
    EXPECT_THAT(job.status(), IsOk()) << tag;
    if (!job.ok()) return run;
    auto summary = (*job)->Run();
    EXPECT_THAT(summary.status(), IsOk()) << tag;
    if (!summary.ok()) return run;
    job->reset();
    run.summary = *summary;
    run.output = ReadFile(o.output_path);
    run.dead = SummarizeDeadLetters(ReadFile(o.dead_letter_path));
    return run;
  }

  // The file run and the Kafka runs at parallelism 1 and 2 agree.
  static void ExpectSameAsFile(const std::string& file, const std::string& topic,
                               KafkaValueFormat format, absl::Duration window) {
    CameraJobOptions o;
    o.window = window;
    o.detections_path = Path(file);
    const Run reference = RunJob(o, "file");
    ASSERT_GT(reference.summary.output_rows, 0);
    EXPECT_GT(reference.summary.malformed, 0);
    EXPECT_GT(reference.summary.unknown_location, 0);
    EXPECT_GT(reference.summary.duplicates, 0);
    EXPECT_EQ(reference.summary.late, 0) << "the input must stay within the out-of-orderness";
    for (int p : {1, 2}) {
      SCOPED_TRACE(absl::StrCat(topic, " at parallelism ", p));
      o.detections_path.clear();
      o.parallelism = p;
      o.kafka.brokers = cluster_->bootstrap_servers();
      o.kafka.topic = topic;
      o.kafka.value_format = format;
      o.kafka.bounded = true;
      const Run kafka = RunJob(o, absl::StrCat(topic, "_p", p));
      EXPECT_EQ(kafka.output, reference.output);
      EXPECT_EQ(kafka.dead.reasons, reference.dead.reasons);
      EXPECT_EQ(kafka.dead.malformed_raw, reference.dead.malformed_raw);
      EXPECT_EQ(kafka.summary.read, reference.summary.read);
      EXPECT_EQ(kafka.summary.duplicates, reference.summary.duplicates);
      for (const auto& row : kafka.dead.rows) {
        EXPECT_THAT(row[0], MatchesRegex(absl::StrCat("kafka:", topic, "/[0-7]")));
        EXPECT_THAT(row[1], MatchesRegex("[0-9]+"));  // the offset
      }
    }
  }

  static std::string* dir_;
  static brook::connectors::KafkaMockCluster* cluster_;
};

std::string* CameraKafkaEquivalenceTest::dir_ = nullptr;
brook::connectors::KafkaMockCluster* CameraKafkaEquivalenceTest::cluster_ = nullptr;

TEST_F(CameraKafkaEquivalenceTest, JsonValuesWindowed) {
  ExpectSameAsFile("detections.jsonl", "json", KafkaValueFormat::kJson, absl::Seconds(1));
}

TEST_F(CameraKafkaEquivalenceTest, JsonValuesGlobalWindow) {
  ExpectSameAsFile("detections.jsonl", "json", KafkaValueFormat::kJson, absl::ZeroDuration());
}

TEST_F(CameraKafkaEquivalenceTest, CsvValuesWindowed) {
  ExpectSameAsFile("detections.csv", "csv", KafkaValueFormat::kCsv, absl::Seconds(1));
}

// KafkaInputOptions::properties (--kafka_property) reach every Kafka client
// of the job: with brokers that do not exist and the real ones given as the
// property bootstrap.servers (which comes after brook's own and wins), the
// source reads the topic and the result sink writes its topic.
TEST_F(CameraKafkaEquivalenceTest, PropertiesReachTheSourceAndTheSink) {
  CameraJobOptions o;
  o.detections_path = Path("detections.jsonl");
  const Run reference = RunJob(o, "file_props");
  ASSERT_GT(reference.summary.output_rows, 0);
  o.detections_path.clear();
  o.kafka.brokers = "127.0.0.1:1";  // nothing listens there
  o.kafka.properties = {{"bootstrap.servers", cluster_->bootstrap_servers()}};
  o.kafka.topic = "json";
  o.kafka.bounded = true;
  o.output_topic = "results_props";
  const Run kafka = RunJob(o, "kafka_props");
  EXPECT_EQ(kafka.output, reference.output);
  const std::string command =
      absl::StrCat("kcat -C -q -e -b ", cluster_->bootstrap_servers(), " -t results_props > ",
                   Path("results_props.jsonl"));
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const std::string produced = ReadFile(Path("results_props.jsonl"));
  EXPECT_EQ(std::count(produced.begin(), produced.end(), '\n'), reference.summary.output_rows);
}

// A dead letter of a malformed value keeps the value and its offset: the
// first malformed record of the JSON topic is message 999 + its partition's
// share, so check one against what kcat reads at that offset.
TEST_F(CameraKafkaEquivalenceTest, MalformedValueKeepsOffsetAndValue) {
  CameraJobOptions o;
  o.window = absl::Seconds(1);
  o.kafka.brokers = cluster_->bootstrap_servers();
  o.kafka.topic = "json";
  o.kafka.bounded = true;
  const Run run = RunJob(o, "offsets");
  for (const auto& row : run.dead.rows) {
    if (row[2].find("invalid JSON") != 0) continue;
    const std::string partition = row[0].substr(row[0].rfind('/') + 1);
    const std::string command =
        absl::StrCat("kcat -C -b ", cluster_->bootstrap_servers(), " -t json -p ", partition,
                     " -o ", row[1], " -c 1 -q -f '%s' > ", Path("one_message"));
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    EXPECT_EQ(ReadFile(Path("one_message")), row[3]);
    return;
  }
  ADD_FAILURE() << "no invalid-JSON dead letter";
}

}  // namespace
}  // namespace camera
