// The code examples in the public headers' comments, verbatim, compiled and
// run. Each header example (the `//   ` lines after `// Example:`) must appear
// here line for line (each line trimmed): the ctest header_examples_in_sync
// (check_header_examples.cmake) fails otherwise, naming the header and line.
// So an example that drifts from the API fails to compile here, and an example
// edited without updating this file fails the sync test.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "brook/brook.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/csv_format.h"
#include "brook/connectors/dead_letter.h"
#include "brook/connectors/file_source.h"
#include "brook/connectors/row_schema.h"
#include "brook/connectors/split_dead_letters.h"
#include "brook/connectors/text_line_format.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/lookup_join.h"
#include "brook/operators/top_k.h"
#include "brook/testing/fault_injection_file_system.h"
#include "brook/testing/status_matchers.h"
#include "brook/testing/test_harness.h"
#include "brook/web/http_server.h"
#include "brook/web/prometheus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/http_test_util.h"

// The examples below are verbatim copies of the headers' (see the top of the
// file), laid out as there: clang-format must not reflow them.
// clang-format off

namespace {

using ::brook::connectors::CsvFormat;
using ::brook::connectors::DeadLetter;
using ::brook::connectors::DeadLetterCsvSinkOptions;
using ::brook::connectors::FileSinkMode;
using ::brook::connectors::FileSource;
using ::brook::connectors::Int64Field;
using ::brook::connectors::MakeRowSchema;
using ::brook::connectors::StringField;
using ::brook::connectors::TransactionalFileSink;
using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

struct Event {
  int64_t user_id = 0;
  int64_t ts_ms = 0;
};
struct Count {
  int64_t user_id = 0;
  int64_t count = 0;
  friend bool operator==(const Count&, const Count&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Count& c) {
    return os << "{" << c.user_id << ", " << c.count << "}";
  }
};
struct MyEvent {
  int64_t id = 0;
  std::string name;
};

std::string TempPath(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/header_examples";
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}
std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// --- brook/serialization.h ---
template <>
struct brook::TypeSerializer<MyEvent> {
  static void Serialize(const MyEvent& e, brook::DataOutputView& out) {
    out.WriteInt64(e.id);
    out.WriteString(e.name);
  }
  static absl::Status Deserialize(brook::DataInputView& in, MyEvent* e) {
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&e->id));
    return in.ReadString(&e->name);
  }
};

namespace {

TEST(DocsSerialization, TypeSerializerSpecialisationRoundTrips) {
  const std::string bytes = brook::SerializeToString(MyEvent{7, "seven"});
  MyEvent e;
  ASSERT_THAT(brook::DeserializeFromString(bytes, &e), IsOk());
  EXPECT_EQ(e.id, 7);
  EXPECT_EQ(e.name, "seven");
}

// --- brook/status.h ---
struct Table {
  std::vector<std::string> rows;
};
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path != "t.txt") return absl::NotFoundError(path);
  return std::string("a\nb");
}
absl::Status Validate(const std::string& text) {
  return text.empty() ? absl::InvalidArgumentError("empty") : absl::OkStatus();
}
Table Parse(const std::string& text) {
  Table t;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) t.rows.push_back(line);
  return t;
}

absl::StatusOr<Table> Load(const std::string& path) {
  BROOK_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  BROOK_RETURN_IF_ERROR(Validate(text));
  return Parse(text);
}

TEST(DocsStatus, MacrosPropagateErrorsAndValues) {
  absl::StatusOr<Table> t = Load("t.txt");
  ASSERT_THAT(t, IsOk());
  EXPECT_THAT(t->rows, ElementsAre("a", "b"));
  EXPECT_THAT(Load("u.txt"), StatusIs(absl::StatusCode::kNotFound, "u.txt"));
}

// --- brook/state.h ---
class CountPerKey : public brook::KeyedProcessFunction<int64_t, Event, Count> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(count_,
                           ctx.GetState(brook::ValueStateDescriptor<int64_t>("count")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Event& e, Context& ctx,
                              brook::Collector<Count>& out) override {
    const int64_t* c = count_.Get();
    count_.Update(c ? *c + 1 : 1);
    out.Collect({ctx.GetCurrentKey(), *count_.Get()});
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> count_;
};

// --- brook/testing/test_harness.h (with state.h's CountPerKey) ---
TEST(DocsTestHarness, DrivesCountPerKey) {
  brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> h(
      CountPerKey(), [](const Event& e) { return e.user_id; });
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Event{.user_id = 1, .ts_ms = 10}, /*timestamp_ms=*/10), IsOk());
  ASSERT_THAT(h.ProcessWatermark(100), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Count{1, 1}));
  EXPECT_THAT(h.ExtractWatermarks(), ElementsAre(100));
}

