// File: tests/integration/utopia_test.cc
//
// The camera job on real input nobody on the team wrote: the published
// "utopia" sample (README in $BROOK_SHARED_DATA), about a million detections
// with re-sent duplicates and timestamps in seconds. The job's batch answer
// (one global window) must equal the published expected top 10 exactly, and
// must differ from the published answer of a job that forgot to deduplicate.
// Skipped when BROOK_SHARED_DATA is unset or lacks the files. Label:
// integration (a few seconds per run).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "camera_top_k/camera_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace camera {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string>& TempPaths() {
  static auto* paths = new std::vector<std::string>;
  return *paths;
}

std::string TempPath(const std::string& name) {
  std::string path = absl::StrCat(::testing::TempDir(), "/utopia_test_", getpid(), "_", name);
  TempPaths().push_back(path);
  return path;
}

// The job's output reduced to the expected files' columns:
// geographical_location_oid,item_rank,item_name (header included). Location
// names may be quoted and hold commas, so the columns are taken from the
// ends: the first three and the last three fields are never quoted here.
std::string ProjectOutput(const std::string& output) {
  std::string out;
  std::vector<std::string> lines = absl::StrSplit(output, '\n', absl::SkipEmpty());
  EXPECT_FALSE(lines.empty());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    EXPECT_GE(f.size(), 7u) << lines[i];
    if (f.size() < 7) continue;
    const size_t n = f.size();
    absl::StrAppend(&out, f[2], ",", f[n - 3], ",", f[n - 2], "\n");
  }
  return out;
}

class UtopiaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* shared = std::getenv("BROOK_SHARED_DATA");
    if (shared == nullptr || *shared == '\0') GTEST_SKIP() << "BROOK_SHARED_DATA is not set";
    dir_ = absl::StrCat(shared, "/utopia");
    for (const char* f : {"camera_detection_events.csv", "geographical_locations.csv",
                          "expected_top10_dedup.csv", "wrong_top10_duplicates_counted.csv"}) {
      if (!std::filesystem::exists(absl::StrCat(dir_, "/", f))) {
        GTEST_SKIP() << dir_ << "/" << f << " is missing";
      }
    }
    expected_ = ReadFile(dir_ + "/expected_top10_dedup.csv");
    wrong_ = ReadFile(dir_ + "/wrong_top10_duplicates_counted.csv");
    ASSERT_NE(expected_, wrong_);
  }

  void TearDown() override {
    if (!HasFailure()) {
      for (const std::string& path : TempPaths()) std::remove(path.c_str());
    }
    TempPaths().clear();
  }

  std::string dir_;
  std::string expected_;
  std::string wrong_;
};

class UtopiaParallelismTest : public UtopiaTest, public ::testing::WithParamInterface<int> {};

TEST_P(UtopiaParallelismTest, InProcessJobGivesThePublishedTop10) {
  CameraJobOptions o;
  o.detections_path = dir_ + "/camera_detection_events.csv";
  o.locations_path = dir_ + "/geographical_locations.csv";
  o.timestamp_unit = TimestampUnit::kSeconds;
  o.top_x = 10;
  o.parallelism = GetParam();
  o.output_path = TempPath(absl::StrCat("out_p", GetParam(), ".csv"));
  o.dead_letter_path = TempPath(absl::StrCat("dead_p", GetParam(), ".csv"));
  const std::string out_path = o.output_path;
  const std::string dead_path = o.dead_letter_path;
  auto job = CameraJob::Create(o);
  ASSERT_THAT(job, IsOk());
  auto summary = (*job)->Run();
  ASSERT_THAT(summary, IsOk());
  job->reset();

  const std::string projected = ProjectOutput(ReadFile(out_path));
  EXPECT_EQ(projected, expected_);
  EXPECT_NE(projected, wrong_);
  EXPECT_EQ(summary->read, 1'010'787) << summary->ToString();
  EXPECT_EQ(summary->duplicates, 10'813);
  EXPECT_EQ(summary->accepted, 999'974);
  EXPECT_EQ(summary->malformed, 0);
  EXPECT_EQ(summary->unknown_location, 0);
  EXPECT_EQ(summary->late, 0);
  EXPECT_EQ(summary->windows_fired, 50);  // the 50 locations with detections
  EXPECT_EQ(summary->output_rows, 500);
  EXPECT_EQ(summary->read, summary->accepted + summary->duplicates + summary->malformed +
                               summary->unknown_location + summary->late);
  EXPECT_EQ(ReadFile(dead_path), "source,line_number,reason,raw_line\n");
}

INSTANTIATE_TEST_SUITE_P(Parallelism, UtopiaParallelismTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return absl::StrCat("p", p.param);
                         });

TEST_F(UtopiaTest, BinaryGivesThePublishedTop10) {
#ifndef CAMERA_TOP_K_BINARY
  GTEST_SKIP() << "CAMERA_TOP_K_BINARY not defined";
#else
  const std::string out = TempPath("bin_out.csv");
  const std::string err = TempPath("bin_stderr.txt");
  const std::string command = absl::StrCat(
      CAMERA_TOP_K_BINARY, " --detections=", dir_, "/camera_detection_events.csv",
      " --locations=", dir_, "/geographical_locations.csv",
      " --timestamp_unit=s --top_x=10 --parallelism=2 --progress=false --output=", out,
      " 2>", err);
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadFile(err);
  EXPECT_EQ(ProjectOutput(ReadFile(out)), expected_);
  EXPECT_THAT(ReadFile(err), HasSubstr("read=1010787 accepted=999974 duplicates=10813"));
#endif
}

}  // namespace
}  // namespace camera
