// Checkpointing of the camera job's sources and sinks: a reader restored
// from a snapshot emits exactly the records that followed it; the result and
// dead-letter sinks commit in two phases.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/internal/output.h"
#include "brook/internal/source_task.h"
#include "brook/source.h"
#include "brook/watermark_strategy.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/detection_reader.h"
#include "camera_top_k/generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camera {
namespace {

namespace fs = std::filesystem;

// One emitted record, printed: detections and rejections alike, with the
// timestamp the reader gave it.
std::string Describe(const brook::StreamRecord<SourceRecord>& r) {
  if (const Event* e = std::get_if<Event>(&r.value)) {
    const Detection& d = e->detection;
    return absl::StrCat("event line=", e->line_number, " ts=", r.timestamp_ms, " ",
                        d.geographical_location_oid, ",", d.video_camera_oid, ",",
                        d.detection_oid, ",", d.item_name, ",", d.timestamp_detected_ms);
  }
  const Rejection& j = std::get<Rejection>(r.value);
  return absl::StrCat("rejection line=", j.line_number, " ts=", r.timestamp_ms, " ", j.source,
                      " ", j.reason, " [", j.raw_line, "]");
}

// Drives a SourceReader as the runtime does (PollNext between snapshots),
// capturing what it emits.
class ReaderDriver {
 public:
  explicit ReaderDriver(std::unique_ptr<brook::SourceReader<SourceRecord>> reader)
      : raw_(reader.get()),
        driver_(std::move(reader), brook::WatermarkStrategy<SourceRecord>::NoWatermarks(),
                brook::Boundedness::kBounded) {}

  absl::Status Open() {
    driver_.Setup(brook::internal::OperatorSetup{"test-job", "detections", 0, 1, 128, nullptr,
                                                 nullptr});
    driver_.SetMainOutput(&output_);
    return driver_.Open();
  }
  // Polls at most `polls` times (-1: to the end); true at the end of input.
  absl::StatusOr<bool> Poll(int polls) {
    for (int i = 0; polls < 0 || i < polls; ++i) {
      auto st = driver_.Poll();
      if (!st.ok()) return st.status();
      if (absl::Status f = driver_.FlushOutputs(); !f.ok()) return f;
      if (*st == brook::InputStatus::kEndOfInput) return true;
    }
    return false;
  }
  std::vector<std::string> Take() {
    std::vector<std::string> out;
    for (const auto& r : capture_.records) out.push_back(Describe(r));
    capture_.records.clear();
    return out;
  }
  brook::SourceReader<SourceRecord>& reader() { return *raw_; }

