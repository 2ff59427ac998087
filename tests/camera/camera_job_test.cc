// File: tests/camera/camera_job_test.cc
//
// End-to-end tests of the camera job (camera_job.h): the whole pipeline over
// small files written here, checked against exact expected text and against
// an independent reference computation (plain loops and std::map, no engine
// or operator code) of dedup -> inner join -> event-time windows with
// BoundedOutOfOrderness watermarks every N records, allowed lateness and
// Top-K.
#include "camera_top_k/camera_job.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "camera_top_k/detection.h"
#include "camera_top_k/generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace camera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHeader[] =
    "geographical_location_oid,video_camera_oid,detection_oid,item_name,timestamp_detected\n";
constexpr char kOutputHeader[] =
    "window_start,window_end,geographical_location_oid,geographical_location,item_rank,"
    "item_name,item_count\n";
constexpr char kDeadLetterHeader[] = "source,line_number,reason,raw_line\n";

std::vector<std::string>& TempPaths() {
  static auto* paths = new std::vector<std::string>;
  return *paths;
}

// Removes a passed test's files (a failed test's stay, for a look).
class RemoveTempFiles final : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Passed()) {
      for (const std::string& path : TempPaths()) std::remove(path.c_str());
    }
    TempPaths().clear();
  }
};
const bool kRemoveTempFilesRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new RemoveTempFiles);
  return true;
}();

