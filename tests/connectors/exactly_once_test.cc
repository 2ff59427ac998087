// File: tests/connectors/exactly_once_test.cc
//
// The connectors end to end: CollectionSource -> paced Map ->
// TransactionalFileSink, cancelled after a few checkpoints and restored at
// another parallelism: the committed file holds every value exactly once.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/collection_source.h"
#include "brook/connectors/csv.h"
#include "brook/connectors/transactional_file_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace brook::connectors {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int64_t kValues = 20000;

std::vector<int64_t> Values() {
  std::vector<int64_t> v(kValues);
  for (int64_t i = 0; i < kValues; ++i) v[i] = i;
  return v;
}

// One run: values at `parallelism` through a Map that sleeps `pace_us` per
// record into the file; cancelled once `cancel_after` checkpoints completed
// (0: runs to the end).
absl::Status RunJob(const std::string& path, std::shared_ptr<CheckpointStorage> storage,
                    int parallelism, int pace_us, int cancel_after, bool restore,
                    std::string* restored_from) {
  ExecutionConfig config;
  config.parallelism = parallelism;
  config.batch_size = 16;
  config.channel_capacity = 2;
  config.checkpoint.interval = absl::Milliseconds(10);
  config.checkpoint.storage = std::move(storage);
  config.checkpoint.restore =
      restore ? CheckpointConfig::Restore::kLatest : CheckpointConfig::Restore::kNone;
  FileSinkOptions<int64_t> options;
  options.encoder = [](const int64_t& v, std::string& out) { AppendCsvRow(out, v); };
  auto sink = TransactionalFileSink<int64_t>::Open(path, FileSinkMode::kTransactional, options);
  if (!sink.ok()) return sink.status();

  StreamExecutionEnvironment env(config);
  env.FromSource<int64_t>(std::make_shared<CollectionSource<int64_t>>(Values()),
                          WatermarkStrategy<int64_t>::NoWatermarks(), "values")
      .Map(
          [pace_us](int64_t v) {
            if (pace_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pace_us));
            return v;
          },
          "pace")
      .SinkTo(*sink, "file", 1);
  absl::Status status;
  std::thread runner([&] { status = env.Execute("exactly-once"); });
  if (cancel_after > 0) {
    for (int i = 0; i < 20000; ++i) {
      if (env.metrics().Sum("checkpoints_completed", "checkpoint").value_or(0) >= cancel_after) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    env.Cancel();
  }
  runner.join();
  *restored_from = env.restored_from();
  return status;
}

TEST(ConnectorsExactlyOnceTest, RestoredAtAnotherParallelismCommitsEveryValueOnce) {
  for (auto [before, after] : {std::pair{2, 3}, std::pair{3, 1}}) {
    SCOPED_TRACE(absl::StrCat(before, " -> ", after, " source readers"));
    const fs::path dir = fs::path(::testing::TempDir()) /
                         absl::StrCat("exactly-once-", ::getpid(), "-", before, "-", after);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string path = (dir / "out.csv").string();
    std::shared_ptr<CheckpointStorage> storage = NewInMemoryCheckpointStorage();
    std::string restored_from;

    const absl::Status first = RunJob(path, storage, before, 50, 3, false, &restored_from);
    ASSERT_TRUE(absl::IsCancelled(first)) << first;
    const absl::Status second = RunJob(path, storage, after, 0, 0, true, &restored_from);
    ASSERT_THAT(second, IsOk());
    EXPECT_THAT(restored_from, Not(IsEmpty()));

    std::ifstream in(path);
    std::vector<int64_t> got;
    for (std::string line; std::getline(in, line);) got.push_back(std::stoll(line));
    std::sort(got.begin(), got.end());
    EXPECT_THAT(got, ElementsAreArray(Values()));
    EXPECT_FALSE(fs::exists(path + ".inprogress"));
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace brook::connectors
