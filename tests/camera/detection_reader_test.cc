// File: tests/camera/detection_reader_test.cc
//
// Tests for Dataset A / B parsing (detection_reader.h), and that CSV output
// (brook/connectors/csv.h) reads back.
#include "camera_top_k/detection_reader.h"

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
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camera {
namespace {

using ::brook::connectors::CsvWriter;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHeader[] =
    "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
    "timestamp_detected\n";

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path =
      testing::TempDir() + "/detection_reader_test_" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  EXPECT_TRUE(out.good()) << path;
  return path;
}

struct Results {
  std::vector<Detection> accepted;
  std::vector<int64_t> accepted_lines;
  std::vector<Rejection> rejected;
};

Results ReadAll(DetectionReader& reader) {
  Results results;
  ReadResult r;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(r);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    if (r.rejected) {
      EXPECT_EQ(r.rejection.line_number, r.line_number);
      results.rejected.push_back(r.rejection);
    } else {
      results.accepted.push_back(r.detection);
      results.accepted_lines.push_back(r.line_number);
    }
  }
  return results;
}

std::unique_ptr<DetectionReader> OpenOrDie(
    const std::string& path, InputFormat format = InputFormat::kAuto,
    TimestampUnit unit = TimestampUnit::kMilliseconds) {
  absl::StatusOr<std::unique_ptr<DetectionReader>> reader =
      DetectionReader::Open(path, format, unit);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

Detection D(int64_t geo, int64_t camera, int64_t oid, std::string item,
            int64_t ts) {
  return Detection{geo, camera, oid, std::move(item), ts};
}

TEST(DetectionReaderCsv, ColumnsInAnyOrderWithExtraColumn) {
  const std::string path = WriteFile(
      "order.csv",
      "item_name,extra,timestamp_detected,detection_oid,video_camera_oid,"
      "geographical_location_oid\n"
      "car,ignored,1000,30,20,10\n"
      "bus,,2000,31,21,11\n");
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->format(), InputFormat::kCsv);
  EXPECT_EQ(reader->source(), path);
  Results results = ReadAll(*reader);
  EXPECT_THAT(results.accepted, ElementsAre(D(10, 20, 30, "car", 1000),
                                            D(11, 21, 31, "bus", 2000)));
  EXPECT_THAT(results.accepted_lines, ElementsAre(2, 3));
  EXPECT_TRUE(results.rejected.empty());
  EXPECT_EQ(reader->accepted(), 2);
  EXPECT_EQ(reader->rejected(), 0);
}

TEST(DetectionReaderCsv, QuotedFields) {
  const std::string path = WriteFile(
      "quoted.csv",
      std::string(kHeader) +
          "1,2,3,\"big, \"\"red\"\" bus\",4\n"
          "\"5\",6,7,\"\",8\n"  // an empty quoted item_name is still empty
          "9,10,11,\"a\"\"\",12\n");
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  EXPECT_THAT(results.accepted, ElementsAre(D(1, 2, 3, "big, \"red\" bus", 4),
                                            D(9, 10, 11, "a\"", 12)));
  ASSERT_EQ(results.rejected.size(), 1u);
  EXPECT_EQ(results.rejected[0].reason, "item_name: empty");
  EXPECT_EQ(results.rejected[0].line_number, 3);
}

TEST(DetectionReaderCsv, CrlfAndBomAndNoFinalNewline) {
  const std::string contents =
      "\xEF\xBB\xBF"
      "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
      "timestamp_detected\r\n"
      "1,2,3,car,4\r\n"
      "\r\n"
      "5,6,7,\"x,y\",8\r\n"
      "9,10,11,bus,12";
  const std::string path = WriteFile("crlf.csv", contents);
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  EXPECT_THAT(results.accepted,
              ElementsAre(D(1, 2, 3, "car", 4), D(5, 6, 7, "x,y", 8),
                          D(9, 10, 11, "bus", 12)));
  EXPECT_THAT(results.accepted_lines, ElementsAre(2, 4, 5));
  EXPECT_EQ(reader->blank_lines(), 1);
  EXPECT_EQ(reader->offset(), static_cast<int64_t>(contents.size()));
  EXPECT_EQ(reader->next_line_number(), 6);
}

