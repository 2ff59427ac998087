// File: tests/connectors/file_source_test.cc
//
// CsvFormat, JsonLinesFormat, LineRecordReader and FileSource, on a record
// shaped like the camera job's Dataset A: header and column handling, every
// rejection reason, Open errors, Seek, checkpoints, and LoadCsvTable. Ported
// from the camera job's detection reader tests; the reasons are unchanged.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "brook/connectors/csv_format.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/json_lines_format.h"
#include "brook/connectors/row_schema.h"
#include "absl/strings/str_cat.h"
#include "connectors/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace brook::connectors {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr size_t kMaxItemNameBytes = 5000;

constexpr char kHeader[] =
    "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
    "timestamp_detected\n";

// The test's record; `line` is set by the schema (WithLineNumber).
struct Det {
  int64_t geographical_location_oid = 0;
  int64_t video_camera_oid = 0;
  int64_t detection_oid = 0;
  std::string item_name;
  int64_t timestamp_detected_ms = 0;
  int64_t line = 0;

  friend bool operator==(const Det&, const Det&) = default;
};

enum class InputFormat { kAuto, kCsv, kJsonLines };
// A converting setter; kSeconds can reject (overflow).
enum class TimestampUnit { kSeconds, kMilliseconds, kMicroseconds };

auto DetSchema(TimestampUnit unit) {
  return MakeRowSchema<Det>(
             Int64Field("geographical_location_oid", &Det::geographical_location_oid),
             Int64Field("video_camera_oid", &Det::video_camera_oid),
             Int64Field("detection_oid", &Det::detection_oid),
             StringField("item_name", &Det::item_name,
                         {.allow_empty = false, .max_bytes = kMaxItemNameBytes}),
             Int64Field<Det>("timestamp_detected",
                             [unit](Det& d, int64_t v, std::string& reason) {
                               if (unit == TimestampUnit::kMilliseconds) {
                                 d.timestamp_detected_ms = v;
                                 return true;
                               }
                               if (unit == TimestampUnit::kMicroseconds) {
                                 d.timestamp_detected_ms = v / 1000 - (v % 1000 < 0 ? 1 : 0);
                                 return true;
                               }
                               if (!__builtin_mul_overflow(v, int64_t{1000},
                                                           &d.timestamp_detected_ms)) {
                                 return true;
                               }
                               reason = "timestamp_detected: overflows int64 milliseconds";
                               return false;
                             }))
      .WithLineNumber(&Det::line);
}
using DetSchemaType = decltype(DetSchema(TimestampUnit::kMilliseconds));
using CsvReader = LineRecordReader<CsvFormat<DetSchemaType>>;
using JsonReader = LineRecordReader<JsonLinesFormat<DetSchemaType>>;

// Either reader, chosen at run time as a job would by file name.
class Reader {
 public:
  template <typename R>
  Reader(std::unique_ptr<R> r, InputFormat format) : reader_(std::move(r)), format_(format) {}

  template <typename F>
  auto Visit(F f) {
    return std::visit([&](auto& r) { return f(*r); }, reader_);
  }

  absl::StatusOr<bool> Next(ReadResult<Det>& out) {
    return Visit([&](auto& r) { return r.Next(out); });
  }
  int64_t offset() { return Visit([](auto& r) { return r.offset(); }); }
  int64_t next_line_number() { return Visit([](auto& r) { return r.next_line_number(); }); }
  int64_t data_offset() { return Visit([](auto& r) { return r.data_offset(); }); }
  absl::Status Seek(int64_t offset, int64_t line) {
    return Visit([&](auto& r) { return r.Seek(offset, line); });
  }
  std::string source() { return Visit([](auto& r) { return r.source(); }); }
  int64_t accepted() { return Visit([](auto& r) { return r.accepted(); }); }
  int64_t rejected() { return Visit([](auto& r) { return r.rejected(); }); }
  int64_t blank_lines() { return Visit([](auto& r) { return r.blank_lines(); }); }
  InputFormat format() const { return format_; }

 private:
  std::variant<std::unique_ptr<CsvReader>, std::unique_ptr<JsonReader>> reader_;
  InputFormat format_;
};