// A path unique to the running test (ctest may run tests in parallel).
std::string TempPath(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = absl::StrCat(info->test_suite_name(), "_", info->name());
  std::replace(test.begin(), test.end(), '/', '_');
  std::string path =
      absl::StrCat(::testing::TempDir(), "/camera_job_test_", getpid(), "_", test, "_", name);
  TempPaths().push_back(path);
  return path;
}

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = TempPath(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  EXPECT_TRUE(out.good()) << path;
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// RFC 4180 quoting, written here independently of csv_writer.h.
std::string Csv(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string DeadLetterRow(const std::string& source, int64_t line, const std::string& reason,
                          const std::string& raw) {
  return absl::StrCat(Csv(source), ",", line, ",", Csv(reason), ",", Csv(raw), "\n");
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

struct JobRun {
  CameraJobSummary summary;
  std::string output;
  std::string dead_letters;
};

// Runs the job with output and dead letters to files named after `tag`.
JobRun RunJob(CameraJobOptions o, const std::string& tag) {
  o.output_path = TempPath(tag + "_out.csv");
  o.dead_letter_path = TempPath(tag + "_dead.csv");
  const std::string out_path = o.output_path;
  const std::string dead_path = o.dead_letter_path;
  JobRun run;
  auto job = CameraJob::Create(std::move(o));
  EXPECT_THAT(job, IsOk());
  if (!job.ok()) return run;
  auto summary = (*job)->Run();
  EXPECT_THAT(summary, IsOk());
  if (!summary.ok()) return run;
  job->reset();  // closes the files
  run.summary = *summary;
  run.output = ReadFile(out_path);
  run.dead_letters = ReadFile(dead_path);
  return run;
}

void ExpectCountsAddUp(const CameraJobSummary& s) {
  EXPECT_EQ(s.read, s.accepted + s.duplicates + s.malformed + s.unknown_location + s.late)
      << s.ToString();
}

// Exit status of the built camera_top_k binary with `args` (stderr and stdout
// to files), or -1 when it is not wired into this test binary.
int RunBinary(const std::string& args) {
#ifdef CAMERA_TOP_K_BINARY
  const std::string command = absl::StrCat(CAMERA_TOP_K_BINARY, " ", args, " >",
                                           TempPath("bin_stdout"), " 2>", TempPath("bin_stderr"));
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -2;
  return WEXITSTATUS(status);
#else
  (void)args;
  return -1;
#endif
}

// ---------------------------------------------------------------------------
// Bad input end to end.

constexpr int64_t kT = 1'700'000'000'000;  // a multiple of 10 s

struct BadInput {
  std::string detections;
  std::string locations;
};

// Good lines mixed with every kind of bad one. Line numbers (header = 1) are
// what the dead letters must report.
BadInput WriteBadInput() {
  std::string text = kHeader;
  auto line = [&](const std::string& l) { absl::StrAppend(&text, l, "\n"); };
  line(absl::StrCat("1,10,100,car,", kT + 1000));                     // 2 good
  line(absl::StrCat("1,10,101,\"car, red\",", kT + 2000));            // 3 good (quoted)
  line("1,10,102,car");                                               // 4 too few fields
  line(absl::StrCat("1,10,103,car,", kT + 2500, ",extra"));           // 5 too many
  line(absl::StrCat("1,10,abc,car,", kT + 3000));                     // 6 not an integer
  line(absl::StrCat("1,10,99999999999999999999,car,", kT + 3000));    // 7 overflow
  line(absl::StrCat("1,10,104,", std::string(5001, 'a'), ",", kT + 3000));  // 8 too long
  line(absl::StrCat("1,10,105,caf\xff,", kT + 3000));                 // 9 invalid UTF-8
  line(absl::StrCat("1,10,106,,", kT + 3000));                        // 10 empty item_name
  line(absl::StrCat("2,20,107,bus,", kT + 3000));                     // 11 good
  line(absl::StrCat("9,90,108,bus,", kT + 3000));                     // 12 unknown location
  line(absl::StrCat("1,10,100,car,", kT + 1000));                     // 13 duplicate of 2
  line(absl::StrCat("1,11,101,truck,", kT + 2000));                   // 14 conflicting dup of 3
  line(absl::StrCat("1,10,109,car,", kT + 15000));                    // 15 good; wm -> kT+13999
  line(absl::StrCat("1,10,110,bus,", kT + 5000));                     // 16 late
  line(absl::StrCat("1,10,111,car,", kT + 14000));                    // 17 good
  line("");                                                           // 18 blank: skipped
  line(absl::StrCat("1,10,112,\"bus\",", kT + 16000));                // 19 good (quoted)
  line("2,20,113,bus,1.5e3");                                         // 20 bad timestamp
  BadInput in;
  in.detections = WriteFile("bad.csv", text);
  in.locations = WriteFile("locations.csv",
                           "geographical_location_oid,geographical_location\n"
                           "1,\"Main St, North\"\n"
                           "2,Harbour\n");
  return in;
}

CameraJobOptions BadInputOptions(const BadInput& in) {
  CameraJobOptions o;
  o.detections_path = in.detections;
  o.locations_path = in.locations;
  o.timestamp_unit = TimestampUnit::kMilliseconds;
  o.top_x = 3;
  o.window = absl::Seconds(10);
  o.out_of_orderness = absl::Seconds(1);
  o.records_per_watermark = 1;
  return o;
}

std::string BadInputExpectedOutput() {
  const std::string w1 = absl::StrCat(kT, ",", kT + 10000);
  const std::string w2 = absl::StrCat(kT + 10000, ",", kT + 20000);
  return absl::StrCat(kOutputHeader,                                    //
                      w1, ",1,\"Main St, North\",1,car,1\n",            // tie: item ascending
                      w1, ",1,\"Main St, North\",2,\"car, red\",1\n",   //
                      w1, ",2,Harbour,1,bus,1\n",                       //
                      w2, ",1,\"Main St, North\",1,car,2\n",            //
                      w2, ",1,\"Main St, North\",2,bus,1\n");
}

std::string BadInputExpectedDeadLetters(const std::string& src) {
  return absl::StrCat(
      kDeadLetterHeader,
      DeadLetterRow(src, 4, "wrong field count: expected 5, got 4", "1,10,102,car"),
      DeadLetterRow(src, 5, "wrong field count: expected 5, got 6",
                    absl::StrCat("1,10,103,car,", kT + 2500, ",extra")),
      DeadLetterRow(src, 6, "detection_oid: not an integer: \"abc\"",
                    absl::StrCat("1,10,abc,car,", kT + 3000)),
      DeadLetterRow(src, 7, "detection_oid: integer overflow: \"99999999999999999999\"",
                    absl::StrCat("1,10,99999999999999999999,car,", kT + 3000)),
      DeadLetterRow(src, 8, "item_name: 5001 bytes exceeds 5000",
                    absl::StrCat("1,10,104,", std::string(5001, 'a'), ",", kT + 3000)),
      DeadLetterRow(src, 9, "invalid UTF-8 at byte offset 12",
                    absl::StrCat("1,10,105,caf\xff,", kT + 3000)),
      DeadLetterRow(src, 10, "item_name: empty", absl::StrCat("1,10,106,,", kT + 3000)),
      DeadLetterRow(src, 12, "unknown geographical_location_oid 9",
                    absl::StrCat("9,90,108,bus,", kT + 3000)),
      DeadLetterRow(src, 16,
                    absl::StrCat("late: timestamp_detected ", kT + 5000,
                                 " ms is behind the watermark beyond the allowed lateness"),
                    absl::StrCat("1,10,110,bus,", kT + 5000)),
      DeadLetterRow(src, 20, "timestamp_detected: not an integer: \"1.5e3\"",
                    "2,20,113,bus,1.5e3"));
}

TEST(CameraJobBadInputTest, GoodRowsResultsDeadLettersAndCountsAreExact) {
  const BadInput in = WriteBadInput();
  const JobRun run = RunJob(BadInputOptions(in), "p1");
  EXPECT_EQ(run.output, BadInputExpectedOutput());
  EXPECT_EQ(run.dead_letters, BadInputExpectedDeadLetters(in.detections));

  const CameraJobSummary& s = run.summary;
  EXPECT_EQ(s.read, 18) << s.ToString();  // every non-blank data line
  EXPECT_EQ(s.malformed, 8);
  EXPECT_EQ(s.duplicates, 2);
  EXPECT_EQ(s.conflicts, 1);
  EXPECT_EQ(s.unknown_location, 1);
  EXPECT_EQ(s.late, 1);
  EXPECT_EQ(s.accepted, 6);  // lines 2, 3, 11, 15, 17, 19
  EXPECT_EQ(s.windows_fired, 3);
  EXPECT_EQ(s.output_rows, 5);
  ExpectCountsAddUp(s);
}

TEST(CameraJobBadInputTest, SameFilesAtEveryParallelism) {
  const BadInput in = WriteBadInput();
  for (int p : {2, 4}) {
    SCOPED_TRACE(p);
    CameraJobOptions o = BadInputOptions(in);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    EXPECT_EQ(run.output, BadInputExpectedOutput());
    EXPECT_EQ(run.dead_letters, BadInputExpectedDeadLetters(in.detections));
    EXPECT_EQ(run.summary.late, 1);
    EXPECT_EQ(run.summary.accepted, 6);
  }
}

TEST(CameraJobBadInputTest, GlobalWindowCountsEverythingAcceptedAndNothingIsLate) {
  const BadInput in = WriteBadInput();
  CameraJobOptions o = BadInputOptions(in);
  o.window = absl::ZeroDuration();
  const JobRun run = RunJob(o, "global");
  // Line 16 (kT + 5000) is not late for the global window: it counts.
  EXPECT_EQ(run.output, absl::StrCat(kOutputHeader,
                                     ",,1,\"Main St, North\",1,car,3\n",
                                     ",,1,\"Main St, North\",2,bus,2\n",
                                     ",,1,\"Main St, North\",3,\"car, red\",1\n",
                                     ",,2,Harbour,1,bus,1\n"));
  EXPECT_EQ(run.summary.late, 0);
  EXPECT_EQ(run.summary.accepted, 7);
  EXPECT_EQ(run.summary.windows_fired, 2);
  ExpectCountsAddUp(run.summary);
}

TEST(CameraJobBadInputTest, LeftJoinKeepsUnknownLocationWithEmptyName) {
  const BadInput in = WriteBadInput();
  CameraJobOptions o = BadInputOptions(in);
  o.join = JoinMode::kLeftOuter;
  const JobRun run = RunJob(o, "left");
  const std::string w1 = absl::StrCat(kT, ",", kT + 10000);
  const std::string w2 = absl::StrCat(kT + 10000, ",", kT + 20000);
  EXPECT_EQ(run.output, absl::StrCat(kOutputHeader,
                                     w1, ",1,\"Main St, North\",1,car,1\n",
                                     w1, ",1,\"Main St, North\",2,\"car, red\",1\n",
                                     w1, ",2,Harbour,1,bus,1\n",
                                     w1, ",9,,1,bus,1\n",  // kept, no name
                                     w2, ",1,\"Main St, North\",1,car,2\n",
                                     w2, ",1,\"Main St, North\",2,bus,1\n"));
  EXPECT_EQ(run.summary.unknown_location, 0);
  EXPECT_EQ(run.summary.accepted, 7);
  EXPECT_THAT(run.dead_letters, Not(HasSubstr("unknown geographical_location_oid")));
  EXPECT_THAT(run.dead_letters, HasSubstr("late: timestamp_detected"));
  ExpectCountsAddUp(run.summary);
}

TEST(CameraJobBadInputTest, BinaryWritesTheSameFiles) {
  const BadInput in = WriteBadInput();
  const std::string out = TempPath("bin_out.csv");
  const std::string dead = TempPath("bin_dead.csv");
  const int status = RunBinary(absl::StrCat(
      "--detections=", in.detections, " --locations=", in.locations,
      " --timestamp_unit=ms --top_x=3 --window=10s --out_of_orderness=1s "
      "--records_per_watermark=1 --parallelism=2 --progress=false --output=",
      out, " --dead_letter=", dead));
  if (status == -1) GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
  ASSERT_EQ(status, 0) << ReadFile(TempPath("bin_stderr"));
  EXPECT_EQ(ReadFile(out), BadInputExpectedOutput());
  EXPECT_EQ(ReadFile(dead), BadInputExpectedDeadLetters(in.detections));
  EXPECT_THAT(ReadFile(TempPath("bin_stderr")),
              HasSubstr("read=18 accepted=6 duplicates=2 conflicts=1 malformed=8 "
                        "unknown_location=1 late=1"));
}

TEST(CameraJobBadInputTest, JsonLinesBadLinesGoToTheDeadLetters) {
  const BadInput in = WriteBadInput();  // for its locations file
  const std::string jsonl = absl::StrCat(
      "{\"geographical_location_oid\":1,\"video_camera_oid\":10,\"detection_oid\":1,"
      "\"item_name\":\"car\",\"timestamp_detected\":", kT + 1000, "}\n",
      "{\"geographical_location_oid\":1,\"video_camera_oid\":10,\"detection_oid\":2,"
      "\"timestamp_detected\":", kT + 1000, "}\n",
      "{\"geographical_location_oid\":1,\"video_camera_oid\":10,\"detection_oid\":\"3\","
      "\"item_name\":\"car\",\"timestamp_detected\":", kT + 1000, "}\n",
      "{\"geographical_location_oid\":1,\"video_camera_oid\":10,\"detection_oid\":4,"
      "\"item_name\":\"car\",\"timestamp_detected\":1.5}\n",
      "[1,2,3]\n",
      "{\"geographical_location_oid\":2,\"video_camera_oid\":20,\"detection_oid\":5,"
      "\"item_name\":\"bus\",\"timestamp_detected\":", kT + 2000, "}\n");
  CameraJobOptions o = BadInputOptions(in);
  o.detections_path = WriteFile("a.jsonl", jsonl);
  o.window = absl::ZeroDuration();
  const JobRun run = RunJob(o, "jsonl");
  EXPECT_EQ(run.output, absl::StrCat(kOutputHeader, ",,1,\"Main St, North\",1,car,1\n",
                                     ",,2,Harbour,1,bus,1\n"));
  const std::vector<std::string> dead = Lines(run.dead_letters);
  ASSERT_EQ(dead.size(), 5u) << run.dead_letters;
  const std::string src = Csv(o.detections_path);
  EXPECT_THAT(dead[1], HasSubstr(absl::StrCat(src, ",2,missing field: item_name,")));
  EXPECT_THAT(dead[2],
              HasSubstr(absl::StrCat(src, ",3,\"detection_oid: expected integer, got string\",")));
  EXPECT_THAT(dead[3], HasSubstr(absl::StrCat(
                           src, ",4,\"timestamp_detected: expected integer, got floating-point "
                                "number\",")));
  EXPECT_THAT(dead[4], HasSubstr(absl::StrCat(src, ",5,")));
  EXPECT_THAT(dead[4], HasSubstr("invalid JSON: "));
  EXPECT_EQ(run.summary.read, 6);
  EXPECT_EQ(run.summary.malformed, 4);
  EXPECT_EQ(run.summary.accepted, 2);
  ExpectCountsAddUp(run.summary);
}

// ---------------------------------------------------------------------------
// Errors reported before any work.

TEST(CameraJobErrorsTest, MissingDetectionsFileIsNotFound) {
  CameraJobOptions o;
  o.detections_path = TempPath("does_not_exist.csv");
  o.locations_path = WriteFile("locations.csv", "geographical_location_oid,geographical_location\n"
                                                "1,A\n");
  o.output_path = TempPath("out.csv");
  auto job = CameraJob::Create(o);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kNotFound)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr(o.detections_path));

  const int status = RunBinary(absl::StrCat("--detections=", o.detections_path,
                                            " --locations=", o.locations_path,
                                            " --output=", o.output_path));
  if (status != -1) EXPECT_EQ(status, 2);
}

TEST(CameraJobErrorsTest, MissingLocationsFileIsNotFound) {
  CameraJobOptions o;
  o.detections_path = WriteFile("a.csv", absl::StrCat(kHeader, "1,1,1,car,5\n"));
  o.locations_path = TempPath("does_not_exist.csv");
  o.output_path = TempPath("out.csv");
  auto job = CameraJob::Create(o);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kNotFound)) << job.status();
}

