// The camera job's checkpoint options: what is refused before any work
// (exit status 2 from the binary).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "camera_top_k/camera_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace camera {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CameraJobCheckpointOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("camera-job-ckpt-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    o_.detections_path = Write("a.csv",
                               "geographical_location_oid,video_camera_oid,detection_oid,"
                               "item_name,timestamp_detected\n1,1,1,car,5\n");
    o_.locations_path = Write("b.csv", "geographical_location_oid,geographical_location\n1,A\n");
    o_.output_path = Path("out.csv");
    o_.dead_letter_path = Path("dead.csv");
    o_.checkpoint_dir = Path("ckpt");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
    return Path(name);
  }
  // Exit status of the camera_top_k binary (-1 when not wired in).
  int RunBinary(const std::string& args) const {
#ifdef CAMERA_TOP_K_BINARY
    const std::string command = absl::StrCat(CAMERA_TOP_K_BINARY, " ", args, " >",
                                             Path("stdout"), " 2>", Path("stderr"), " </dev/null");
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status)) return -2;
    return WEXITSTATUS(status);
#else
    (void)args;
    return -1;
#endif
  }
  std::string Stderr() const {
    std::ifstream in(Path("stderr"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string Flags() const {
    return absl::StrCat("--detections=", o_.detections_path, " --locations=", o_.locations_path,
                        " --progress=false");
  }

  fs::path dir_;
  CameraJobOptions o_;
};

TEST_F(CameraJobCheckpointOptionsTest, StdinCannotBeCheckpointed) {
  o_.detections_path = "-";
  auto job = CameraJob::Create(o_);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("stdin cannot be replayed"));
  const int status = RunBinary(absl::StrCat("--detections=- --locations=", o_.locations_path,
                                            " --output=", o_.output_path,
                                            " --checkpoint_dir=", o_.checkpoint_dir));
  if (status != -1) {
    EXPECT_EQ(status, 2);
    EXPECT_THAT(Stderr(), HasSubstr("--checkpoint_dir"));
  }
  EXPECT_FALSE(fs::exists(o_.checkpoint_dir)) << "refused before any work";
}

TEST_F(CameraJobCheckpointOptionsTest, PipeCannotBeCheckpointed) {
  const std::string fifo = Path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A writer that gives the header and goes away, so that opening succeeds.
  std::thread writer([&] {
    std::ofstream(fifo) << "geographical_location_oid,video_camera_oid,detection_oid,"
                           "item_name,timestamp_detected\n";
  });
  o_.detections_path = fifo;
  auto job = CameraJob::Create(o_);
  writer.join();
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("cannot be replayed"));
}

TEST_F(CameraJobCheckpointOptionsTest, StdoutCannotBeCommittedTransactionally) {
  o_.output_path = "-";
  auto job = CameraJob::Create(o_);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("--output=FILE"));
  const int status =
      RunBinary(absl::StrCat(Flags(), " --checkpoint_dir=", o_.checkpoint_dir));  // stdout
  if (status != -1) EXPECT_EQ(status, 2);
}

TEST_F(CameraJobCheckpointOptionsTest, RestorePathNeedsMetadataAndCheckpointDir) {
  o_.restore = RestoreMode::kPath;
  o_.restore_path = Path("no-such-savepoint");
  auto job = CameraJob::Create(o_);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kNotFound)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("no-such-savepoint"));

  o_.checkpoint_dir.clear();
  job = CameraJob::Create(o_);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();

  const int status = RunBinary(absl::StrCat(Flags(), " --output=", o_.output_path,
                                            " --checkpoint_dir=", Path("ckpt"),
                                            " --restore=", o_.restore_path));
  if (status != -1) EXPECT_EQ(status, 2);
}

TEST_F(CameraJobCheckpointOptionsTest, NegativeIntervalIsRefused) {
  o_.checkpoint_interval = absl::Seconds(-1);
  auto job = CameraJob::Create(o_);
  EXPECT_THAT(job.status(), StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_THAT(job.status().message(), HasSubstr("checkpoint_interval"));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// With checkpointing on and no crash, the two-phase-commit files end up with
// exactly what a plain run writes, and no pending file is left.
TEST_F(CameraJobCheckpointOptionsTest, CheckpointedRunWritesWhatAPlainRunWrites) {
  CameraJobOptions o;
  o.generate = true;
  o.generator.count = 20000;
  o.generator.num_locations = 5;
  o.window = absl::Seconds(1);
  o.out_of_orderness = absl::Milliseconds(300);  // some late records
  o.output_path = Path("plain.csv");
  o.dead_letter_path = Path("plain-dead.csv");
  auto plain = CameraJob::Create(o);
  ASSERT_THAT(plain, IsOk());
  ASSERT_THAT((*plain)->Run(), IsOk());

  o.output_path = Path("ckpt.csv");
  o.dead_letter_path = Path("ckpt-dead.csv");
  o.checkpoint_dir = Path("ckpt");
  o.restore = RestoreMode::kNone;
  // Leftovers of an earlier run must not leak into this one.
  Write("ckpt.csv", "stale\n");
  Write("ckpt.csv.inprogress", "stale pending\n");
  auto checkpointed = CameraJob::Create(o);
  ASSERT_THAT(checkpointed, IsOk());
  auto summary = (*checkpointed)->Run();
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->restored_from, "");
  const std::string out = ReadAll(Path("plain.csv"));
  ASSERT_THAT(out, HasSubstr("window_start"));
  EXPECT_EQ(ReadAll(Path("ckpt.csv")), out);
  EXPECT_THAT(ReadAll(Path("plain-dead.csv")), HasSubstr("late"));
  EXPECT_EQ(ReadAll(Path("ckpt-dead.csv")), ReadAll(Path("plain-dead.csv")));
  EXPECT_FALSE(fs::exists(Path("ckpt.csv.inprogress")));
  EXPECT_FALSE(fs::exists(Path("ckpt-dead.csv.inprogress")));
}

TEST_F(CameraJobCheckpointOptionsTest, SummaryNamesTheRestoredCheckpoint) {
  CameraJobSummary s;
  EXPECT_THAT(s.ToString(), ::testing::Not(HasSubstr("restored_from")));
  s.restored_from = "ckpt/chk-7";
  EXPECT_THAT(s.ToString(), HasSubstr(" restored_from=ckpt/chk-7"));
}

}  // namespace
}  // namespace camera
