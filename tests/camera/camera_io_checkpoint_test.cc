// Checkpointing of the camera job's sources: a reader restored from a
// snapshot emits exactly the records that followed it. (Its sinks are the
// connectors' TransactionalFileSink: tests/connectors.)
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/internal/output.h"
#include "brook/internal/subtask.h"
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
  const brook::connectors::DeadLetter& j = std::get<brook::connectors::DeadLetter>(r.value);
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

}  // namespace
}  // namespace camera