TEST(DocsTestHarness, OutputSequenceKeepsWatermarksInOrder) {
  brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> h(
      CountPerKey(), [](const Event& e) { return e.user_id; });
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Event{.user_id = 1, .ts_ms = 99}, 99), IsOk());
  ASSERT_THAT(h.ProcessWatermark(100), IsOk());
  using E = brook::testing::OutputElement<Count>;
  EXPECT_THAT(h.ExtractOutputSequence(),
              ElementsAre(E::Record(Count{1, 1}, /*timestamp_ms=*/99), E::Watermark(100)));
}

TEST(DocsTestHarness, SnapshotRestoresAtAnotherParallelism) {
  auto key = [](const Event& e) { return e.user_id; };
  brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> h(CountPerKey(), key);
  ASSERT_THAT(h.Open(), IsOk());
  for (int64_t user = 0; user < 20; ++user) {
    ASSERT_THAT(h.ProcessElement(Event{.user_id = user, .ts_ms = 1}, 1), IsOk());
  }
  absl::StatusOr<brook::OperatorSubtaskState> snap = h.Snapshot(1);  // P = 1
  ASSERT_THAT(snap, IsOk());
  brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> a(
      CountPerKey(), key, {.parallelism = 2});  // subtask 0 of 2
  ASSERT_THAT(a.RestoreFrom({*snap}), IsOk());
  ASSERT_THAT(a.Open(), IsOk());

  brook::testing::KeyedProcessFunctionTestHarness<CountPerKey> b(
      CountPerKey(), key, {.parallelism = 2, .subtask_index = 1});
  ASSERT_THAT(b.RestoreFrom({*snap}), IsOk());
  ASSERT_THAT(b.Open(), IsOk());
  // Every key's count lands in exactly one of the two subtasks.
  EXPECT_GT(a.NumStateEntries(), 0);
  EXPECT_GT(b.NumStateEntries(), 0);
  EXPECT_EQ(a.NumStateEntries() + b.NumStateEntries(), 20);
}

// --- brook/functions.h ---
class CountAll : public brook::ProcessFunction<Event, Event>,
                 public brook::CheckpointedFunction {
 public:
  absl::Status ProcessElement(const Event& e, Context&,
                              brook::Collector<Event>& out) override {
    ++count_;
    out.Collect(e);
    return absl::OkStatus();
  }
  absl::Status SnapshotState(int64_t, brook::DataOutputView& out) override {
    out.WriteInt64(count_);
    return absl::OkStatus();
  }
  absl::Status InitializeState(const std::vector<std::string>& states) override {
    for (const std::string& s : states) {  // sum over the old subtasks
      int64_t c = 0;
      BROOK_RETURN_IF_ERROR(brook::DeserializeFromString(s, &c));
      count_ += c;
    }
    return absl::OkStatus();
  }
  int64_t count() const { return count_; }

 private:
  int64_t count_ = 0;
};

TEST(DocsFunctions, CheckpointedFunctionSumsOldSubtasksStates) {
  CountAll f;
  ASSERT_THAT(f.InitializeState({brook::SerializeToString<int64_t>(2),
                                 brook::SerializeToString<int64_t>(3)}),
              IsOk());
  EXPECT_EQ(f.count(), 5);
  std::string bytes;
  brook::DataOutputView out(&bytes);
  ASSERT_THAT(f.SnapshotState(1, out), IsOk());
  int64_t c = 0;
  ASSERT_THAT(brook::DeserializeFromString(bytes, &c), IsOk());
  EXPECT_EQ(c, 5);
}