TEST(CameraJobErrorsTest, HeaderWithoutRequiredColumnIsInvalidArgumentNamingIt) {
  CameraJobOptions o;
  o.detections_path =
      WriteFile("a.csv", "geographical_location_oid,video_camera_oid,detection_oid,item_name\n"
                         "1,1,1,car\n");
  o.locations_path = WriteFile("locations.csv", "geographical_location_oid,geographical_location\n"
                                                "1,A\n");
  o.output_path = TempPath("out.csv");
  auto job = CameraJob::Create(o);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("timestamp_detected"));

  const int status = RunBinary(absl::StrCat("--detections=", o.detections_path,
                                            " --locations=", o.locations_path,
                                            " --output=", o.output_path));
  if (status != -1) {
    EXPECT_EQ(status, 2);
    EXPECT_THAT(ReadFile(TempPath("bin_stderr")), HasSubstr("timestamp_detected"));
  }
}

TEST(CameraJobErrorsTest, BadOptionsAreInvalidArgumentNamingTheFlag) {
  const std::string a = WriteFile("a.csv", absl::StrCat(kHeader, "1,1,1,car,5\n"));
  const std::string b = WriteFile("b.csv", "geographical_location_oid,geographical_location\n1,A\n");
  auto create = [&](auto mutate) {
    CameraJobOptions o;
    o.detections_path = a;
    o.locations_path = b;
    o.output_path = TempPath("out.csv");
    mutate(o);
    return CameraJob::Create(o).status();
  };
  absl::Status s = create([](CameraJobOptions& o) { o.top_x = 0; });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("top_x"));
  s = create([](CameraJobOptions& o) { o.slide = absl::Seconds(1); });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("slide"));
  s = create([](CameraJobOptions& o) { o.parallelism = 0; });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("parallelism"));
}

