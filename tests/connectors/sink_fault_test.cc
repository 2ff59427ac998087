// The transactional file sink on a failing disk
// (brook/testing/fault_injection_file_system.h):
//  - TransactionalAppendFile: each operation of a run of three checkpoints
//    and the final commit fails in turn (ENOSPC, EIO, a short write, a crash),
//    with and without a power cut: committed output is never lost, nothing
//    uncommitted is visible, and the restart from the last complete
//    checkpoint ends with exactly the output of a run without faults;
//  - a whole job with its checkpoints and its output on the failing disk: a
//    storage fault declines the checkpoint and the job goes on, a sink fault
//    fails the job naming the file; either way the output after a restart is
//    byte-identical.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/connectors/collection_source.h"
#include "brook/connectors/transactional_append_file.h"
#include "brook/connectors/transactional_file_sink.h"
#include "brook/testing/fault_injection_file_system.h"
#include "brook/testing/status_matchers.h"
#include "engine/fault_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook::connectors {
namespace {

using ::brook::testing::AllFaultCases;
using ::brook::testing::ErrnoText;
using ::brook::testing::FaultCase;
using ::brook::testing::FaultCaseName;
using ::brook::testing::FaultInjectionFileSystem;
using ::brook::testing::IsOk;
using ::brook::testing::RuleFor;
using ::brook::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Fault = FaultInjectionFileSystem::Fault;
using Op = FaultInjectionFileSystem::Op;

constexpr char kOut[] = "/out/rows.csv";
constexpr int kCheckpoints = 3;

std::string Contents(FileSystem& fs, const std::string& path) {
  auto bytes = fs.ReadFile(path);
  if (!bytes.ok()) return "";
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->size);
}

// The output up to checkpoint `k`: row i is i copies of "row i\n".
std::string Rows(int k) {
  std::string out;
  for (int i = 1; i <= k; ++i) {
    for (int j = 0; j < i; ++j) absl::StrAppend(&out, "row ", i, "\n");
  }
  return out;
}

// The output's directory exists, durably.
void PrepareDisk(FaultInjectionFileSystem& fs) {
  EXPECT_THAT(fs.CreateDir("/out"), IsOk());
  EXPECT_THAT(fs.SyncDir("/"), IsOk());
}

// What a sink's run got to: the last checkpoint whose pre-commit succeeded
// (complete, as its checkpoint's `_metadata` would be) and the last commit.
struct Progress {
  int complete = 0;
  int committed = 0;
  int64_t length[kCheckpoints + 1] = {};
  bool finished = false;
};

// Opens the file and runs the checkpoints after `p->complete` (restoring it
// first, or starting fresh), then the final commit; stops at the first error.
absl::Status RunSink(FileSystem& fs, Progress* p) {
  auto file = TransactionalAppendFile::Open(kOut, &fs);
  if (!file.ok()) return file.status();
  TransactionalAppendFile& f = **file;
  BROOK_RETURN_IF_ERROR(p->complete == 0 ? f.StartFresh() : f.Restore(p->length[p->complete]));
  p->committed = p->complete;
  for (int k = p->complete + 1; k <= kCheckpoints; ++k) {
    const std::string rows = Rows(k).substr(Rows(k - 1).size());
    for (size_t at = 0; at < rows.size(); at += 6) {  // several appends per checkpoint
      BROOK_RETURN_IF_ERROR(f.Append(std::string_view(rows).substr(at, 6)));
    }
    BROOK_ASSIGN_OR_RETURN(p->length[k], f.PreCommit());
    p->complete = k;
    BROOK_RETURN_IF_ERROR(f.Commit(p->length[k]));
    p->committed = k;
  }
  BROOK_RETURN_IF_ERROR(f.CommitAll());
  p->finished = true;
  return absl::OkStatus();
}

class AppendFileFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(AppendFileFaultTest, EachStepFailsWithoutLosingOrDoublingOutput) {
  const auto [fault, power_cut] = GetParam();
  std::vector<FaultInjectionFileSystem::Operation> steps;  // of a run without faults
  {
    FaultInjectionFileSystem fs;
    PrepareDisk(fs);
    fs.ClearOperations();
    Progress p;
    ASSERT_THAT(RunSink(fs, &p), IsOk());
    steps = fs.operations();
    ASSERT_EQ(Contents(fs, kOut), Rows(kCheckpoints));
  }
  int tried = 0;
  for (const auto& step : steps) {
    if (fault == Fault::kShortWrite && step.op != Op::kWrite) continue;
    SCOPED_TRACE(absl::StrCat(FaultInjectionFileSystem::OpName(step.op), " ", step.path, " (#",
                              step.nth, ")"));
    ++tried;

    FaultInjectionFileSystem fs;
    PrepareDisk(fs);
    fs.InjectFault(RuleFor(step, fault));
    Progress p;
    const absl::Status failed = RunSink(fs, &p);
    ASSERT_EQ(fs.faults_injected(), 1);
    EXPECT_THAT(failed.message(), AllOf(HasSubstr(step.path), HasSubstr(ErrnoText(fault))));
    ASSERT_FALSE(p.finished) << failed;
    if (power_cut) fs.PowerCut();
    // What was committed is there; nothing beyond the last complete
    // checkpoint is visible.
    const std::string visible = Contents(fs, kOut);
    EXPECT_THAT(visible, StartsWith(Rows(p.committed)));
    EXPECT_THAT(Rows(p.complete), StartsWith(visible));

    // Restart from the last complete checkpoint on a repaired disk.
    fs.ClearFaults();
    fs.PowerCut();  // ends a simulated crash
    ASSERT_THAT(RunSink(fs, &p), IsOk());
    EXPECT_EQ(Contents(fs, kOut), Rows(kCheckpoints));
    EXPECT_FALSE(fs.FileExists(kOut + std::string(kPendingSuffix)));
  }
  EXPECT_GE(tried, fault == Fault::kShortWrite ? kCheckpoints : 20);
}

INSTANTIATE_TEST_SUITE_P(AllFaults, AppendFileFaultTest, AllFaultCases(), FaultCaseName);

// ---------------------------------------------------------------------------
// A whole job: values -> paced Map -> TransactionalFileSink, checkpoints
// every 5 ms, everything on the fault-injecting disk.

constexpr int64_t kValues = 3000;
constexpr char kCheckpointDir[] = "/ckpt";

std::string ExpectedOutput() {
  std::string out;
  for (int64_t v = 0; v < kValues; ++v) absl::StrAppend(&out, v, "\n");
  return out;
}

struct JobRun {
  absl::Status status;
  int64_t checkpoints_failed = 0;
};

JobRun RunJob(FileSystem& fs, bool restore) {
  JobRun run;
  ExecutionConfig config;
  config.batch_size = 16;
  config.channel_capacity = 2;
  config.checkpoint.interval = absl::Milliseconds(5);
  auto storage = NewLocalDirectoryCheckpointStorage(kCheckpointDir, &fs);
  if (!storage.ok()) return {storage.status()};
  config.checkpoint.storage = *std::move(storage);
  config.checkpoint.restore =
      restore ? CheckpointConfig::Restore::kLatest : CheckpointConfig::Restore::kNone;
  FileSinkOptions<int64_t> options;
  options.encoder = [](const int64_t& v, std::string& out) { absl::StrAppend(&out, v, "\n"); };
  options.file_system = &fs;
  auto sink = TransactionalFileSink<int64_t>::Open(kOut, FileSinkMode::kTransactional, options);
  if (!sink.ok()) return {sink.status()};
  std::vector<int64_t> values(kValues);
  for (int64_t i = 0; i < kValues; ++i) values[i] = i;
  StreamExecutionEnvironment env(config);
  env.FromSource<int64_t>(std::make_shared<CollectionSource<int64_t>>(std::move(values)),
                          WatermarkStrategy<int64_t>::NoWatermarks(), "values")
      .Map(
          [](int64_t v) {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            return v;
          },
          "pace")
      .SinkTo(*sink, "file", 1);
  run.status = env.Execute("sink-faults");
  run.checkpoints_failed =
      static_cast<int64_t>(env.metrics().Sum("checkpoints_failed", "checkpoint").value_or(0));
  return run;
}