TEST(DetectionReaderCsv, BadLinesAreRejectedWithReasonsAndReadingContinues) {
  const std::string long_name(kMaxItemNameBytes + 1, 'n');
  const std::string max_name(kMaxItemNameBytes, 'm');
  struct Case {
    std::string line;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"1,2,3,car", "wrong field count: expected 5, got 4"},
      {"1,2,3,car,4,5", "wrong field count: expected 5, got 6"},
      {"1,2,abc,car,4", "detection_oid: not an integer: \"abc\""},
      {"1,2,3,car,99999999999999999999",
       "timestamp_detected: integer overflow: \"99999999999999999999\""},
      {"1,2,3,car,-9223372036854775809",
       "timestamp_detected: integer overflow: \"-9223372036854775809\""},
      {"1,2,3," + long_name + ",4", "item_name: 5001 bytes exceeds 5000"},
      {"1,2,3,caf\xC3,4", "invalid UTF-8 at byte offset 9"},
      {"1,2,3,\xED\xA0\x80,4", "invalid UTF-8 at byte offset 6"},  // surrogate
      {"1,2,3,,4", "item_name: empty"},
      {"+1,2,3,car,4", "geographical_location_oid: not an integer: \"+1\""},
      {"1, 2,3,car,4", "video_camera_oid: not an integer: \" 2\""},
      {"1,2,3 ,car,4", "detection_oid: not an integer: \"3 \""},
      {"1,2,3,car,", "timestamp_detected: not an integer: \"\""},
      {"1,2,3,car,1.5", "timestamp_detected: not an integer: \"1.5\""},
      // Fields are checked in the required columns' order, not the line's.
      {"x,y,3,car,4", "geographical_location_oid: not an integer: \"x\""},
      {"1,2,3,5\" screen,4", "malformed CSV quoting at byte offset 7"},
      {"1,2,3,\"car\"x,4", "malformed CSV quoting at byte offset 11"},
      {"1,2,3,\"car,4",
       "unterminated quoted field (quoted fields cannot span lines)"},
      {"   ", "wrong field count: expected 5, got 1"},
  };
  std::string contents = kHeader;
  for (const Case& c : cases) {
    contents += c.line + "\n";
    contents += "7,7,7,ok,7\n";  // a good line after each bad one
  }
  contents += "\n8,8,8," + max_name + ",8\n";
  const std::string path = WriteFile("bad.csv", contents);
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);

  ASSERT_EQ(results.rejected.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].line.substr(0, 40));
    const Rejection& r = results.rejected[i];
    EXPECT_EQ(r.reason, cases[i].reason);
    EXPECT_EQ(r.line_number, static_cast<int64_t>(2 + 2 * i));
    EXPECT_EQ(r.raw_line, cases[i].line);
    EXPECT_EQ(r.source, path);
  }
  ASSERT_EQ(results.accepted.size(), cases.size() + 1);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(results.accepted[i], D(7, 7, 7, "ok", 7));
    EXPECT_EQ(results.accepted_lines[i], static_cast<int64_t>(3 + 2 * i));
  }
  EXPECT_EQ(results.accepted.back().item_name, max_name);
  EXPECT_EQ(results.accepted_lines.back(),
            static_cast<int64_t>(2 + 2 * cases.size() + 1));
  EXPECT_EQ(reader->blank_lines(), 1);
  EXPECT_EQ(reader->rejected(), static_cast<int64_t>(cases.size()));
}

TEST(DetectionReaderCsv, LineTooLongIsRejectedAndSkipped) {
  const std::string huge(3 * kMaxLineBytes + 17, 'z');
  const std::string path =
      WriteFile("long.csv",
                std::string(kHeader) + "1,2,3," + huge + ",4\r\n5,6,7,car,8\n");
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  ASSERT_EQ(results.rejected.size(), 1u);
  const int64_t length = static_cast<int64_t>(huge.size()) + 8;
  EXPECT_EQ(results.rejected[0].reason,
            "line too long: " + std::to_string(length) + " bytes exceeds " +
                std::to_string(kMaxLineBytes));
  EXPECT_EQ(results.rejected[0].raw_line.size(), kMaxLineBytes);
  EXPECT_EQ(results.rejected[0].raw_line.substr(0, 7), "1,2,3,z");
  EXPECT_EQ(results.rejected[0].line_number, 2);
  EXPECT_THAT(results.accepted, ElementsAre(D(5, 6, 7, "car", 8)));
  EXPECT_THAT(results.accepted_lines, ElementsAre(3));
}