std::vector<Event> SomeEvents() {
  return {{.user_id = 1, .ts_ms = 1'000},
          {.user_id = 2, .ts_ms = 2'000},
          {.user_id = 1, .ts_ms = 3'000},
          {.user_id = 1, .ts_ms = 61'000}};
}

// --- brook/stream.h (with state.h's CountPerKey) ---
TEST(DocsStream, KeyedJobRuns) {
  const std::vector<Event> events = SomeEvents();
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<Count>>();
  env.FromCollection(events,
                     brook::WatermarkStrategy<Event>::ForMonotonousTimestamps()
                         .WithTimestampAssigner([](const Event& e) { return e.ts_ms; }))
      .KeyBy([](const Event& e) { return e.user_id; })
      .Process(CountPerKey(), "count")
      .SinkTo(sink);
  absl::Status s = env.Execute("count-job");
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT(sink->values(),
              UnorderedElementsAre(Count{1, 1}, Count{1, 2}, Count{1, 3}, Count{2, 1}));
}

// --- brook/watermark_strategy.h ---
TEST(DocsWatermarkStrategy, BoundedOutOfOrdernessJobRuns) {
  auto strategy = brook::WatermarkStrategy<Event>::ForBoundedOutOfOrderness(
                      absl::Seconds(5))
                      .WithTimestampAssigner([](const Event& e) { return e.ts_ms; })
                      .WithIdleness(absl::Minutes(1));
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  auto sink = std::make_shared<brook::CollectSink<Event>>();
  env.FromCollection(SomeEvents(), strategy).SinkTo(sink);
  ASSERT_THAT(env.Execute("watermarks"), IsOk());
  EXPECT_THAT(sink->values(), SizeIs(4));
}

// --- brook/window.h ---
struct CountPerWindow {
  using Accumulator = int64_t;
  using OutputType = std::pair<int64_t, int64_t>;  // (key, count)
  Accumulator CreateAccumulator() const { return 0; }
  void Add(const Event& e, Accumulator& acc) { ++acc; }
  void GetResult(const Accumulator& acc, const brook::TimeWindow& w,
                 const int64_t& key, std::vector<OutputType>& out) {
    out.push_back({key, acc});
  }
};

TEST(DocsWindow, TumblingWindowCountsWithLateSideOutput) {
  const std::vector<Event> events = SomeEvents();
  auto strategy = brook::WatermarkStrategy<Event>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const Event& e) { return e.ts_ms; });
  auto late_sink = std::make_shared<brook::CollectSink<Event>>();
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  brook::OutputTag<Event> late("late-events");
  auto counts = env.FromCollection(events, strategy)
      .KeyBy(&Event::user_id)
      .Window(brook::TumblingEventTimeWindows::Of(absl::Minutes(1)))
      .AllowedLateness(absl::Seconds(30))
      .SideOutputLateData(late)
      .Aggregate(CountPerWindow(), "count-per-minute");
  counts.GetSideOutput(late).SinkTo(late_sink);
  auto count_sink = std::make_shared<brook::CollectSink<std::pair<int64_t, int64_t>>>();
  counts.SinkTo(count_sink);
  ASSERT_THAT(env.Execute("windows"), IsOk());
  EXPECT_THAT(count_sink->values(), UnorderedElementsAre(Pair(1, 2), Pair(2, 1), Pair(1, 1)));
  EXPECT_THAT(late_sink->values(), IsEmpty());
}

// --- brook/job_listener.h ---
TEST(DocsJobListener, ListenerIsRegistered) {
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  env.FromCollection(SomeEvents()).SinkTo(std::make_shared<brook::CollectSink<Event>>());
  class LogListener : public brook::JobListener {
   public:
    void OnCheckpointCompleted(const brook::CompletedCheckpoint& c) override {
      std::cerr << "checkpoint " << c.checkpoint_id << " at " << c.path << "\n";
    }
  };
  env.RegisterJobListener(std::make_shared<LogListener>());
  absl::Status s = env.Execute("job");
  EXPECT_THAT(s, IsOk());
}

// --- brook/testing/status_matchers.h ---
absl::StatusOr<int64_t> ParseCount(const std::string& text) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n)) {
    return absl::InvalidArgumentError("not a count: \"" + text + "\"");
  }
  return n;
}

