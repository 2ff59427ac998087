// File: tests/camera/detection_schema_test.cc
//
// The camera job's input schemas (detection_schema.h) on brook::connectors:
// timestamp units, flags, the format choice, Dataset B, the real data; and
// that CSV output (brook/connectors/csv.h) reads back. The generic parsing rules are tested in
// tests/connectors/file_source_test.cc.
#include "camera_top_k/detection_schema.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "brook/connectors/csv.h"
#include "brook/connectors/csv_format.h"
#include "connectors/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace camera {
namespace {

using ::brook::connectors::CsvWriter;
using ::brook::connectors::FromEpochMillis;
using ::brook::connectors::ParseTimestampUnit;
using ::brook::connectors::ToEpochMillis;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using DetectionCsvReader =
    brook::connectors::LineRecordReader<brook::connectors::CsvFormat<DetectionSchemaType>>;
using ReadResult = brook::connectors::ReadResult<Event>;

constexpr char kHeader[] =
    "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
    "timestamp_detected\n";

std::string WriteFile(const std::string& name, const std::string& contents) {
  return brook_test::WriteTempFile("detection_schema_test_" + name, contents);
}

struct Results {
  std::vector<Detection> accepted;
  std::vector<int64_t> accepted_lines;
  std::vector<Rejection> rejected;
};

Results ReadAll(DetectionCsvReader& reader) {
  Results results;
  ReadResult r;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(r);
    EXPECT_THAT(more, IsOk());
    if (!more.ok() || !*more) break;
    if (r.rejected) {
      results.rejected.push_back(r.dead_letter);
    } else {
      results.accepted.push_back(r.record.detection);
      results.accepted_lines.push_back(r.record.line_number);
    }
  }
  return results;
}

std::unique_ptr<DetectionCsvReader> OpenOrDie(
    const std::string& path, TimestampUnit unit = TimestampUnit::kMilliseconds) {
  auto reader = DetectionCsvReader::Open(
      path, brook::connectors::CsvFormat(DetectionSchema(unit)));
  EXPECT_THAT(reader, IsOk());
  return reader.ok() ? std::move(*reader) : nullptr;
}

Detection D(int64_t geo, int64_t camera, int64_t oid, std::string item,
            int64_t ts) {
  return Detection{geo, camera, oid, std::move(item), ts};
}

TEST(DetectionSchemaCsv, TimestampUnits) {
  const std::string path = WriteFile("units.csv", std::string(kHeader) +
                                                      "1,2,3,car,1500\n"
                                                      "1,2,3,car,-1500\n"
                                                      "1,2,3,car,-1000\n"
                                                      "1,2,3,car,0\n");
  const auto timestamps = [&](TimestampUnit unit) {
    auto reader = OpenOrDie(path, unit);
    std::vector<int64_t> out;
    if (reader == nullptr) return out;
    for (const Detection& d : ReadAll(*reader).accepted) {
      out.push_back(d.timestamp_detected_ms);
    }
    return out;
  };
  EXPECT_THAT(timestamps(TimestampUnit::kSeconds),
              ElementsAre(1500000, -1500000, -1000000, 0));
  EXPECT_THAT(timestamps(TimestampUnit::kMilliseconds),
              ElementsAre(1500, -1500, -1000, 0));
  // Floor, not truncation: -1500 us is in millisecond -2.
  EXPECT_THAT(timestamps(TimestampUnit::kMicroseconds),
              ElementsAre(1, -2, -1, 0));
}

