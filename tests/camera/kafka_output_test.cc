// The camera job's Kafka outputs against an in-process KafkaMockCluster
// (loopback): --output_topic read back with kcat equals the output CSV, and
// camera_generate's producer writes the JSON the job reads.
#include "camera_top_k/kafka_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/kafka/kafka_mock_cluster.h"
#include "brook/testing/status_matchers.h"
#include "camera_top_k/generator.h"

namespace camera {
namespace {

namespace fs = std::filesystem;
using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::SizeIs;

TEST(KafkaOutputJsonTest, ResultRowsHaveTheCsvColumnsAndNullForTheGlobalWindow) {
  std::string out;
  AppendResultJson(ResultRow{true, 0, 0, 7, 1, "a \"b\"\\\n", 3}, "Here", out);
  EXPECT_EQ(out, R"({"window_start":null,"window_end":null,"geographical_location_oid":7,)"
                 R"("geographical_location":"Here","item_rank":1,"item_name":"a \"b\"\\\u000a",)"
                 R"("item_count":3})");
  out.clear();
  AppendResultJson(ResultRow{false, 1000, 2000, 7, 2, "car", 5}, "", out);
  EXPECT_EQ(out, R"({"window_start":1000,"window_end":2000,"geographical_location_oid":7,)"
                 R"("geographical_location":"","item_rank":2,"item_name":"car","item_count":5})");
}

TEST(KafkaOutputJsonTest, DetectionsHaveDatasetAFieldNames) {
  std::string out;
  AppendDetectionJson(Detection{1, 2, 3, "car", 5000}, TimestampUnit::kSeconds, out);
  EXPECT_EQ(out, R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,)"
                 R"("item_name":"car","timestamp_detected":5})");
}

// "key\tvalue" lines of `topic` from the beginning to its end, with kcat.
std::vector<std::string> ReadTopic(const std::string& servers, const std::string& topic) {
  const std::string command = absl::StrCat("kcat -C -q -b ", servers, " -t ", topic,
                                           " -o beginning -e -f '%k\\t%s\\n' 2>&1");
  std::vector<std::string> lines;
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return lines;
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
  pclose(pipe);
  for (auto line : absl::StrSplit(text, '\n', absl::SkipEmpty())) lines.emplace_back(line);
  return lines;
}