TEST(DocsFaultInjectionFileSystem, FailedMetadataFsyncLeavesNoCheckpoint) {
  using Fs = brook::testing::FaultInjectionFileSystem;
  Fs fs;
  fs.InjectFault(
      {.op = Fs::Op::kSync, .path = "_metadata.inprogress", .fault = Fs::Fault::kIoError});
  auto storage = brook::NewLocalDirectoryCheckpointStorage("/ckpt", &fs);
  ASSERT_THAT(storage, IsOk());
  brook::CheckpointMetadata metadata;
  metadata.checkpoint_id = 1;
  EXPECT_THAT((*storage)->CompleteCheckpoint(metadata, /*retained=*/3).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Input/output error")));
  fs.PowerCut();  // what was not fsynced is gone
  auto latest = (*storage)->LoadLatest(nullptr);
  ASSERT_THAT(latest, IsOk());
  EXPECT_FALSE(latest->has_value());  // no checkpoint to restore
}

TEST(DocsStatusMatchers, MatchersMatch) {
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  env.FromCollection(SomeEvents()).SinkTo(std::make_shared<brook::CollectSink<Event>>());
  ASSERT_THAT(env.Execute("job"), brook::testing::IsOk());
  EXPECT_THAT(ParseCount("12"), IsOkAndHolds(12));
  EXPECT_THAT(ParseCount("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"x\"")));
}

// --- brook/operators: deduplicate.h, lookup_join.h, top_k.h ---
struct Detection {
  int64_t detection_oid = 0;
  int64_t geographical_location_oid = 0;
  std::string item_name;
  int64_t timestamp_detected_ms = 0;
};
struct Location {
  int64_t geographical_location_oid = 0;
  std::string name;
};
struct Enriched {
  Detection detection;
  std::string location_name;
};
struct Sighting {
  int64_t location_oid = 0;
  std::string item_name;
  int64_t ts_ms = 0;
};

std::vector<Detection> SomeDetections() {
  return {{1, 10, "cat", 1'000}, {1, 10, "cat", 1'000}, {2, 10, "dog", 2'000},
          {2, 10, "cow", 2'000}, {3, 99, "owl", 3'000}};
}
brook::DataStream<Detection> DetectionStream(brook::StreamExecutionEnvironment& env) {
  return env.FromCollection(SomeDetections(),
                            brook::WatermarkStrategy<Detection>::ForMonotonousTimestamps()
                                .WithTimestampAssigner([](const Detection& d) {
                                  return d.timestamp_detected_ms;
                                }));
}

TEST(DocsDeduplicate, DuplicatesGoToTheSideOutput) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto detections = DetectionStream(env);
  auto dead_letters = std::make_shared<brook::CollectSink<Detection>>();
  brook::OutputTag<Detection> dups("duplicate-detections");
  auto unique = detections
      .KeyBy(&Detection::detection_oid)
      .Process(brook::ops::Deduplicate<Detection>({
                   .retention = absl::Hours(1),
                   .fingerprint = [](const Detection& d) {
                     return brook::ops::Fingerprinter()
                         .Add(d.item_name).Add(d.timestamp_detected_ms).value();
                   },
                   .duplicates_output = dups}),
               "dedup");
  unique.GetSideOutput(dups).SinkTo(dead_letters, "duplicates");
  auto unique_sink = std::make_shared<brook::CollectSink<Detection>>();
  unique.SinkTo(unique_sink);
  ASSERT_THAT(env.Execute("dedup"), IsOk());
  EXPECT_THAT(unique_sink->values(), SizeIs(3));
  // The exact copy and the conflicting one ("cow" for detection 2).
  EXPECT_THAT(dead_letters->values(), SizeIs(2));
}

absl::Status JoinLocations(brook::DataStream<Detection> detections,
                           std::vector<Location> location_rows,
                           std::shared_ptr<brook::CollectSink<Enriched>> out,
                           std::shared_ptr<brook::CollectSink<brook::ops::JoinMiss<Detection>>>
                               dead_letters) {
  using LocationTable = brook::ops::LookupTable<int64_t, Location>;
  BROOK_ASSIGN_OR_RETURN(auto locations,
                         LocationTable::Create(std::move(location_rows),
                                               &Location::geographical_location_oid));
  brook::OutputTag<brook::ops::JoinMiss<Detection>> misses("unknown-locations");
  auto enriched = detections.Process(
      brook::ops::MakeLookupJoin<Detection, Enriched>(
          locations, &Detection::geographical_location_oid,
          [](const Detection& d, const Location* l) { return Enriched{d, l->name}; },
          {.misses_output = misses, .key_name = "geographical_location_oid"}),
      "join-location");
  enriched.GetSideOutput(misses).SinkTo(dead_letters, "unknown-locations");
  enriched.SinkTo(out);
  return absl::OkStatus();
}