struct JobFault {
  const char* name;
  FaultInjectionFileSystem::Rule rule;
  bool fails_job;  // else the checkpoint is declined and the job goes on
};

class JobFaultTest : public ::testing::TestWithParam<JobFault> {};

TEST_P(JobFaultTest, RestartGivesByteIdenticalOutput) {
  const JobFault& c = GetParam();
  FaultInjectionFileSystem fs;
  PrepareDisk(fs);
  fs.InjectFault(c.rule);
  const JobRun first = RunJob(fs, /*restore=*/false);
  ASSERT_GE(fs.faults_injected(), 1) << "the job ended before the fault";
  std::string path = c.rule.path;
  if (!path.empty() && path.back() == '$') path.pop_back();
  if (c.fails_job) {
    // The failed job names the file (and for a crash, the first error).
    EXPECT_THAT(first.status, Not(IsOk()));
    EXPECT_THAT(first.status.message(), HasSubstr(ErrnoText(c.rule.fault)));
    if (c.rule.fault != Fault::kCrash) EXPECT_THAT(first.status.message(), HasSubstr(path));
  } else {
    // A storage fault: that checkpoint is declined, the job finishes.
    EXPECT_THAT(first.status, IsOk());
    EXPECT_GE(first.checkpoints_failed, 1);
    EXPECT_EQ(Contents(fs, kOut), ExpectedOutput());
  }
  // Power fails too; the restarted job resumes from the newest complete
  // checkpoint (on a repaired disk) and commits exactly the reference output.
  fs.ClearFaults();
  fs.PowerCut();
  const JobRun second = RunJob(fs, /*restore=*/true);
  ASSERT_THAT(second.status, IsOk());
  EXPECT_EQ(Contents(fs, kOut), ExpectedOutput());
}

using R = FaultInjectionFileSystem::Rule;
INSTANTIATE_TEST_SUITE_P(
    Faults, JobFaultTest,
    ::testing::Values(
        // Checkpoint storage: declined checkpoints.
        JobFault{"MetadataFsyncEio", R{Op::kSync, "_metadata.inprogress", 2, Fault::kIoError},
                 false},
        JobFault{"MetadataRenameEio", R{Op::kRename, "_metadata", 2, Fault::kIoError}, false},
        JobFault{"StateFileDiskFull",
                 R{Op::kWrite, "/ckpt/chk-", 2, Fault::kNoSpace, /*sticky=*/true}, false},
        JobFault{"CheckpointDirFsyncEio", R{Op::kSyncDir, "/ckpt/chk-", 3, Fault::kIoError}, false},
        // The sink: pre-commit (pending file) and commit (visible file) fail the job.
        JobFault{"PendingFsyncEio", R{Op::kSync, "rows.csv.inprogress", 3, Fault::kIoError}, true},
        JobFault{"PendingShortWrite", R{Op::kWrite, "rows.csv.inprogress", 2, Fault::kShortWrite},
                 true},
        JobFault{"CommitFsyncEio", R{Op::kSync, "rows.csv$", 3, Fault::kIoError}, true},
        // A crash in the middle of a checkpoint: nothing after it reaches the disk.
        JobFault{"CrashAtMetadataRename", R{Op::kRename, "_metadata", 2, Fault::kCrash}, true},
        JobFault{"CrashAtPendingFsync", R{Op::kSync, "rows.csv.inprogress", 3, Fault::kCrash},
                 true}),
    [](const ::testing::TestParamInfo<JobFault>& info) { return info.param.name; });

}  // namespace
}  // namespace brook::connectors
