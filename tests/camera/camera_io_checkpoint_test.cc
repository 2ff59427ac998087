// Checkpointing of the camera job's generator source: a reader restored from
// a snapshot emits exactly the records that followed it. (The file source's
// and the sinks' are in tests/connectors/.)
#include <unistd.h>

#include <filesystem>
#include <memory>
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
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

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
    EXPECT_THAT(r, IsOk());
    return *std::move(r);
  };
  ReaderDriver full(make());
  ASSERT_THAT(full.Open(), IsOk());
  ASSERT_TRUE(*full.Poll(-1));
  const std::vector<std::string> all = full.Take();
  ASSERT_EQ(all.size(), 6000u);
  for (int polls : {0, 1, 3, 5}) {
    SCOPED_TRACE(absl::StrCat("snapshot after ", polls, " polls"));
    ReaderDriver first(make());
    ASSERT_THAT(first.Open(), IsOk());
    ASSERT_THAT(first.Poll(polls), IsOk());
    std::vector<std::string> got = first.Take();
    auto state = first.reader().SnapshotState(1);
    ASSERT_THAT(state, IsOk());
    auto restored_reader = make();
    ASSERT_THAT(restored_reader->RestoreState({*state}), IsOk());
    ReaderDriver restored(std::move(restored_reader));
    ASSERT_THAT(restored.Open(), IsOk());
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
  ASSERT_THAT(DecodeGeneratorState(bytes, &decoded), IsOk());
  EXPECT_EQ(decoded, state);
  EXPECT_THAT(g.CheckState(decoded), IsOk());
  for (size_t n = 0; n < bytes.size(); ++n) {
    GeneratorState partial;
    EXPECT_THAT(DecodeGeneratorState(bytes.substr(0, n), &partial), StatusIs(absl::StatusCode::kDataLoss))
        << "prefix " << n;
  }
  GeneratorState bad = state;
  bad.pending.front().item_index = options.num_items;  // would index past the table
  EXPECT_THAT(g.CheckState(bad), StatusIs(absl::StatusCode::kDataLoss));
  bad = state;
  bad.emitted += 1;  // counters no longer add up
  EXPECT_THAT(g.CheckState(bad), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace camera