TEST(DocsLookupJoin, MissesGoToTheSideOutput) {
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  auto out = std::make_shared<brook::CollectSink<Enriched>>();
  auto dead_letters = std::make_shared<brook::CollectSink<brook::ops::JoinMiss<Detection>>>();
  ASSERT_THAT(JoinLocations(DetectionStream(env), {{10, "gate"}}, out, dead_letters), IsOk());
  ASSERT_THAT(env.Execute("join"), IsOk());
  EXPECT_THAT(out->values(), SizeIs(4));
  ASSERT_THAT(dead_letters->values(), SizeIs(1));
  EXPECT_EQ(dead_letters->values()[0].reason, "unknown geographical_location_oid 99");
}

std::vector<Sighting> SomeSightings() {
  return {{1, "cat", 1'000}, {1, "dog", 2'000}, {1, "cat", 3'000}, {2, "owl", 4'000}};
}

TEST(DocsTopK, TumblingWindowTopK) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sightings = env.FromCollection(
      SomeSightings(), brook::WatermarkStrategy<Sighting>::ForMonotonousTimestamps()
                           .WithTimestampAssigner([](const Sighting& s) { return s.ts_ms; }));
  brook::OutputTag<Sighting> late("late-sightings");
  auto top = sightings
      .KeyBy(&Sighting::location_oid)
      .Window(brook::TumblingEventTimeWindows::Of(absl::Minutes(1)))
      .AllowedLateness(absl::Seconds(30))
      .SideOutputLateData(late)
      .Aggregate(brook::ops::TopK<int64_t, Sighting>(&Sighting::item_name, 10), "top-k");
  auto sink = std::make_shared<brook::CollectSink<brook::ops::RankedItem<int64_t>>>();
  top.SinkTo(sink);
  ASSERT_THAT(env.Execute("top-k"), IsOk());
  ASSERT_THAT(sink->values(), SizeIs(3));
  std::vector<std::string> ranked;
  for (const auto& r : sink->values()) {
    ranked.push_back(absl::StrCat(r.partition, ":", r.rank, ":", r.item, ":", r.count));
  }
  EXPECT_THAT(ranked, UnorderedElementsAre("1:1:cat:2", "1:2:dog:1", "2:1:owl:1"));
}

TEST(DocsTopK, GlobalWindowTopK) {
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  auto sightings = env.FromCollection(SomeSightings());
  auto top = sightings.KeyBy(&Sighting::location_oid)
      .Process(brook::ops::WindowTopK<int64_t, Sighting>(
                   &Sighting::item_name, 10,
                   {.assigner = brook::GlobalWindows::Create()}), "top-k");
  auto sink = std::make_shared<brook::CollectSink<brook::ops::RankedItem<int64_t>>>();
  top.SinkTo(sink);
  ASSERT_THAT(env.Execute("top-k"), IsOk());
  EXPECT_THAT(sink->values(), SizeIs(3));
}

// --- brook/connectors: csv.h, row_schema.h, split_dead_letters.h ---
TEST(DocsCsv, DeadLetterCsvSink) {
  const std::string path = TempPath("dead_letters.csv");
  auto sink = TransactionalFileSink<DeadLetter>::Open(
      path, FileSinkMode::kTransactional, DeadLetterCsvSinkOptions());
  ASSERT_THAT(sink, IsOk());
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  env.FromCollection(std::vector<DeadLetter>{{"x.csv", 3, "id: empty", ",Oslo"}}).SinkTo(*sink);
  ASSERT_THAT(env.Execute("dead-letters"), IsOk());
  EXPECT_THAT(ReadAll(path), HasSubstr("x.csv,3,id: empty,\",Oslo\""));
}