 private:
  struct Capture final : brook::internal::RecordConsumer<SourceRecord> {
    absl::Status ProcessBatch(std::vector<brook::StreamRecord<SourceRecord>>& batch) override {
      for (auto& r : batch) records.push_back(std::move(r));
      return absl::OkStatus();
    }
    absl::Status ProcessWatermark(int64_t) override { return absl::OkStatus(); }
    absl::Status ProcessWatermarkStatus(bool) override { return absl::OkStatus(); }
    absl::Status EndInput() override { return absl::OkStatus(); }
    std::vector<brook::StreamRecord<SourceRecord>> records;
  };
  brook::SourceReader<SourceRecord>* raw_;
  brook::internal::SourceDriver<SourceRecord> driver_;
  Capture capture_;
  brook::internal::Output<SourceRecord> output_{{&capture_}, nullptr};
};

class CameraIoCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("camera-ckpt-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // A detections CSV of `n` lines after the header, mixing records,
  // malformed lines and blank lines (deterministic in `seed`).
  std::string WriteDetections(int n, int seed) {
    const std::string path = (dir_ / absl::StrCat("detections-", seed, ".csv")).string();
    std::ofstream out(path, std::ios::binary);
    out << "geographical_location_oid,video_camera_oid,detection_oid,item_name,"
           "timestamp_detected\n";
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

  absl::StatusOr<std::unique_ptr<brook::SourceReader<SourceRecord>>> FileReader(
      const std::string& path) {
    auto reader = DetectionReader::Open(path, InputFormat::kCsv, TimestampUnit::kMilliseconds);
    if (!reader.ok()) return reader.status();
    DetectionFileSource source(*std::move(reader));
    return source.CreateReader(brook::SourceReaderContext{});
  }

  fs::path dir_;
};

TEST_F(CameraIoCheckpointTest, FileReaderRestoredAtEveryPollEmitsExactlyTheRest) {
  for (int seed : {1, 2, 3}) {
    const std::string path = WriteDetections(4500 + seed * 37, seed);
    auto full_reader = FileReader(path);
    ASSERT_TRUE(full_reader.ok()) << full_reader.status();
    ReaderDriver full(*std::move(full_reader));
    ASSERT_TRUE(full.Open().ok());
    ASSERT_TRUE(*full.Poll(-1));
    const std::vector<std::string> all = full.Take();
    ASSERT_GT(all.size(), 4000u);

    for (int polls = 0; polls <= 5; ++polls) {
      SCOPED_TRACE(absl::StrCat("seed ", seed, ", snapshot after ", polls, " polls"));
      auto first_reader = FileReader(path);
      ASSERT_TRUE(first_reader.ok());
      ReaderDriver first(*std::move(first_reader));
      ASSERT_TRUE(first.Open().ok());
      ASSERT_TRUE(first.Poll(polls).ok());
      std::vector<std::string> got = first.Take();
      auto state = first.reader().SnapshotState(7);
      ASSERT_TRUE(state.ok()) << state.status();
      // The original goes on reading: nothing it does afterwards matters.
      ASSERT_TRUE(first.Poll(1).ok());

      auto restored_reader = FileReader(path);
      ASSERT_TRUE(restored_reader.ok());
      ASSERT_TRUE((*restored_reader)->RestoreState({*state}).ok());
      ReaderDriver restored(*std::move(restored_reader));
      ASSERT_TRUE(restored.Open().ok());
      ASSERT_TRUE(*restored.Poll(-1));
      for (auto& line : restored.Take()) got.push_back(std::move(line));
      ASSERT_EQ(got.size(), all.size());
      EXPECT_EQ(got, all);
    }
  }
}

TEST_F(CameraIoCheckpointTest, FileReaderRejectsCorruptOrForeignState) {
  const std::string path = WriteDetections(3000, 4);
  auto reader = FileReader(path);
  ASSERT_TRUE(reader.ok());
  ReaderDriver driver(*std::move(reader));
  ASSERT_TRUE(driver.Open().ok());
  ASSERT_TRUE(driver.Poll(1).ok());
  auto state = driver.reader().SnapshotState(1);
  ASSERT_TRUE(state.ok());
  for (size_t n = 0; n < state->size(); ++n) {
    auto fresh = FileReader(path);
    ASSERT_TRUE(fresh.ok());
    const absl::Status s = (*fresh)->RestoreState({state->substr(0, n)});
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "prefix " << n << ": " << s;
  }
  // The same position in a shorter file does not fit it.
  const std::string small = WriteDetections(10, 5);
  auto other = FileReader(small);
  ASSERT_TRUE(other.ok());
  const absl::Status s = (*other)->RestoreState({*state});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_F(CameraIoCheckpointTest, StdinIsNotReplayable) {
  auto reader = DetectionReader::Open("-", InputFormat::kJsonLines, TimestampUnit::kMilliseconds);
  ASSERT_TRUE(reader.ok()) << reader.status();
  DetectionFileSource source(*std::move(reader));
  auto r = source.CreateReader(brook::SourceReaderContext{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->SnapshotState(1).status().code(), absl::StatusCode::kUnimplemented);
}

TEST_F(CameraIoCheckpointTest, GeneratorReaderRestoredEmitsExactlyTheRest) {
  GeneratorOptions options;
  options.count = 6000;
  options.duplicate_rate = 0.2;  // re-sends pending across the snapshot
  options.conflict_rate = 0.3;
  options.seed = 11;
  auto make = [&] {
    DetectionGeneratorSource source(options, /*rate=*/0);
    auto r = source.CreateReader(brook::SourceReaderContext{});
    EXPECT_TRUE(r.ok());
    return *std::move(r);
  };
  ReaderDriver full(make());
  ASSERT_TRUE(full.Open().ok());
  ASSERT_TRUE(*full.Poll(-1));
  const std::vector<std::string> all = full.Take();
  ASSERT_EQ(all.size(), 6000u);
  for (int polls : {0, 1, 3, 5}) {
    SCOPED_TRACE(absl::StrCat("snapshot after ", polls, " polls"));
    ReaderDriver first(make());
    ASSERT_TRUE(first.Open().ok());
    ASSERT_TRUE(first.Poll(polls).ok());
    std::vector<std::string> got = first.Take();
    auto state = first.reader().SnapshotState(1);
    ASSERT_TRUE(state.ok()) << state.status();
    auto restored_reader = make();
    ASSERT_TRUE(restored_reader->RestoreState({*state}).ok());
    ReaderDriver restored(std::move(restored_reader));
    ASSERT_TRUE(restored.Open().ok());
    ASSERT_TRUE(*restored.Poll(-1));
    for (auto& line : restored.Take()) got.push_back(std::move(line));
    EXPECT_EQ(got, all);
  }
}

TEST_F(CameraIoCheckpointTest, GeneratorStateEncodingRoundTripsAndRejectsCorruption) {
  GeneratorOptions options;
  options.count = 1000;
  options.duplicate_rate = 0.3;
  DetectionGenerator g(options);
  Detection d;
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(g.Next(d));
  const GeneratorState state = g.Snapshot();
  ASSERT_FALSE(state.pending.empty());
  const std::string bytes = EncodeGeneratorState(state);
  GeneratorState decoded;
  ASSERT_TRUE(DecodeGeneratorState(bytes, &decoded).ok());
  EXPECT_EQ(decoded, state);
  EXPECT_TRUE(g.CheckState(decoded).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    GeneratorState partial;
    EXPECT_EQ(DecodeGeneratorState(bytes.substr(0, n), &partial).code(),
              absl::StatusCode::kDataLoss)
        << "prefix " << n;
  }
  GeneratorState bad = state;
  bad.pending.front().item_index = options.num_items;  // would index past the table
  EXPECT_EQ(g.CheckState(bad).code(), absl::StatusCode::kDataLoss);
  bad = state;
  bad.emitted += 1;  // counters no longer add up
  EXPECT_EQ(g.CheckState(bad).code(), absl::StatusCode::kDataLoss);
}

// ---- sinks

std::vector<brook::StreamRecord<ResultRow>> Rows(int window, int n) {
  std::vector<brook::StreamRecord<ResultRow>> rows;
  for (int i = n; i >= 1; --i) {  // arrive out of order: the sink sorts them
    rows.push_back({0, ResultRow{false, window * 1000, (window + 1) * 1000, i % 3 + 1,
                                 static_cast<int32_t>(i), absl::StrCat("item-", i), 100 - i}});
  }
  return rows;
}

std::shared_ptr<const absl::flat_hash_map<int64_t, std::string>> Names() {
  auto names = std::make_shared<absl::flat_hash_map<int64_t, std::string>>();
  (*names)[1] = "one";
  (*names)[2] = "two, with a comma";
  return names;
}

// The sequence of sink calls both runs make; `step` picks where a run stops.
absl::Status Feed(brook::SinkWriter<ResultRow>& w, int from, int to) {
  for (int window = from; window < to; ++window) {
    auto rows = Rows(window, 4);
    BROOK_RETURN_IF_ERROR(w.Write(rows));
    // Every other window's watermark comes later: rows stay buffered.
    if (window % 2 == 1) BROOK_RETURN_IF_ERROR(w.OnWatermark(window * 1000 + 999));
  }
  return absl::OkStatus();
}

TEST_F(CameraIoCheckpointTest, ResultSinkCommitsInTwoPhasesAndRestores) {
  // Reference: the plain, non-checkpointed sink over the same calls.
  const std::string ref_path = (dir_ / "reference.csv").string();
  {
    auto out = OpenOutput(ref_path);
    ASSERT_TRUE(out.ok());
    RankedCsvSink sink(*out, Names());
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(Feed(**w, 0, 6).ok());
    ASSERT_TRUE((*w)->Flush().ok());
    EXPECT_EQ(sink.rows_written(), 24);
  }
  const std::string reference = Read(ref_path);
  ASSERT_FALSE(reference.empty());

  const std::string path = (dir_ / "out.csv").string();
  std::string state1;
  int64_t committed_1 = 0;
  {
    auto file = TransactionalAppendFile::Open(path);
    ASSERT_TRUE(file.ok());
    RankedCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)), Names());
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(Feed(**w, 0, 3).ok());  // window 2's rows are still buffered
    auto s1 = (*w)->SnapshotState(1);
    ASSERT_TRUE(s1.ok()) << s1.status();
    state1 = *s1;
    EXPECT_EQ(Read(path), "") << "pre-committed output must not be visible";
    ASSERT_TRUE(Feed(**w, 3, 5).ok());
    auto s2 = (*w)->SnapshotState(2);
    ASSERT_TRUE(s2.ok());
    ASSERT_TRUE((*w)->NotifyCheckpointComplete(1).ok());
    const std::string after_1 = Read(path);
    EXPECT_FALSE(after_1.empty());
    EXPECT_TRUE(reference.starts_with(after_1));
    ASSERT_TRUE((*w)->NotifyCheckpointComplete(1).ok());  // idempotent
    EXPECT_EQ(Read(path), after_1);
    committed_1 = static_cast<int64_t>(after_1.size());
    // Checkpoint 2 never completes; the process dies here.
  }
  EXPECT_EQ(static_cast<int64_t>(Read(path).size()), committed_1);
  EXPECT_FALSE(Read(path + ".inprogress").empty());

  // Restart from checkpoint 1: what followed it is discarded, and the same
  // calls from there on give the reference, byte for byte.
  auto file = TransactionalAppendFile::Open(path);
  ASSERT_TRUE(file.ok());
  RankedCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)), Names());
  auto w = sink.CreateWriter(brook::SinkWriterContext{});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->RestoreState({state1}).ok());
  EXPECT_EQ(static_cast<int64_t>(Read(path).size()), committed_1);
  EXPECT_EQ(Read(path + ".inprogress"), Read(path));
  ASSERT_TRUE(Feed(**w, 3, 6).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(Read(path), reference);
  EXPECT_FALSE(fs::exists(path + ".inprogress"));
  EXPECT_EQ(sink.rows_written(), 24);
  ASSERT_TRUE((*w)->NotifyCheckpointComplete(3).ok());  // after the end: harmless
  EXPECT_EQ(Read(path), reference);
}