// ---------------------------------------------------------------------------
// Windowed runs over generated data against an independent reference.

struct Rec {
  int64_t loc = 0;
  int64_t cam = 0;
  int64_t oid = 0;
  std::string item;
  int64_t ts = 0;
};

// Generated Dataset A read back with a plain split (generated names need no
// quoting), so the reference does not depend on the job's reader.
std::vector<Rec> ReadGeneratedCsv(const std::string& path) {
  std::vector<Rec> recs;
  std::vector<std::string> lines = Lines(ReadFile(path));
  EXPECT_EQ(lines.at(0) + "\n", kHeader);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    EXPECT_EQ(f.size(), 5u) << lines[i];
    if (f.size() != 5) continue;
    recs.push_back(Rec{std::stoll(f[0]), std::stoll(f[1]), std::stoll(f[2]), f[3],
                       std::stoll(f[4])});
  }
  return recs;
}

struct RefConfig {
  int64_t size_ms = 0;   // window size
  int64_t slide_ms = 0;  // == size_ms for tumbling
  int64_t lateness_ms = 0;
  int64_t out_of_orderness_ms = 0;
  int64_t records_per_watermark = 1;
  int top_x = 10;
};

struct RefResult {
  int64_t read = 0, accepted = 0, duplicates = 0, conflicts = 0, unknown = 0, late = 0;
  int64_t windows_fired = 0;
  std::vector<std::string> rows;  // every firing's rows, in firing order
  // Final rows per (end, start, loc): the last firing's.
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<std::string>> final_rows;
  std::vector<std::pair<int64_t, std::string>> late_lines;  // (input index, raw)
};