absl::StatusOr<std::unique_ptr<Reader>> OpenReader(const std::string& path, InputFormat format,
                                                   TimestampUnit unit) {
  if (format == InputFormat::kAuto) {
    format = path.ends_with(".jsonl") ? InputFormat::kJsonLines : InputFormat::kCsv;
  }
  if (format == InputFormat::kCsv) {
    auto r = CsvReader::Open(path, CsvFormat(DetSchema(unit)));
    if (!r.ok()) return r.status();
    return std::make_unique<Reader>(*std::move(r), format);
  }
  auto r = JsonReader::Open(path, JsonLinesFormat(DetSchema(unit)));
  if (!r.ok()) return r.status();
  return std::make_unique<Reader>(*std::move(r), format);
}

std::string WriteFile(const std::string& name, const std::string& contents) {
  return brook_test::WriteTempFile("file_source_test_" + name, contents);
}

struct Results {
  std::vector<Det> accepted;  // `line` cleared, kept in accepted_lines
  std::vector<int64_t> accepted_lines;
  std::vector<DeadLetter> rejected;
};

Results ReadAll(Reader& reader) {
  Results results;
  ReadResult<Det> r;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(r);
    EXPECT_THAT(more, IsOk());
    if (!more.ok() || !*more) break;
    if (r.rejected) {
      EXPECT_EQ(r.dead_letter.line_number, r.line_number);
      results.rejected.push_back(r.dead_letter);
    } else {
      EXPECT_EQ(r.record.line, r.line_number);  // WithLineNumber
      Det d = r.record;
      d.line = 0;
      results.accepted.push_back(std::move(d));
      results.accepted_lines.push_back(r.line_number);
    }
  }
  return results;
}

std::unique_ptr<Reader> OpenOrDie(const std::string& path, InputFormat format = InputFormat::kAuto,
                                  TimestampUnit unit = TimestampUnit::kMilliseconds) {
  absl::StatusOr<std::unique_ptr<Reader>> reader = OpenReader(path, format, unit);
  EXPECT_THAT(reader, IsOk());
  return reader.ok() ? std::move(*reader) : nullptr;
}

Det D(int64_t geo, int64_t camera, int64_t oid, std::string item, int64_t ts) {
  return Det{geo, camera, oid, std::move(item), ts, 0};
}