TEST(DocsRowSchema, CsvRowsAndRejections) {
  struct Trip { int64_t id = 0; std::string city; int64_t line = 0; };
  auto schema = MakeRowSchema<Trip>(
                    Int64Field("id", &Trip::id),
                    StringField("city", &Trip::city, {.allow_empty = false}))
                    .WithLineNumber(&Trip::line);
  const std::string path = TempPath("trips.csv");
  std::ofstream(path) << "id,city\n1,Oslo\n2,\n";
  auto source = FileSource<Trip>::Open(path, CsvFormat(schema));
  ASSERT_THAT(source, IsOk());
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  auto sink = std::make_shared<brook::CollectSink<std::variant<Trip, DeadLetter>>>();
  env.FromSource<std::variant<Trip, DeadLetter>>(
         *source, brook::WatermarkStrategy<std::variant<Trip, DeadLetter>>::NoWatermarks(),
         "trips")
      .SinkTo(sink);
  ASSERT_THAT(env.Execute("trips"), IsOk());
  const std::vector<std::variant<Trip, DeadLetter>> rows = sink->values();
  ASSERT_THAT(rows, SizeIs(2));
  const Trip& trip = std::get<Trip>(rows[0]);
  EXPECT_EQ(trip.id, 1);
  EXPECT_EQ(trip.city, "Oslo");
  EXPECT_EQ(trip.line, 2);
  EXPECT_EQ(std::get<DeadLetter>(rows[1]).reason, "city: empty");
}

TEST(DocsSplitDeadLetters, BadLinesGoToTheSideOutput) {
  using Line = std::string;
  const std::string path = TempPath("lines.txt");
  std::ofstream(path) << "good\n\xff\xfe bad\nalso good\n";
  auto opened = FileSource<Line>::Open(path, brook::connectors::TextLineFormat());
  ASSERT_THAT(opened, IsOk());
  auto source = *opened;
  auto strategy = brook::WatermarkStrategy<std::variant<Line, DeadLetter>>::NoWatermarks();
  auto dead_letter_sink = std::make_shared<brook::CollectSink<DeadLetter>>();
  auto line_sink = std::make_shared<brook::CollectSink<Line>>();
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  const brook::OutputTag<DeadLetter> bad("bad-lines");
  auto lines = env.FromSource<std::variant<Line, DeadLetter>>(source, strategy, "lines")
                   .Process(brook::connectors::SplitDeadLetters<Line>(bad), "parse");
  lines.GetSideOutput(bad).SinkTo(dead_letter_sink, "dead-letters");
  lines.SinkTo(line_sink);
  ASSERT_THAT(env.Execute("lines"), IsOk());
  EXPECT_THAT(line_sink->values(), ElementsAre("good", "also good"));
  ASSERT_THAT(dead_letter_sink->values(), SizeIs(1));
  EXPECT_EQ(dead_letter_sink->values()[0].line_number, 2);
}

// --- brook/web: prometheus.h, http_server.h ---
// Serves env's metrics and GETs them once.
absl::Status ServeMetrics(brook::StreamExecutionEnvironment& env,
                          brook_http_test::HttpResult* result) {
  brook::web::HttpServer server({.address = "127.0.0.1", .port = 0});
  BROOK_RETURN_IF_ERROR(server.Handle("/metrics", [&](const brook::web::HttpRequest&) {
    return brook::web::HttpResponse::Text(200, brook::web::FormatPrometheusText(env.metrics()),
                                          brook::web::kPrometheusContentType);
  }));
  BROOK_RETURN_IF_ERROR(server.Start());   // server.port(): the bound port
  *result = brook_http_test::HttpGet(server.port(), "/metrics");
  server.Stop();
  return absl::OkStatus();
}

TEST(DocsWeb, MetricsTextAndServer) {
  brook::StreamExecutionEnvironment env({.parallelism = 1});
  env.FromCollection(SomeEvents()).SinkTo(std::make_shared<brook::CollectSink<Event>>());
  ASSERT_THAT(env.Execute("metrics"), IsOk());
  std::string text = brook::web::FormatPrometheusText(env.metrics());
  // serve with Content-Type brook::web::kPrometheusContentType
  EXPECT_THAT(text, HasSubstr("brook_records_in_total"));
  brook_http_test::HttpResult got;
  ASSERT_THAT(ServeMetrics(env, &got), IsOk());
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.headers["content-type"], brook::web::kPrometheusContentType);
  EXPECT_THAT(got.body, HasSubstr("brook_records_in_total"));
}

// clang-format on

}  // namespace