// The job's semantics at parallelism 1, spelled out with plain containers:
// dedup keep-first by detection_oid in input order; inner join; windows per
// Flink's assigners; watermark = max_ts - d - 1 emitted after every N records
// (it applies to the records after it); a window fires when the watermark
// reaches its max_timestamp (end - 1) and again for each record it accepts
// after that; a record is late when every one of its windows has
// max_timestamp + lateness <= watermark; state is purged at that time.
RefResult Reference(const std::vector<Rec>& recs, const std::map<int64_t, std::string>& names,
                    const RefConfig& c) {
  using Window = std::pair<int64_t, int64_t>;  // [start, end)
  using Key = std::tuple<int64_t, int64_t, int64_t>;  // (end, start, loc)
  struct WindowState {
    std::map<std::string, int64_t> counts;
  };
  RefResult r;
  std::map<int64_t, Rec> first;  // by detection_oid
  std::map<Key, WindowState> open;
  int64_t wm = std::numeric_limits<int64_t>::min();
  int64_t max_ts = std::numeric_limits<int64_t>::min() + c.out_of_orderness_ms + 1;

  auto fire = [&](const Key& key, const WindowState& w) {
    ++r.windows_fired;
    std::vector<std::pair<int64_t, std::string>> ranked;  // (-count, item)
    for (const auto& [item, n] : w.counts) ranked.emplace_back(-n, item);
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::string> rows;
    const auto [end, start, loc] = key;
    for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(c.top_x); ++i) {
      rows.push_back(absl::StrCat(start, ",", end, ",", loc, ",", Csv(names.at(loc)), ",", i + 1,
                                  ",", Csv(ranked[i].second), ",", -ranked[i].first));
    }
    r.rows.insert(r.rows.end(), rows.begin(), rows.end());
    r.final_rows[key] = rows;
  };
  auto windows_of = [&](int64_t ts) {
    std::vector<Window> ws;
    int64_t rem = ts % c.slide_ms;
    int64_t last = rem < 0 ? ts - (rem + c.slide_ms) : ts - rem;
    for (int64_t s = last; s > ts - c.size_ms; s -= c.slide_ms) ws.emplace_back(s, s + c.size_ms);
    return ws;
  };
  auto advance = [&](int64_t new_wm) {
    // Fire windows whose max_timestamp is in (wm, new_wm], then purge.
    for (auto& [key, w] : open) {
      const int64_t max_ts_w = std::get<0>(key) - 1;
      if (max_ts_w > wm && max_ts_w <= new_wm) fire(key, w);
    }
    wm = new_wm;
    for (auto it = open.begin(); it != open.end();) {
      const int64_t cleanup = std::get<0>(it->first) - 1 + c.lateness_ms;
      it = cleanup <= wm ? open.erase(it) : std::next(it);
    }
  };

  for (size_t i = 0; i < recs.size(); ++i) {
    const Rec& rec = recs[i];
    ++r.read;
    auto [it, inserted] = first.emplace(rec.oid, rec);
    if (!inserted) {
      ++r.duplicates;
      const Rec& f = it->second;
      if (f.loc != rec.loc || f.cam != rec.cam || f.item != rec.item || f.ts != rec.ts) {
        ++r.conflicts;
      }
    } else if (names.count(rec.loc) == 0) {
      ++r.unknown;
    } else {
      bool accepted = false;
      for (const Window& win : windows_of(rec.ts)) {
        const int64_t max_ts_w = win.second - 1;
        if (max_ts_w + c.lateness_ms <= wm) continue;  // a late window takes nothing
        accepted = true;
        const Key key{win.second, win.first, rec.loc};
        WindowState& w = open[key];
        ++w.counts[rec.item];
        if (max_ts_w <= wm) fire(key, w);  // already fired: fire again, updated
      }
      if (accepted) {
        ++r.accepted;
      } else {
        ++r.late;
        r.late_lines.emplace_back(static_cast<int64_t>(i),
                                  absl::StrCat(rec.loc, ",", rec.cam, ",", rec.oid, ",",
                                               rec.item, ",", rec.ts));
      }
    }
    max_ts = std::max(max_ts, rec.ts);
    if ((i + 1) % c.records_per_watermark == 0) {
      const int64_t next = max_ts - c.out_of_orderness_ms - 1;
      if (next > wm) advance(next);
    }
  }
  advance(std::numeric_limits<int64_t>::max());
  return r;
}

// Final-firing output in the job's file order (window end, start, location,
// rank), header first.
std::string ReferenceFinalCsv(const RefResult& r) {
  std::string out = kOutputHeader;
  for (const auto& [key, rows] : r.final_rows) {
    for (const std::string& row : rows) absl::StrAppend(&out, row, "\n");
  }
  return out;
}