TEST(DetectionReaderCsv, SecondsTimestampOverflowIsRejected) {
  const std::string path =
      WriteFile("ts_overflow.csv",
                std::string(kHeader) +
                    "1,2,3,car,9223372036854775\n"  // fits: *1000
                    "1,2,3,car,9223372036854776\n");
  auto reader = OpenOrDie(path, InputFormat::kCsv, TimestampUnit::kSeconds);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  ASSERT_EQ(results.accepted.size(), 1u);
  EXPECT_EQ(results.accepted[0].timestamp_detected_ms, 9223372036854775000);
  ASSERT_EQ(results.rejected.size(), 1u);
  EXPECT_EQ(results.rejected[0].reason,
            "timestamp_detected: overflows int64 milliseconds");
  EXPECT_EQ(results.rejected[0].line_number, 3);
}

TEST(DetectionReaderCsv, TimestampUnits) {
  const std::string path = WriteFile("units.csv", std::string(kHeader) +
                                                      "1,2,3,car,1500\n"
                                                      "1,2,3,car,-1500\n"
                                                      "1,2,3,car,-1000\n"
                                                      "1,2,3,car,0\n");
  const auto timestamps = [&](TimestampUnit unit) {
    auto reader = OpenOrDie(path, InputFormat::kCsv, unit);
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

TEST(TimestampToMillis, Edges) {
  int64_t ms = 0;
  EXPECT_TRUE(TimestampToMillis(-1, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, -1);
  EXPECT_TRUE(TimestampToMillis(999, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, 0);
  EXPECT_TRUE(TimestampToMillis(INT64_MIN, TimestampUnit::kMicroseconds, ms));
  EXPECT_EQ(ms, INT64_MIN / 1000 - 1);
  EXPECT_FALSE(TimestampToMillis(INT64_MIN, TimestampUnit::kSeconds, ms));
  EXPECT_FALSE(
      TimestampToMillis(INT64_MAX / 1000 + 1, TimestampUnit::kSeconds, ms));
}

TEST(ParseFlags, FormatAndUnit) {
  EXPECT_EQ(*ParseInputFormat("jsonl"), InputFormat::kJsonLines);
  EXPECT_EQ(*ParseInputFormat("csv"), InputFormat::kCsv);
  EXPECT_EQ(ParseInputFormat("json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseTimestampUnit("us"), TimestampUnit::kMicroseconds);
  EXPECT_EQ(ParseTimestampUnit("sec").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DetectionReaderOpen, MissingFileIsNotFound) {
  const std::string path = testing::TempDir() + "/no_such_dir/none.csv";
  auto reader = DetectionReader::Open(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(DetectionReaderOpen, DirectoryIsAnError) {
  auto reader = DetectionReader::Open(testing::TempDir(), InputFormat::kCsv,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DetectionReaderOpen, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root can read any file";
  const std::string path = WriteFile("unreadable.csv", kHeader);
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  auto reader = DetectionReader::Open(path, InputFormat::kCsv,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(DetectionReaderOpen, HeaderMissingColumnsIsInvalidArgument) {
  const std::string path = WriteFile(
      "no_item.csv",
      "geographical_location_oid,video_camera_oid,detection_oid,ts\n1,2,3,4\n");
  auto reader = DetectionReader::Open(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
  EXPECT_THAT(reader.status().message(),
              HasSubstr("item_name, timestamp_detected"));
}

TEST(DetectionReaderOpen, DuplicateRequiredColumnIsInvalidArgument) {
  const std::string path =
      WriteFile("dup_col.csv",
                "geographical_location_oid,video_camera_oid,detection_oid,"
                "item_name,timestamp_detected,item_name\n");
  auto reader = DetectionReader::Open(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(),
              HasSubstr("duplicate column: item_name"));
}

TEST(DetectionReaderOpen, EmptyFileIsInvalidArgument) {
  const std::string path = WriteFile("empty.csv", "");
  auto reader = DetectionReader::Open(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(DetectionReaderJsonl, GoodAndBadLines) {
  const std::string path = WriteFile(
      "events.jsonl",
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4,"extra":[1,{"a":null}]})"
      "\n"
      R"({"timestamp_detected":8,"item_name":"a \"b\", c","detection_oid":7,"video_camera_oid":6,"geographical_location_oid":5})"
      "\r\n"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":"3","item_name":"car","timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4)"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":7,"timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2.5,"detection_oid":3,"item_name":"car","timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":99999999999999999999})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":18446744073709551615,"item_name":"car","timestamp_detected":4})"
      "\n"
      R"([1,2])"
      "\n"
      R"({"geographical_location_oid":null,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"","timestamp_detected":4})"
      "\n"
      R"({"geographical_location_oid":9,"video_camera_oid":9,"detection_oid":9,"item_name":"caf\u00e9","timestamp_detected":-1500})");
  auto reader =
      OpenOrDie(path, InputFormat::kAuto, TimestampUnit::kMicroseconds);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->format(), InputFormat::kJsonLines);
  EXPECT_EQ(reader->data_offset(), 0);
  Results results = ReadAll(*reader);
  EXPECT_THAT(results.accepted,
              ElementsAre(D(1, 2, 3, "car", 0), D(5, 6, 7, "a \"b\", c", 0),
                          D(9, 9, 9, "caf\xC3\xA9", -2)));
  EXPECT_THAT(results.accepted_lines, ElementsAre(1, 2, 14));
  EXPECT_EQ(reader->blank_lines(), 1);

  std::vector<std::pair<int64_t, std::string>> rejected;
  for (const Rejection& r : results.rejected) {
    rejected.emplace_back(r.line_number, r.reason);
  }
  EXPECT_THAT(
      rejected,
      ElementsAre(
          std::pair<int64_t, std::string>(4, "missing field: item_name"),
          std::pair<int64_t, std::string>(
              5, "detection_oid: expected integer, got string"),
          std::pair<int64_t, std::string>(
              6,
              "invalid JSON: The JSON document has an improper structure: "
              "missing or superfluous commas, braces, missing keys, etc."),
          std::pair<int64_t, std::string>(
              7, "item_name: expected string, got integer"),
          std::pair<int64_t, std::string>(
              8,
              "video_camera_oid: expected integer, got floating-point "
              "number"),
          std::pair<int64_t, std::string>(
              9,
              "timestamp_detected: integer overflow: "
              "\"99999999999999999999\""),
          std::pair<int64_t, std::string>(
              10, "detection_oid: integer overflow: \"18446744073709551615\""),
          std::pair<int64_t, std::string>(
              11, "invalid JSON: expected an object, got array"),
          std::pair<int64_t, std::string>(
              12, "geographical_location_oid: expected integer, got null"),
          std::pair<int64_t, std::string>(13, "item_name: empty")));
  ASSERT_GE(results.rejected.size(), 1u);
  EXPECT_EQ(
      results.rejected[0].raw_line,
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"timestamp_detected":4})");
}

TEST(DetectionReaderJsonl, NumbersBeyond64BitsOutsideRequiredFields) {
  const std::string path = WriteFile(
      "huge.jsonl",
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4,"other":123456789012345678901234})"
      "\n"
      R"({"geographical_location_oid":-99999999999999999999,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4})"
      "\n");
  auto reader = OpenOrDie(path);
  ASSERT_NE(reader, nullptr);
  Results results = ReadAll(*reader);
  EXPECT_TRUE(results.accepted.empty());
  ASSERT_EQ(results.rejected.size(), 2u);
  EXPECT_EQ(results.rejected[0].reason,
            "invalid JSON: Problem while parsing a number");
  EXPECT_EQ(results.rejected[1].reason,
            "geographical_location_oid: integer overflow: "
            "\"-99999999999999999999\"");
}

TEST(DetectionReaderJsonl, FlagOverridesExtension) {
  const std::string path = WriteFile(
      "events.txt",
      R"({"geographical_location_oid":1,"video_camera_oid":2,"detection_oid":3,"item_name":"car","timestamp_detected":4})"
      "\n");
  auto reader = OpenOrDie(path, InputFormat::kJsonLines);
  ASSERT_NE(reader, nullptr);
  EXPECT_THAT(ReadAll(*reader).accepted, ElementsAre(D(1, 2, 3, "car", 4)));
}

TEST(DetectionReaderSeek, ResumesAtTheRecordedRecord) {
  std::string contents = kHeader;
  for (int i = 0; i < 100; ++i) {
    contents += std::to_string(i) + ",1," + std::to_string(1000 + i) +
                (i % 7 == 0 ? ",\"x,y\"," : ",car,") + std::to_string(i) +
                "\r\n";
    if (i == 50) contents += "\n";
  }
  const std::string path = WriteFile("seek.csv", contents);

  auto first = OpenOrDie(path);
  ASSERT_NE(first, nullptr);
  const int64_t data_offset = first->data_offset();
  EXPECT_EQ(data_offset, static_cast<int64_t>(std::string(kHeader).size()));
  ReadResult r;
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(*first->Next(r));
  const int64_t offset = first->offset();
  const int64_t line = first->next_line_number();
  EXPECT_EQ(line, 42);
  std::vector<Detection> rest = ReadAll(*first).accepted;
  ASSERT_EQ(rest.size(), 60u);

  auto second = OpenOrDie(path);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Seek(offset, line).ok());
  ASSERT_TRUE(*second->Next(r));
  EXPECT_EQ(r.line_number, 42);
  EXPECT_EQ(r.detection.detection_oid, 1040);
  ASSERT_TRUE(second->Seek(offset, line).ok());
  Results resumed = ReadAll(*second);
  EXPECT_EQ(resumed.accepted, rest);
  EXPECT_EQ(resumed.accepted_lines.back(), 102);  // 100 rows + header + blank

  // Back to the first data line.
  ASSERT_TRUE(second->Seek(data_offset, 2).ok());
  EXPECT_EQ(ReadAll(*second).accepted.size(), 100u);

  EXPECT_EQ(second->Seek(offset + 1, line).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(second->Seek(0, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      second->Seek(static_cast<int64_t>(contents.size()) + 1, line).code(),
      absl::StatusCode::kOutOfRange);
  // The end of the file is a valid (empty) resume point.
  ASSERT_TRUE(second->Seek(static_cast<int64_t>(contents.size()), 103).ok());
  EXPECT_FALSE(*second->Next(r));
}

TEST(DetectionReaderSeek, StdinCannotSeek) {
  // JSON Lines reads nothing in Open, so this does not touch the test's stdin.
  auto reader = OpenOrDie("-", InputFormat::kJsonLines);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->source(), "stdin");
  EXPECT_EQ(reader->Seek(0, 1).code(), absl::StatusCode::kFailedPrecondition);
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
  ASSERT_TRUE(locations.ok()) << locations.status();
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
    ASSERT_FALSE(locations.ok());
    EXPECT_EQ(locations.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(locations.status().message(), path + c.message);
  }

  const std::string no_column =
      WriteFile("loc_no_column.csv", "geographical_location_oid,name\n1,a\n");
  absl::StatusOr<std::vector<Location>> locations = LoadLocationsCsv(no_column);
  EXPECT_EQ(locations.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(locations.status().message(), HasSubstr("geographical_location"));

  locations = LoadLocationsCsv(testing::TempDir() + "/no_such_locations.csv");
  EXPECT_EQ(locations.status().code(), absl::StatusCode::kNotFound);
}

TEST(CsvWriter, OutputReadsBackThroughDetectionReader) {
  const std::vector<std::string> names = {"a,b", "say \"hi\"", "x\"\"y",
                                          "p",   "\"quoted\"", " lead"};
  std::string out;
  CsvWriter writer(&out);
  ASSERT_TRUE(
      writer
          .WriteRow({"geographical_location_oid", "video_camera_oid",
                     "detection_oid", "item_name", "timestamp_detected"})
          .ok());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(writer.WriteValues(i, 2, 3, names[i], 4).ok());
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

TEST(DetectionReaderRealData, UtopiaDetections) {
  const char* shared = std::getenv("BROOK_SHARED_DATA");
  if (shared == nullptr) GTEST_SKIP() << "BROOK_SHARED_DATA is not set";
  const std::string path =
      std::string(shared) + "/utopia/camera_detection_events.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  auto reader = OpenOrDie(path, InputFormat::kAuto, TimestampUnit::kSeconds);
  ASSERT_NE(reader, nullptr);
  ReadResult r;
  int64_t min_ts = INT64_MAX;
  int64_t max_ts = INT64_MIN;
  for (;;) {
    absl::StatusOr<bool> more = reader->Next(r);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_FALSE(r.rejected)
        << r.rejection.line_number << ": " << r.rejection.reason;
    min_ts = std::min(min_ts, r.detection.timestamp_detected_ms);
    max_ts = std::max(max_ts, r.detection.timestamp_detected_ms);
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
