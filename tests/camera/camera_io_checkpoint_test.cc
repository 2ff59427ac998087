// Checkpointing of the camera job's generator source and sinks: a reader
// restored from a snapshot emits exactly the records that followed it; the
// result and dead-letter sinks commit in two phases. (The file source's are in
// tests/connectors/file_source_test.cc.)
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
#include "brook/source.h"
#include "brook/watermark_strategy.h"
#include "camera_top_k/camera_io.h"
#include "camera_top_k/generator.h"
#include "connectors/test_util.h"
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

class ReaderDriver : public brook_test::SourceReaderDriver<SourceRecord> {
 public:
  explicit ReaderDriver(std::unique_ptr<brook::SourceReader<SourceRecord>> reader)
      : SourceReaderDriver(std::move(reader), Describe) {}
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

  fs::path dir_;
};

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