// The job's output reduced to the last result per (window, location): each
// firing of a window emits ranks 1..n with n never shrinking, and a later
// firing's rows follow the earlier's, so the last row per rank wins.
std::string LastResultPerWindow(const std::string& output) {
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, std::string> last;
  std::vector<std::string> lines = Lines(output);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    // Generated names contain no commas: fields are positional.
    EXPECT_EQ(f.size(), 7u) << lines[i];
    if (f.size() != 7) continue;
    last[{std::stoll(f[1]), std::stoll(f[0]), std::stoll(f[2]), std::stoll(f[4])}] = lines[i];
  }
  std::string out = lines.empty() ? "" : lines[0] + "\n";
  for (const auto& [key, line] : last) absl::StrAppend(&out, line, "\n");
  return out;
}

std::vector<std::string> SortedRows(std::vector<std::string> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

class GeneratedDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    generator_.count = 50'000;
    generator_.num_locations = 8;
    generator_.num_items = 30;
    generator_.duplicate_rate = 0.05;
    generator_.conflict_rate = 0.3;
    generator_.out_of_order = absl::Seconds(6);
    generator_.retry_delay = absl::Seconds(2);
    generator_.events_per_second_event_time = 500;  // 100 s of event time
    generator_.seed = 2024;
    detections_ = TempPath("a.csv");
    ASSERT_THAT(WriteDetectionsCsv(generator_, detections_, TimestampUnit::kMilliseconds), IsOk());
    // Location 3 is missing from Dataset B: its detections are join misses.
    std::vector<Location> locations = DetectionGenerator(generator_).Locations();
    std::erase_if(locations, [](const Location& l) { return l.geographical_location_oid == 3; });
    for (const Location& l : locations) names_[l.geographical_location_oid] = l.geographical_location;
    locations_ = TempPath("b.csv");
    ASSERT_THAT(WriteLocationsCsv(locations, locations_), IsOk());
    recs_ = ReadGeneratedCsv(detections_);
    ASSERT_EQ(recs_.size(), 50'000u);
  }

  CameraJobOptions Options(const RefConfig& c) const {
    CameraJobOptions o;
    o.detections_path = detections_;
    o.locations_path = locations_;
    o.timestamp_unit = TimestampUnit::kMilliseconds;
    o.top_x = c.top_x;
    o.window = absl::Milliseconds(c.size_ms);
    o.slide = c.slide_ms == c.size_ms ? absl::ZeroDuration() : absl::Milliseconds(c.slide_ms);
    o.allowed_lateness = absl::Milliseconds(c.lateness_ms);
    o.out_of_orderness = absl::Milliseconds(c.out_of_orderness_ms);
    o.records_per_watermark = c.records_per_watermark;
    return o;
  }

  // `exact_rows`: also the number of output rows, which with late firings
  // depends on the order of records between two watermarks (see below).
  void ExpectSummaryMatches(const CameraJobSummary& s, const RefResult& r,
                            bool exact_rows = true) {
    EXPECT_EQ(s.read, r.read) << s.ToString();
    EXPECT_EQ(s.accepted, r.accepted) << s.ToString();
    EXPECT_EQ(s.duplicates, r.duplicates) << s.ToString();
    EXPECT_EQ(s.conflicts, r.conflicts) << s.ToString();
    EXPECT_EQ(s.malformed, 0) << s.ToString();
    EXPECT_EQ(s.unknown_location, r.unknown) << s.ToString();
    EXPECT_EQ(s.late, r.late) << s.ToString();
    EXPECT_EQ(s.windows_fired, r.windows_fired) << s.ToString();
    if (exact_rows) {
      EXPECT_EQ(s.output_rows, static_cast<int64_t>(r.rows.size())) << s.ToString();
    }
    ExpectCountsAddUp(s);
  }

  // The data must exercise what the reference models.
  void ExpectInteresting(const RefResult& r) {
    EXPECT_GT(r.duplicates, 1000);
    EXPECT_GT(r.conflicts, 100);
    EXPECT_GT(r.unknown, 100);
    EXPECT_GT(r.late, 100);
  }

  // Late records in the dead letters: line numbers and raw lines, in order.
  void ExpectLateDeadLetters(const std::string& dead_letters, const RefResult& r) {
    std::vector<std::string> late;
    for (const std::string& line : Lines(dead_letters)) {
      if (line.find(",late: ") != std::string::npos) late.push_back(line);
    }
    std::vector<std::string> expected;
    for (const auto& [index, raw] : r.late_lines) {
      const int64_t ts = std::stoll(raw.substr(raw.rfind(',') + 1));
      expected.push_back(absl::StrCat(
          Csv(detections_), ",", index + 2, ",",
          Csv(absl::StrCat("late: timestamp_detected ", ts,
                           " ms is behind the watermark beyond the allowed lateness")),
          ",", Csv(raw)));
    }
    EXPECT_EQ(late, expected);
  }

  GeneratorOptions generator_;
  std::string detections_;
  std::string locations_;
  std::map<int64_t, std::string> names_;
  std::vector<Rec> recs_;
};