TEST_F(CameraIoCheckpointTest, ResultSinkRejectsCorruptState) {
  const std::string path = (dir_ / "out.csv").string();
  std::string state;
  {
    auto file = TransactionalAppendFile::Open(path);
    ASSERT_TRUE(file.ok());
    RankedCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)), Names());
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    ASSERT_TRUE(Feed(**w, 0, 3).ok());
    state = *(*w)->SnapshotState(1);
  }
  for (size_t n = 0; n < state.size(); n += 3) {
    auto file = TransactionalAppendFile::Open(path);
    ASSERT_TRUE(file.ok());
    RankedCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)), Names());
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    EXPECT_FALSE((*w)->RestoreState({state.substr(0, n)}).ok()) << "prefix " << n;
  }
}

TEST_F(CameraIoCheckpointTest, PlainSinkDeclinesCheckpoints) {
  auto out = OpenOutput((dir_ / "plain.csv").string());
  ASSERT_TRUE(out.ok());
  RankedCsvSink sink(*out, Names());
  auto w = sink.CreateWriter(brook::SinkWriterContext{});
  EXPECT_EQ((*w)->SnapshotState(1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CameraIoCheckpointTest, DeadLetterSinkCommitsInTwoPhasesAndRestores) {
  auto rejections = [](int from, int to) {
    std::vector<brook::StreamRecord<Rejection>> v;
    for (int i = to - 1; i >= from; --i) {
      v.push_back({0, Rejection{"in.csv", i, "wrong field count", absl::StrCat("raw,", i)}});
    }
    return v;
  };
  auto feed = [&](brook::SinkWriter<Rejection>& w, int from, int to) {
    for (int b = from; b < to; ++b) {
      auto batch = rejections(b * 10, b * 10 + 10);
      ASSERT_TRUE(w.Write(batch).ok());
      if (b % 2 == 1) ASSERT_TRUE(w.OnWatermark(b).ok());
    }
  };
  const std::string ref_path = (dir_ / "ref-dead.csv").string();
  {
    auto out = OpenOutput(ref_path);
    DeadLetterCsvSink sink(*out);
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    feed(**w, 0, 5);
    ASSERT_TRUE((*w)->Flush().ok());
  }
  const std::string reference = Read(ref_path);

  const std::string path = (dir_ / "dead.csv").string();
  std::string state1;
  {
    auto file = TransactionalAppendFile::Open(path);
    DeadLetterCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)));
    auto w = sink.CreateWriter(brook::SinkWriterContext{});
    feed(**w, 0, 3);
    state1 = *(*w)->SnapshotState(4);
    feed(**w, 3, 4);
    EXPECT_EQ(Read(path), "");
    ASSERT_TRUE((*w)->NotifyCheckpointComplete(4).ok());
    EXPECT_TRUE(reference.starts_with(Read(path)));
  }
  auto file = TransactionalAppendFile::Open(path);
  DeadLetterCsvSink sink(std::shared_ptr<TransactionalAppendFile>(*std::move(file)));
  auto w = sink.CreateWriter(brook::SinkWriterContext{});
  ASSERT_TRUE((*w)->RestoreState({state1}).ok());
  feed(**w, 3, 5);
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(Read(path), reference);
}

}  // namespace
}  // namespace camera