// A "key\t{json}" line of --output_topic as the CSV row it should equal
// (window bounds empty when null), or "unparsed: LINE".
std::string AsCsvRow(const std::string& line) {
  static const std::regex kRow(
      R"re(([0-9]+)\t\{"window_start":(null|[0-9]+),"window_end":(null|[0-9]+),)re"
      R"re("geographical_location_oid":([0-9]+),"geographical_location":"([^"\\]*)",)re"
      R"re("item_rank":([0-9]+),"item_name":"([^"\\]*)","item_count":([0-9]+)\})re");
  std::smatch m;
  if (!std::regex_match(line, m, kRow) || m[1] != m[4]) return "unparsed: " + line;
  auto bound = [](const std::string& s) { return s == "null" ? std::string() : s; };
  std::string row;
  brook::connectors::AppendCsvRow(row, bound(m[2]), bound(m[3]), m[4].str(), m[5].str(), m[6].str(),
                                  m[7].str(), m[8].str());
  if (!row.empty() && row.back() == '\n') row.pop_back();
  return row;
}

class KafkaOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("camera-kafka-out-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto cluster = brook::connectors::KafkaMockCluster::Start(1);
    ASSERT_THAT(cluster.status(), IsOk());
    cluster_ = *std::move(cluster);
    generator_.count = 3000;
    generator_.num_locations = 5;
    generator_.num_items = 20;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // Exit status of the camera_top_k binary (-1 when not wired in).
  int RunBinary(const std::string& args) const {
#ifndef CAMERA_TOP_K_BINARY
    (void)args;
    return -1;
#else
    const int status =
        std::system(absl::StrCat(CAMERA_TOP_K_BINARY, " ", args, " >", Path("stdout"), " 2>",
                                 Path("stderr"), " </dev/null")
                        .c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -2;
#endif
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::string> SortedCsvRows(const std::string& name) const {
    std::vector<std::string> rows = absl::StrSplit(Read(name), '\n', absl::SkipEmpty());
    if (!rows.empty()) rows.erase(rows.begin());  // the header
    std::sort(rows.begin(), rows.end());
    return rows;
  }
  std::vector<std::string> SortedTopicRows(const std::string& topic) const {
    std::vector<std::string> rows;
    for (const auto& line : ReadTopic(cluster_->bootstrap_servers(), topic)) {
      rows.push_back(AsCsvRow(line));
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  fs::path dir_;
  std::unique_ptr<brook::connectors::KafkaMockCluster> cluster_;
  GeneratorOptions generator_;
};

TEST_F(KafkaOutputTest, OutputTopicRowsEqualTheCsvRows) {
  ASSERT_THAT(WriteDetectionsCsv(generator_, Path("a.csv"), TimestampUnit::kMilliseconds), IsOk());
  ASSERT_THAT(WriteLocationsCsv(DetectionGenerator(generator_).Locations(), Path("b.csv")), IsOk());
  ASSERT_THAT(cluster_->CreateTopic("results", 4), IsOk());
  ASSERT_THAT(cluster_->CreateTopic("results-eo", 4), IsOk());
  const std::string flags = absl::StrCat(
      "--detections=", Path("a.csv"), " --locations=", Path("b.csv"),
      " --window=1s --top_x=3 --progress=false --kafka_brokers=", cluster_->bootstrap_servers());
  // Also to the topic (at-least-once, the default).
  const int status =
      RunBinary(absl::StrCat(flags, " --output=", Path("out.csv"), " --output_topic=results"));
  if (status == -1) GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
  ASSERT_EQ(status, 0) << Read("stderr");
  const std::vector<std::string> csv = SortedCsvRows("out.csv");
  ASSERT_THAT(csv, SizeIs(::testing::Gt(10)));
  EXPECT_THAT(SortedTopicRows("results"), ElementsAreArray(csv));

  // Only to the topic (no --output: nothing on stdout), exactly-once.
  ASSERT_EQ(
      RunBinary(absl::StrCat(flags, " --output_topic=results-eo --kafka_delivery=exactly-once",
                             " --checkpoint_dir=", Path("ckpt"), " --checkpoint_interval=100ms")),
      0)
      << Read("stderr");
  EXPECT_THAT(Read("stdout"), IsEmpty());
  EXPECT_THAT(SortedTopicRows("results-eo"), ElementsAreArray(csv));
}

TEST_F(KafkaOutputTest, ExactlyOnceCommitsAtCheckpoints) {
  // A paced generator runs for ~0.8 s with windows firing as it goes: rows
  // reach the sink between checkpoints, so transactions commit at checkpoints
  // (on alternating transactional ids) and the last one at the end of input.
  ASSERT_THAT(cluster_->CreateTopic("results", 4), IsOk());
  const int status = RunBinary(
      absl::StrCat("--generate --generate_rate=4000 --generate_count=3000 --generate_locations=5 ",
                   "--generate_events_per_second=1000 --generate_out_of_order=50ms ",
                   "--generate_duplicate_rate=0 --out_of_orderness=100ms --window=200ms --top_x=3 ",
                   "--progress=false ", "--checkpoint_dir=", Path("ckpt"),
                   " --checkpoint_interval=100ms --output=", Path("out.csv"),
                   " --output_topic=results --kafka_delivery=exactly-once --kafka_brokers=",
                   cluster_->bootstrap_servers()));
  if (status == -1) GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
  ASSERT_EQ(status, 0) << Read("stderr");
  const std::vector<std::string> csv = SortedCsvRows("out.csv");
  ASSERT_THAT(csv, SizeIs(::testing::Gt(10)));
  EXPECT_THAT(SortedTopicRows("results"), ElementsAreArray(csv));
}

TEST_F(KafkaOutputTest, BadKafkaFlagsAreReportedBeforeAnyWork) {
  generator_.count = 10;
  ASSERT_THAT(WriteDetectionsCsv(generator_, Path("a.csv"), TimestampUnit::kMilliseconds), IsOk());
  ASSERT_THAT(WriteLocationsCsv(DetectionGenerator(generator_).Locations(), Path("b.csv")), IsOk());
  const std::string flags =
      absl::StrCat("--detections=", Path("a.csv"), " --locations=", Path("b.csv"),
                   " --output_topic=results --progress=false");
  if (RunBinary(flags) == -1) GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
  EXPECT_EQ(RunBinary(flags), 2);  // no --kafka_brokers
  EXPECT_THAT(Read("stderr"), ::testing::HasSubstr("--kafka_brokers"));
  const std::string with_brokers =
      absl::StrCat(flags, " --kafka_brokers=", cluster_->bootstrap_servers());
  EXPECT_EQ(RunBinary(absl::StrCat(with_brokers, " --kafka_delivery=twice")), 2);
  EXPECT_THAT(Read("stderr"), ::testing::HasSubstr("--kafka_delivery"));
  EXPECT_EQ(RunBinary(absl::StrCat(with_brokers, " --kafka_delivery=exactly-once")), 2);
  EXPECT_THAT(Read("stderr"), ::testing::HasSubstr("--checkpoint_dir"));
}

TEST_F(KafkaOutputTest, GeneratorProducesJsonDetectionsKeyedByDetectionOid) {
  ASSERT_THAT(cluster_->CreateTopic("detections", 2), IsOk());
  generator_.count = 500;
  EXPECT_THAT(ProduceDetections(generator_, /*rate=*/0, TimestampUnit::kMilliseconds,
                                cluster_->bootstrap_servers(), "detections"),
              IsOkAndHolds(500));
  std::vector<std::string> expected;
  DetectionGenerator generator(generator_);
  Detection d;
  while (generator.Next(d)) {
    std::string line = absl::StrCat(d.detection_oid, "\t");
    AppendDetectionJson(d, TimestampUnit::kMilliseconds, line);
    expected.push_back(line);
  }
  std::vector<std::string> produced = ReadTopic(cluster_->bootstrap_servers(), "detections");
  std::sort(expected.begin(), expected.end());
  std::sort(produced.begin(), produced.end());
  EXPECT_THAT(produced, ElementsAreArray(expected));
}

TEST_F(KafkaOutputTest, CameraGenerateProducesToATopicAtItsRate) {
#ifdef CAMERA_TOP_K_BINARY
  const fs::path binary = fs::path(CAMERA_TOP_K_BINARY).parent_path() / "camera_generate";
#else
  const fs::path binary;
#endif
  if (binary.empty() || !fs::exists(binary)) GTEST_SKIP() << "camera_generate not built";
  ASSERT_THAT(cluster_->CreateTopic("detections", 2), IsOk());
  const absl::Time start = absl::Now();
  const std::string command =
      absl::StrCat(binary.string(), " --kafka_brokers=", cluster_->bootstrap_servers(),
                   " --topic=detections --generate_rate=1000 --generate_count=300 --locations_out=",
                   Path("b.csv"), " 2>", Path("stderr"));
  ASSERT_EQ(std::system(command.c_str()), 0) << Read("stderr");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));  // 300 events at 1000/s
  EXPECT_THAT(ReadTopic(cluster_->bootstrap_servers(), "detections"), SizeIs(300));
  EXPECT_TRUE(fs::exists(Path("b.csv")));
  EXPECT_THAT(Read("stderr"), ::testing::HasSubstr("produced 300 events to topic detections"));
}

}  // namespace
}  // namespace camera