TEST_F(GeneratedDataTest, TumblingWindowsMatchReference) {
  const RefConfig c{.size_ms = 10'000, .slide_ms = 10'000, .lateness_ms = 0,
                    .out_of_orderness_ms = 1'000, .records_per_watermark = 100, .top_x = 5};
  const RefResult ref = Reference(recs_, names_, c);
  ExpectInteresting(ref);
  std::string p1_output;
  for (int p : {1, 2}) {
    SCOPED_TRACE(p);
    CameraJobOptions o = Options(c);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    EXPECT_EQ(run.output, ReferenceFinalCsv(ref));
    ExpectSummaryMatches(run.summary, ref);
    ExpectLateDeadLetters(run.dead_letters, ref);
    if (p == 1) p1_output = run.output;
    EXPECT_EQ(run.output, p1_output);
  }
}

TEST_F(GeneratedDataTest, SlidingWindowsMatchReference) {
  const RefConfig c{.size_ms = 6'000, .slide_ms = 2'000, .lateness_ms = 0,
                    .out_of_orderness_ms = 500, .records_per_watermark = 50, .top_x = 4};
  const RefResult ref = Reference(recs_, names_, c);
  ExpectInteresting(ref);
  for (int p : {1, 2}) {
    SCOPED_TRACE(p);
    CameraJobOptions o = Options(c);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    EXPECT_EQ(run.output, ReferenceFinalCsv(ref));
    ExpectSummaryMatches(run.summary, ref);
    ExpectLateDeadLetters(run.dead_letters, ref);
  }
}

// With allowed lateness a late-but-allowed record fires its window again:
// the output holds every firing. At parallelism 1 records reach the window
// operator in input order, so every firing's rows (as a multiset) must match.
// At parallelism > 1 records of one location between two watermarks come
// from several upstream subtasks in an order that varies from run to run
// (Flink's too), so the intermediate late firings may differ; the last
// result per window, the number of firings and every count must not.
void CheckAllowedLatenessRun(const JobRun& run, const RefResult& ref, int parallelism) {
  EXPECT_EQ(LastResultPerWindow(run.output), ReferenceFinalCsv(ref));
  if (parallelism == 1) {
    std::vector<std::string> rows = Lines(run.output);
    ASSERT_FALSE(rows.empty());
    rows.erase(rows.begin());
    EXPECT_EQ(SortedRows(rows), SortedRows(ref.rows));
  }
}

TEST_F(GeneratedDataTest, TumblingWindowsWithAllowedLatenessMatchReference) {
  const RefConfig c{.size_ms = 10'000, .slide_ms = 10'000, .lateness_ms = 2'000,
                    .out_of_orderness_ms = 1'000, .records_per_watermark = 100, .top_x = 5};
  const RefResult ref = Reference(recs_, names_, c);
  ExpectInteresting(ref);
  ASSERT_GT(ref.windows_fired, static_cast<int64_t>(ref.final_rows.size()) + 100)
      << "expected many late firings";
  for (int p : {1, 2}) {
    SCOPED_TRACE(p);
    CameraJobOptions o = Options(c);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    CheckAllowedLatenessRun(run, ref, p);
    ExpectSummaryMatches(run.summary, ref, /*exact_rows=*/p == 1);
    ExpectLateDeadLetters(run.dead_letters, ref);
  }
}

TEST_F(GeneratedDataTest, SlidingWindowsWithAllowedLatenessMatchReference) {
  const RefConfig c{.size_ms = 6'000, .slide_ms = 2'000, .lateness_ms = 1'000,
                    .out_of_orderness_ms = 500, .records_per_watermark = 100, .top_x = 3};
  const RefResult ref = Reference(recs_, names_, c);
  ExpectInteresting(ref);
  ASSERT_GT(ref.windows_fired, static_cast<int64_t>(ref.final_rows.size()) + 100)
      << "expected many late firings";
  for (int p : {1, 2}) {
    SCOPED_TRACE(p);
    CameraJobOptions o = Options(c);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    CheckAllowedLatenessRun(run, ref, p);
    ExpectSummaryMatches(run.summary, ref, /*exact_rows=*/p == 1);
    ExpectLateDeadLetters(run.dead_letters, ref);
  }
}

// The global window (the batch answer) against the reference: no lateness.
TEST_F(GeneratedDataTest, GlobalWindowMatchesReference) {
  std::map<int64_t, std::map<std::string, int64_t>> counts;
  std::set<int64_t> seen;
  int64_t accepted = 0;
  for (const Rec& rec : recs_) {
    if (!seen.insert(rec.oid).second || names_.count(rec.loc) == 0) continue;
    ++counts[rec.loc][rec.item];
    ++accepted;
  }
  std::string expected = kOutputHeader;
  for (const auto& [loc, items] : counts) {
    std::vector<std::pair<int64_t, std::string>> ranked;
    for (const auto& [item, n] : items) ranked.emplace_back(-n, item);
    std::sort(ranked.begin(), ranked.end());
    for (size_t i = 0; i < ranked.size() && i < 10; ++i) {
      absl::StrAppend(&expected, ",,", loc, ",", Csv(names_.at(loc)), ",", i + 1, ",",
                      ranked[i].second, ",", -ranked[i].first, "\n");
    }
  }
  CameraJobOptions o;
  o.detections_path = detections_;
  o.locations_path = locations_;
  o.parallelism = 2;
  const JobRun run = RunJob(o, "global");
  EXPECT_EQ(run.output, expected);
  EXPECT_EQ(run.summary.accepted, accepted);
  EXPECT_EQ(run.summary.late, 0);
  ExpectCountsAddUp(run.summary);
}

// JSON Lines input with the same records gives the same result, and the same
// dead letters up to the source name and line numbers (no header line).
TEST_F(GeneratedDataTest, JsonLinesGivesTheSameResultAsCsv) {
  std::string jsonl;
  for (const Rec& r : recs_) {
    absl::StrAppend(&jsonl, "{\"geographical_location_oid\":", r.loc,
                    ",\"video_camera_oid\":", r.cam, ",\"detection_oid\":", r.oid,
                    ",\"item_name\":\"", r.item, "\",\"timestamp_detected\":", r.ts, "}\n");
  }
  const std::string jsonl_path = WriteFile("a.jsonl", jsonl);
  const RefConfig c{.size_ms = 10'000, .slide_ms = 10'000, .lateness_ms = 0,
                    .out_of_orderness_ms = 1'000, .records_per_watermark = 100, .top_x = 5};
  CameraJobOptions o = Options(c);
  const JobRun csv = RunJob(o, "csv");
  o.detections_path = jsonl_path;
  const JobRun json = RunJob(o, "jsonl");
  EXPECT_EQ(json.output, csv.output);
  EXPECT_EQ(json.summary.read, csv.summary.read);
  EXPECT_EQ(json.summary.accepted, csv.summary.accepted);
  EXPECT_EQ(json.summary.duplicates, csv.summary.duplicates);
  EXPECT_EQ(json.summary.unknown_location, csv.summary.unknown_location);
  EXPECT_EQ(json.summary.late, csv.summary.late);
  EXPECT_GT(json.summary.late, 0);

  // Rewrite the CSV run's dead letters as the JSONL run must have them.
  std::string expected_dead = kDeadLetterHeader;
  std::vector<std::string> lines = Lines(csv.dead_letters);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string prefix = Csv(detections_) + ",";
    ASSERT_EQ(lines[i].rfind(prefix, 0), 0u) << lines[i];
    const std::string rest = lines[i].substr(prefix.size());
    const size_t comma = rest.find(',');
    absl::StrAppend(&expected_dead, Csv(jsonl_path), ",", std::stoll(rest.substr(0, comma)) - 1,
                    rest.substr(comma), "\n");
  }
  EXPECT_EQ(json.dead_letters, expected_dead);
}

// ---------------------------------------------------------------------------
// Determinism: every kind of record at parallelism 1, 2 and 4.

TEST(CameraJobDeterminismTest, ByteIdenticalFilesAtParallelism124) {
  GeneratorOptions g;
  g.count = 30'000;
  g.num_locations = 12;
  g.num_items = 40;
  g.duplicate_rate = 0.05;
  g.conflict_rate = 0.5;
  g.out_of_order = absl::Seconds(8);
  g.events_per_second_event_time = 300;
  g.seed = 99;
  const std::string generated = TempPath("gen.csv");
  ASSERT_THAT(WriteDetectionsCsv(g, generated, TimestampUnit::kMilliseconds), IsOk());
  // Sprinkle malformed lines between the generated ones.
  std::vector<std::string> lines = Lines(ReadFile(generated));
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StrAppend(&text, lines[i], "\n");
    if (i > 0 && i % 997 == 0) absl::StrAppend(&text, "1,2,x", i, ",car,5\n");
    if (i > 0 && i % 1999 == 0) absl::StrAppend(&text, "1,2,3\n");
  }
  const std::string detections = WriteFile("a.csv", text);
  std::vector<Location> locations = DetectionGenerator(g).Locations();
  std::erase_if(locations, [](const Location& l) { return l.geographical_location_oid % 5 == 0; });
  const std::string locations_path = TempPath("b.csv");
  ASSERT_THAT(WriteLocationsCsv(locations, locations_path), IsOk());

  CameraJobOptions o;
  o.detections_path = detections;
  o.locations_path = locations_path;
  o.window = absl::Seconds(10);
  o.slide = absl::Seconds(5);
  o.out_of_orderness = absl::Seconds(1);
  o.records_per_watermark = 64;
  o.top_x = 3;
  JobRun base;
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE(p);
    o.parallelism = p;
    const JobRun run = RunJob(o, absl::StrCat("p", p));
    EXPECT_GT(run.summary.malformed, 0);
    EXPECT_GT(run.summary.unknown_location, 0);
    EXPECT_GT(run.summary.late, 0);
    EXPECT_GT(run.summary.conflicts, 0);
    ExpectCountsAddUp(run.summary);
    if (p == 1) {
      base = run;
      continue;
    }
    EXPECT_TRUE(run.output == base.output) << "output differs from parallelism 1";
    EXPECT_TRUE(run.dead_letters == base.dead_letters) << "dead letters differ";
    EXPECT_EQ(run.summary.late, base.summary.late);
    EXPECT_EQ(run.summary.accepted, base.summary.accepted);
  }
}

}  // namespace
}  // namespace camera