TEST(LineFormatCsv, ColumnsInAnyOrderWithExtraColumn) {
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

TEST(LineFormatCsv, QuotedFields) {
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

TEST(LineFormatCsv, CrlfAndBomAndNoFinalNewline) {
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

TEST(LineFormatCsv, BadLinesAreRejectedWithReasonsAndReadingContinues) {
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
    const DeadLetter& r = results.rejected[i];
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

TEST(LineFormatCsv, LineTooLongIsRejectedAndSkipped) {
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

TEST(LineFormatCsv, SecondsTimestampOverflowIsRejected) {
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

TEST(FileSourceOpen, MissingFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "/no_such_dir/none.csv";
  auto reader = OpenReader(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(FileSourceOpen, DirectoryIsAnError) {
  auto reader = OpenReader(::testing::TempDir(), InputFormat::kCsv,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(FileSourceOpen, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root can read any file";
  const std::string path = WriteFile("unreadable.csv", kHeader);
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  auto reader = OpenReader(path, InputFormat::kCsv,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(FileSourceOpen, HeaderMissingColumnsIsInvalidArgument) {
  const std::string path = WriteFile(
      "no_item.csv",
      "geographical_location_oid,video_camera_oid,detection_oid,ts\n1,2,3,4\n");
  auto reader = OpenReader(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
  EXPECT_THAT(reader.status().message(),
              HasSubstr("item_name, timestamp_detected"));
}

TEST(FileSourceOpen, DuplicateRequiredColumnIsInvalidArgument) {
  const std::string path =
      WriteFile("dup_col.csv",
                "geographical_location_oid,video_camera_oid,detection_oid,"
                "item_name,timestamp_detected,item_name\n");
  auto reader = OpenReader(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reader.status().message(),
              HasSubstr("duplicate column: item_name"));
}

TEST(FileSourceOpen, EmptyFileIsInvalidArgument) {
  const std::string path = WriteFile("empty.csv", "");
  auto reader = OpenReader(path, InputFormat::kAuto,
                                      TimestampUnit::kMilliseconds);
  ASSERT_THAT(reader, Not(IsOk()));
  EXPECT_THAT(reader.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reader.status().message(), HasSubstr(path));
}

TEST(LineFormatJsonl, GoodAndBadLines) {
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
  for (const DeadLetter& r : results.rejected) {
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

TEST(LineFormatJsonl, NumbersBeyond64BitsOutsideRequiredFields) {
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

TEST(LineRecordReaderSeek, ResumesAtTheRecordedRecord) {
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
  ReadResult<Det> r;
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(*first->Next(r));
  const int64_t offset = first->offset();
  const int64_t line = first->next_line_number();
  EXPECT_EQ(line, 42);
  std::vector<Det> rest = ReadAll(*first).accepted;
  ASSERT_EQ(rest.size(), 60u);

  auto second = OpenOrDie(path);
  ASSERT_NE(second, nullptr);
  ASSERT_THAT(second->Seek(offset, line), IsOk());
  ASSERT_TRUE(*second->Next(r));
  EXPECT_EQ(r.line_number, 42);
  EXPECT_EQ(r.record.detection_oid, 1040);
  ASSERT_THAT(second->Seek(offset, line), IsOk());
  Results resumed = ReadAll(*second);
  EXPECT_EQ(resumed.accepted, rest);
  EXPECT_EQ(resumed.accepted_lines.back(), 102);  // 100 rows + header + blank

  // Back to the first data line.
  ASSERT_THAT(second->Seek(data_offset, 2), IsOk());
  EXPECT_EQ(ReadAll(*second).accepted.size(), 100u);

  EXPECT_THAT(second->Seek(offset + 1, line), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(second->Seek(0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(second->Seek(static_cast<int64_t>(contents.size()) + 1, line), StatusIs(absl::StatusCode::kOutOfRange));
  // The end of the file is a valid (empty) resume point.
  ASSERT_THAT(second->Seek(static_cast<int64_t>(contents.size()), 103), IsOk());
  EXPECT_FALSE(*second->Next(r));
}

TEST(LineRecordReaderSeek, StdinCannotSeek) {
  // JSON Lines reads nothing in Open, so this does not touch the test's stdin.
  auto reader = OpenOrDie("-", InputFormat::kJsonLines);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->source(), "stdin");
  EXPECT_THAT(reader->Seek(0, 1), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// FileSource: what a reader emits, checkpoints, stdin.

using Output = std::variant<Det, DeadLetter>;

std::string Describe(const StreamRecord<Output>& r) {
  if (const Det* d = std::get_if<Det>(&r.value)) {
    return absl::StrCat("record line=", d->line, " ts=", r.timestamp_ms, " ",
                        d->geographical_location_oid, ",", d->video_camera_oid, ",",
                        d->detection_oid, ",", d->item_name, ",", d->timestamp_detected_ms);
  }
  const DeadLetter& j = std::get<DeadLetter>(r.value);
  return absl::StrCat("dead letter line=", j.line_number, " ts=", r.timestamp_ms, " ", j.source,
                      " ", j.reason, " [", j.raw_line, "]");
}

using Driver = brook_test::SourceReaderDriver<Output>;

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("file-source-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A CSV of `n` lines after the header, mixing records, malformed lines and
  // blank lines (deterministic in `seed`).
  std::string WriteDetections(int n, int seed) {
    const std::string path = (dir_ / absl::StrCat("detections-", seed, ".csv")).string();
    std::ofstream out(path, std::ios::binary);
    out << kHeader;
    uint64_t x = static_cast<uint64_t>(seed) * 2654435761u + 1;
    for (int i = 0; i < n; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const int kind = static_cast<int>((x >> 33) % 20);
      if (kind == 0) {
        out << "not,a,valid,line\n";
      } else if (kind == 1) {
        out << "\n";
      } else {
        out << (i % 7) + 1 << "," << (i % 13) + 1 << "," << i << ",item-" << (x >> 40) % 9
            << "," << 1700000000000 + i * 10 - static_cast<int64_t>((x >> 20) % 500) << "\n";
      }
    }
    return path;
  }

  static absl::StatusOr<std::unique_ptr<SourceReader<Output>>> OpenReader(
      const std::string& path) {
    auto source = FileSource<Det>::Open(path, CsvFormat(DetSchema(TimestampUnit::kMilliseconds)),
                                        [](const Det& d) { return d.timestamp_detected_ms; });
    if (!source.ok()) return source.status();
    return (*source)->CreateReader(SourceReaderContext{});
  }

  std::filesystem::path dir_;
};

TEST_F(FileSourceTest, EmitsRecordsAndDeadLettersWithTimestamps) {
  const std::string path = WriteFile(
      "emit.csv", std::string(kHeader) + "1,2,3,car,500\n1,2,x,car,9\n\n4,5,6,bus,400\n");
  auto reader = OpenReader(path);
  ASSERT_THAT(reader, IsOk());
  Driver driver(*std::move(reader), Describe);
  ASSERT_THAT(driver.Open(), IsOk());
  auto done = driver.Poll(-1);
  ASSERT_THAT(done, IsOk());
  EXPECT_TRUE(*done);
  EXPECT_THAT(driver.Take(),
              ElementsAre("record line=2 ts=500 1,2,3,car,500",
                          // A dead letter inherits the latest record's timestamp.
                          absl::StrCat("dead letter line=3 ts=500 ", path,
                                       " detection_oid: not an integer: \"x\" [1,2,x,car,9]"),
                          "record line=5 ts=400 4,5,6,bus,400"));
}

TEST_F(FileSourceTest, ReadOnceAtParallelismOne) {
  auto source = FileSource<Det>::Open(WriteDetections(3, 1),
                                      CsvFormat(DetSchema(TimestampUnit::kMilliseconds)));
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->replayable(), IsOk());
  EXPECT_THAT((*source)->CreateReader(SourceReaderContext{0, 2, nullptr}).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*source)->CreateReader(SourceReaderContext{}), IsOk());
  EXPECT_THAT((*source)->CreateReader(SourceReaderContext{}).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FileSourceTest, RestoredAtEveryPollEmitsExactlyTheRest) {
  for (int seed : {1, 2, 3}) {
    const std::string path = WriteDetections(4500 + seed * 37, seed);
    auto full_reader = OpenReader(path);
    ASSERT_THAT(full_reader, IsOk());
    Driver full(*std::move(full_reader), Describe);
    ASSERT_THAT(full.Open(), IsOk());
    ASSERT_TRUE(*full.Poll(-1));
    const std::vector<std::string> all = full.Take();
    ASSERT_GT(all.size(), 4000u);

    for (int polls = 0; polls <= 5; ++polls) {
      SCOPED_TRACE(absl::StrCat("seed ", seed, ", snapshot after ", polls, " polls"));
      auto first_reader = OpenReader(path);
      ASSERT_THAT(first_reader, IsOk());
      Driver first(*std::move(first_reader), Describe);
      ASSERT_THAT(first.Open(), IsOk());
      ASSERT_THAT(first.Poll(polls), IsOk());
      std::vector<std::string> got = first.Take();
      auto state = first.reader().SnapshotState(7);
      ASSERT_THAT(state, IsOk());
      // The original goes on reading: nothing it does afterwards matters.
      ASSERT_THAT(first.Poll(1), IsOk());

      auto restored_reader = OpenReader(path);
      ASSERT_THAT(restored_reader, IsOk());
      ASSERT_THAT((*restored_reader)->RestoreState({*state}), IsOk());
      Driver restored(*std::move(restored_reader), Describe);
      ASSERT_THAT(restored.Open(), IsOk());
      ASSERT_TRUE(*restored.Poll(-1));
      for (auto& line : restored.Take()) got.push_back(std::move(line));
      ASSERT_EQ(got.size(), all.size());
      EXPECT_EQ(got, all);
    }
  }
}

TEST_F(FileSourceTest, RejectsCorruptOrForeignState) {
  const std::string path = WriteDetections(3000, 4);
  auto reader = OpenReader(path);
  ASSERT_THAT(reader, IsOk());
  Driver driver(*std::move(reader), Describe);
  ASSERT_THAT(driver.Open(), IsOk());
  ASSERT_THAT(driver.Poll(1), IsOk());
  auto state = driver.reader().SnapshotState(1);
  ASSERT_THAT(state, IsOk());
  for (size_t n = 0; n < state->size(); ++n) {
    auto fresh = OpenReader(path);
    ASSERT_THAT(fresh, IsOk());
    const absl::Status s = (*fresh)->RestoreState({state->substr(0, n)});
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss)) << "prefix " << n << ": " << s;
  }
  auto two = OpenReader(path);
  ASSERT_THAT(two, IsOk());
  EXPECT_THAT((*two)->RestoreState({*state, *state}), StatusIs(absl::StatusCode::kFailedPrecondition));
  // The same position in a shorter file does not fit it.
  const std::string small = WriteDetections(10, 5);
  auto other = OpenReader(small);
  ASSERT_THAT(other, IsOk());
  const absl::Status s = (*other)->RestoreState({*state});
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition)) << s;
}

TEST_F(FileSourceTest, StdinIsNotReplayable) {
  // JSON Lines reads nothing when opened, so this does not touch the test's stdin.
  auto source = FileSource<Det>::Open("-", JsonLinesFormat(DetSchema(TimestampUnit::kMilliseconds)));
  ASSERT_THAT(source, IsOk());
  EXPECT_EQ((*source)->source_name(), "stdin");
  EXPECT_THAT((*source)->replayable(), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto r = (*source)->CreateReader(SourceReaderContext{});
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT((*r)->SnapshotState(1).status(), StatusIs(absl::StatusCode::kUnimplemented));
}

// LoadCsvTable / ReadCsvTable: a static table, where any bad row is an error.

struct City {
  int64_t id = 0;
  std::string name;
  friend bool operator==(const City&, const City&) = default;
};

auto CitySchema() {
  return MakeRowSchema<City>(Int64Field("id", &City::id),
                             StringField("name", &City::name, {.max_bytes = 8}));
}

TEST(LoadCsvTable, RowsInFileOrder) {
  const std::string path =
      WriteFile("cities.csv", "\xEF\xBB\xBFname,x,id\r\n\"Oslo, N\",,1\r\n\r\nRome,y,2\n");
  auto rows = LoadCsvTable(path, CitySchema());
  ASSERT_THAT(rows, IsOk());
  EXPECT_THAT(*rows, ElementsAre(City{1, "Oslo, N"}, City{2, "Rome"}));
}

TEST(LoadCsvTable, AnyBadRowIsAnErrorNamingFileLineAndField) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"1,a\nx,b\n", ":3: id: not an integer: \"x\""},
      {"1,abcdefghi\n", ":2: name: 9 bytes exceeds 8"},
      {"1\n", ":2: wrong field count: expected 2, got 1"},
      {"1,\"a\n", ":2: unterminated quoted field (quoted fields cannot span lines)"},
      {"1,\xC3\n", ":2: invalid UTF-8 at byte offset 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const std::string path = WriteFile("bad_cities.csv", "id,name\n" + c.body);
    auto rows = LoadCsvTable(path, CitySchema());
    EXPECT_THAT(rows.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(rows.status().message(), path + c.message);
  }
  EXPECT_EQ(LoadCsvTable(WriteFile("no_cities.csv", ""), CitySchema()).status().message(),
            ::testing::TempDir() + "/file_source_test_no_cities.csv: empty input: no CSV header");
}

TEST(ReadCsvTable, RowCallbackErrorsNameTheLine) {
  const std::string path = WriteFile("cities_cb.csv", "id,name\n1,a\n2,b\n");
  std::vector<int64_t> lines;
  const absl::Status s = ReadCsvTable(path, CitySchema(), [&](City&& c, int64_t line) {
    lines.push_back(line);
    return c.id == 2 ? absl::AlreadyExistsError("id: taken") : absl::OkStatus();
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(s.message(), path + ":3: id: taken");
  EXPECT_THAT(lines, ElementsAre(2, 3));
}

TEST(RowSchema, QuoteForReasonEscapesAndCuts) {
  EXPECT_EQ(QuoteForReason("a\"b\\c\x01"), "\"a\\\"b\\\\c\\x01\"");
  EXPECT_EQ(QuoteForReason(std::string(39, 'x') + "\xC3\xA9"),
            "\"" + std::string(39, 'x') + "\"...");
}

}  // namespace
}  // namespace brook::connectors