TEST(ToEpochMillis, Edges) {
  int64_t ms = 0;
  EXPECT_TRUE(ToEpochMillis(-1, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, -1);
  EXPECT_TRUE(ToEpochMillis(999, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, 0);
  EXPECT_TRUE(ToEpochMillis(INT64_MIN, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, INT64_MIN / 1000 - 1);
  EXPECT_FALSE(ToEpochMillis(INT64_MIN, TimestampUnit::kSeconds, ms));
  EXPECT_FALSE(
      ToEpochMillis(INT64_MAX / 1000 + 1, TimestampUnit::kSeconds, ms));
}

TEST(FromEpochMillis, InvertsToEpochMillis) {
  EXPECT_EQ(FromEpochMillis(-2000, TimestampUnit::kSeconds), -2);
  EXPECT_EQ(FromEpochMillis(1234, TimestampUnit::kMilliseconds), 1234);
  EXPECT_EQ(FromEpochMillis(-2, TimestampUnit::kMicroseconds), -2000);
}

TEST(ParseFlags, FormatAndUnit) {
  EXPECT_EQ(*ParseInputFormat("jsonl"), InputFormat::kJsonLines);
  EXPECT_EQ(*ParseInputFormat("csv"), InputFormat::kCsv);
  EXPECT_THAT(ParseInputFormat("json").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(*ParseTimestampUnit("us"), TimestampUnit::kMicroseconds);
  EXPECT_THAT(ParseTimestampUnit("sec").status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(OpenDetections, FlagOverridesExtension) {
  const std::string path = WriteFile(
      "events.txt",
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4})"
      "\n");
  EXPECT_THAT(OpenDetections(path, InputFormat::kJsonLines, TimestampUnit::kMilliseconds), IsOk());
  // By extension, .txt is CSV, whose header this line is not.
  EXPECT_THAT(OpenDetections(path, InputFormat::kAuto, TimestampUnit::kMilliseconds).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string jsonl = WriteFile("events.jsonl", "");
  EXPECT_THAT(OpenDetections(jsonl, InputFormat::kAuto, TimestampUnit::kMilliseconds), IsOk());
  EXPECT_THAT(OpenDetections(jsonl, InputFormat::kCsv, TimestampUnit::kMilliseconds).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(LoadLocationsCsv, Good) {
  const std::string path =
      WriteFile("locations.csv",
                "note,geographical_location,geographical_location_oid\r\n"
                "x,Commercial District 4,1\r\n"
                "\r\n"
                ",\"Park, \"\"North\"\"\",2\r\n"
                "," +
                    std::string(kMaxLocationNameBytes, 'L') + ",3\r\n");
  absl::StatusOr<std::vector<Location>> locations = LoadLocationsCsv(path);
  ASSERT_THAT(locations, IsOk());
  EXPECT_THAT(
      *locations,
      ElementsAre(Location{1, "Commercial District 4"},
                  Location{2, "Park, \"North\""},
                  Location{3, std::string(kMaxLocationNameBytes, 'L')}));
}

TEST(LoadLocationsCsv, BadRowsAreInvalidArgument) {
  const std::string header =
      "geographical_location_oid,geographical_location\n";
  struct Case {
    std::string name;
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"long", "1,a\n2," + std::string(kMaxLocationNameBytes + 1, 'L') + "\n",
       ":3: geographical_location: 501 bytes exceeds 500"},
      {"int", "1,a\nx1,b\n",
       ":3: geographical_location_oid: not an integer: \"x1\""},
      {"dup", "1,a\n2,b\n1,c\n",
       ":4: geographical_location_oid: duplicate 1 (first on line 2)"},
      {"count", "1,a,b\n", ":2: wrong field count: expected 2, got 3"},
      {"utf8", "1,\xFF\n", ":2: invalid UTF-8 at byte offset 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path =
        WriteFile("loc_" + c.name + ".csv", header + c.body);
    absl::StatusOr<std::vector<Location>> locations = LoadLocationsCsv(path);
    ASSERT_THAT(locations, Not(IsOk()));
    EXPECT_THAT(locations.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(locations.status().message(), path + c.message);
  }

  const std::string no_column =
      WriteFile("loc_no_column.csv", "geographical_location_oid,name\n1,a\n");
  absl::StatusOr<std::vector<Location>> locations = LoadLocationsCsv(no_column);
  EXPECT_THAT(locations.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(locations.status().message(), HasSubstr("geographical_location"));

  locations = LoadLocationsCsv(::testing::TempDir() + "/no_such_locations.csv");
  EXPECT_THAT(locations.status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST(CsvWriter, OutputReadsBackThroughDetectionSchema) {
  const std::vector<std::string> names = {"a,b", "say \"hi\"", "x\"\"y",
                                          "p",   "\"quoted\"", " lead"};
  std::string out;
  CsvWriter writer(&out);
  ASSERT_THAT(writer
          .WriteRow({"geographical_location_oid", "video_camera_oid",
                     "detection_oid", "item_name", "timestamp_detected"})
          , IsOk());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_THAT(writer.WriteValues(i, 2, 3, names[i], 4), IsOk());
  }
  auto reader = OpenOrDie(WriteFile("roundtrip.csv", out));
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  EXPECT_TRUE(results.rejected.empty());
  ASSERT_EQ(results.accepted.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(results.accepted[i].item_name, names[i]);
  }
}

TEST(DetectionSchemaRealData, UtopiaDetections) {
  const char* shared = std::getenv("BROOK_SHARED_DATA");
  if (shared == nullptr) GTEST_SKIP() << "BROOK_SHARED_DATA is not set";
  const std::string path =
      std::string(shared) + "/utopia/camera_detection_events.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  auto reader = OpenOrDie(path, TimestampUnit::kSeconds);
  ASSERT_NE(reader, nullptr);
  ReadResult r;
  int64_t min_ts = INT64_MAX;
  int64_t max_ts = INT64_MIN;
  for (;;) {
    absl::StatusOr<bool> more = reader->Next(r);
    ASSERT_THAT(more, IsOk());
    if (!*more) break;
    ASSERT_FALSE(r.rejected)
        << r.dead_letter.line_number << ": " << r.dead_letter.reason;
    min_ts = std::min(min_ts, r.record.detection.timestamp_detected_ms);
    max_ts = std::max(max_ts, r.record.detection.timestamp_detected_ms);
  }
  EXPECT_EQ(reader->accepted(), 1010787);
  EXPECT_EQ(reader->rejected(), 0);
  EXPECT_EQ(reader->offset(),
            static_cast<int64_t>(std::filesystem::file_size(path)));
  // Seconds became milliseconds: 2025-ish epoch ms, spread over ~11.6 days.
  EXPECT_GT(min_ts, int64_t{1'600'000'000'000});
  EXPECT_LT(max_ts - min_ts, int64_t{13} * 24 * 3600 * 1000);
}

}  // namespace
}  // namespace camera
