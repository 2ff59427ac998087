// The checkpoint storage on a failing disk (brook/file_system.h,
// brook/testing/fault_injection_file_system.h): each operation of writing a
// checkpoint (state files, `_metadata`, its rename, every fsync) fails in turn
// with ENOSPC, EIO, a short write or a crash, with and without a power cut
// after it. The failed checkpoint's error names the file and the reason, it is
// never loaded, the previous one always is, and the next checkpoint succeeds.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/checkpoint_storage.h"
#include "brook/file_system.h"
#include "brook/testing/fault_injection_file_system.h"
#include "brook/testing/status_matchers.h"
#include "engine/fault_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook {
namespace {

using ::brook::testing::AllFaultCases;
using ::brook::testing::ErrnoText;
using ::brook::testing::FaultCase;
using ::brook::testing::FaultCaseName;
using ::brook::testing::FaultInjectionFileSystem;
using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::brook::testing::RuleFor;
using ::brook::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Fault = FaultInjectionFileSystem::Fault;
using Op = FaultInjectionFileSystem::Op;

constexpr char kDir[] = "/ckpt";

// The states of checkpoint `id`: two subtasks, one with a key group large
// enough to be written from the state in place (several write pieces).
std::vector<OperatorSubtaskState> StatesOf(int64_t id) {
  std::vector<OperatorSubtaskState> states(2);
  for (int i = 0; i < 2; ++i) {
    states[i].operator_id = "counter";
    states[i].subtask_index = i;
    states[i].parallelism = 2;
    states[i].operator_state = absl::StrCat("checkpoint ", id, " subtask ", i);
    states[i].key_groups.emplace_back(i, std::string(i == 0 ? 10000 : 10, 'a' + id % 26));
  }
  return states;
}

// Writes checkpoint `id` as the coordinator does: every state file, then
// `_metadata`; on the first error, aborts it and returns the error.
absl::Status WriteCheckpoint(CheckpointStorage& storage, int64_t id) {
  CheckpointMetadata metadata;
  metadata.checkpoint_id = id;
  metadata.max_parallelism = 128;
  metadata.job_name = "faults";
  absl::Status status;
  for (const auto& state : StatesOf(id)) {
    auto file = storage.WriteState(id, false, state);
    if (!file.ok()) {
      status = file.status();
      break;
    }
    metadata.files.push_back(*file);
  }
  if (status.ok()) status = storage.CompleteCheckpoint(metadata, /*retained=*/3).status();
  if (!status.ok()) (void)storage.AbortCheckpoint(id, false);  // best effort, as the coordinator
  return status;
}

// The id of the checkpoint LoadLatest() finds (0: none), after checking that
// every state read back is exactly what was written for that id.
int64_t LoadedId(FileSystem& fs, std::vector<std::string>* skipped) {
  auto storage = NewLocalDirectoryCheckpointStorage(kDir, &fs);  // as a restarted job
  EXPECT_THAT(storage, IsOk());
  if (!storage.ok()) return -1;
  auto latest = (*storage)->LoadLatest(skipped);
  EXPECT_THAT(latest, IsOk());
  if (!latest.ok() || !latest->has_value()) return 0;
  const RestoredCheckpoint& restored = **latest;
  const int64_t id = restored.metadata.checkpoint_id;
  const auto expected = StatesOf(id);
  EXPECT_EQ(restored.states.size(), expected.size());
  for (size_t i = 0; i < expected.size() && i < restored.states.size(); ++i) {
    EXPECT_EQ(restored.states[i].operator_state, expected[i].operator_state);
    EXPECT_EQ(restored.states[i].key_groups, expected[i].key_groups);
  }
  return id;
}

class StorageFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(StorageFaultTest, EachStepOfACheckpointFailsCleanly) {
  const auto [fault, power_cut] = GetParam();
  // The operations of checkpoint 2, from a run without faults.
  std::vector<FaultInjectionFileSystem::Operation> steps;
  {
    FaultInjectionFileSystem fs;
    auto storage = NewLocalDirectoryCheckpointStorage(kDir, &fs);
    ASSERT_THAT(storage, IsOk());
    ASSERT_THAT(WriteCheckpoint(**storage, 1), IsOk());
    fs.ClearOperations();
    ASSERT_THAT(WriteCheckpoint(**storage, 2), IsOk());
    steps = fs.operations();
    ASSERT_GE(steps.size(), 14u);  // 2 x (mkdir, open, write, fsync), then _metadata
  }
  int tried = 0;
  for (const auto& step : steps) {
    // Reads: only the best-effort pruning lists the directory.
    if (step.op == Op::kRead || (fault == Fault::kShortWrite && step.op != Op::kWrite)) continue;
    const std::string& path = step.path;
    SCOPED_TRACE(
        absl::StrCat(FaultInjectionFileSystem::OpName(step.op), " ", path, " (#", step.nth, ")"));
    ++tried;

    FaultInjectionFileSystem fs;
    {
      auto storage = NewLocalDirectoryCheckpointStorage(kDir, &fs);
      ASSERT_THAT(storage, IsOk());
      ASSERT_THAT(WriteCheckpoint(**storage, 1), IsOk());
      fs.InjectFault(RuleFor(step, fault));
      const absl::Status failed = WriteCheckpoint(**storage, 2);
      EXPECT_EQ(fs.faults_injected(), 1);
      // Every fault fails the checkpoint (a failed directory fsync too: the
      // checkpoint might not survive a power cut), naming the file and the
      // error.
      EXPECT_THAT(failed, StatusIs(fault == Fault::kNoSpace || fault == Fault::kShortWrite
                                       ? absl::StatusCode::kResourceExhausted
                                       : absl::StatusCode::kUnavailable,
                                   AllOf(HasSubstr(path), HasSubstr(ErrnoText(fault)))));
    }
    if (power_cut) fs.PowerCut();
    std::vector<std::string> skipped;
    EXPECT_EQ(LoadedId(fs, &skipped), 1);
    EXPECT_THAT(skipped, Each(StartsWith(absl::StrCat(kDir, "/chk-2: "))));

    // The disk recovers (or the machine restarts): the next checkpoint gets
    // a new id and is the one restored.
    fs.ClearFaults();
    fs.PowerCut();  // ends a simulated crash; loses nothing else that is durable
    auto storage = NewLocalDirectoryCheckpointStorage(kDir, &fs);
    ASSERT_THAT(storage, IsOk());
    auto latest_id = (*storage)->LatestCheckpointId();
    ASSERT_THAT(latest_id, IsOk());
    ASSERT_THAT(WriteCheckpoint(**storage, *latest_id + 1), IsOk());
    EXPECT_EQ(LoadedId(fs, &skipped), *latest_id + 1);
  }
  EXPECT_GE(tried, fault == Fault::kShortWrite ? 3 : 14);
}

INSTANTIATE_TEST_SUITE_P(AllFaults, StorageFaultTest, AllFaultCases(), FaultCaseName);

// A completed checkpoint survives a power cut right after CompleteCheckpoint()
// returns: everything it needs was fsynced, entries included.
TEST(StorageFaultTest, CompletedCheckpointSurvivesPowerCut) {
  FaultInjectionFileSystem fs;
  auto storage = NewLocalDirectoryCheckpointStorage(kDir, &fs);
  ASSERT_THAT(storage, IsOk());
  ASSERT_THAT(WriteCheckpoint(**storage, 1), IsOk());
  ASSERT_THAT(WriteCheckpoint(**storage, 2), IsOk());
  fs.PowerCut();
  std::vector<std::string> skipped;
  EXPECT_EQ(LoadedId(fs, &skipped), 2);
  EXPECT_TRUE(skipped.empty());
}

// The injector itself: what a power cut keeps and loses.
TEST(FaultInjectionFileSystemTest, PowerCutKeepsOnlyWhatWasSynced) {
  FaultInjectionFileSystem fs;
  ASSERT_THAT(fs.CreateDir("/d"), IsOk());
  ASSERT_THAT(fs.SyncDir("/"), IsOk());
  auto a = fs.OpenFile("/d/a", FileSystem::OpenMode::kCreateOrTruncate);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT((*a)->Write(0, "synced"), IsOk());
  ASSERT_THAT((*a)->Sync(), IsOk());
  ASSERT_THAT((*a)->Write(6, " and not"), IsOk());
  auto b = fs.OpenFile("/d/b", FileSystem::OpenMode::kCreateOrTruncate);  // entry never synced
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT((*b)->Sync(), IsOk());
  ASSERT_THAT(fs.SyncDir("/d"), IsOk());           // a and b are durable names now
  ASSERT_THAT(fs.Rename("/d/a", "/d/c"), IsOk());  // not durable
  auto c = fs.OpenFile("/d/new", FileSystem::OpenMode::kCreateOrTruncate);
  ASSERT_THAT(c, IsOk());
  fs.PowerCut();
  auto names = fs.ListDir("/d");
  ASSERT_THAT(names, IsOk());
  EXPECT_THAT(*names, ::testing::UnorderedElementsAre("a", "b"));
  auto bytes = fs.ReadFile("/d/a");
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes->data), bytes->size), "synced");
}

TEST(FaultInjectionFileSystemTest, ShortWriteLeavesAPrefixAndFails) {
  FaultInjectionFileSystem fs;
  fs.InjectFault({.op = Op::kWrite, .path = "f", .fault = Fault::kShortWrite});
  auto f = fs.OpenFile("f", FileSystem::OpenMode::kCreateOrTruncate);
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT((*f)->Write(0, "12345678"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("'f'"), HasSubstr("No space left on device"))));
  EXPECT_THAT((*f)->Size(), IsOkAndHolds(4));
  EXPECT_THAT((*f)->Write(0, "12345678"), IsOk());  // only the first write fails
  EXPECT_THAT((*f)->Size(), IsOkAndHolds(8));
}

// The POSIX file system's errors name the file and carry the errno text.
TEST(PosixFileSystemTest, ErrorsNameTheFileAndTheReason) {
  FileSystem* fs = FileSystem::Default();
  const std::string dir = absl::StrCat(::testing::TempDir(), "/posix-fs-", ::getpid());
  std::filesystem::remove_all(dir);
  ASSERT_THAT(fs->CreateDirs(dir + "/x"), IsOk());
  const std::string missing = dir + "/nope/file";
  EXPECT_THAT(fs->OpenFile(missing, FileSystem::OpenMode::kCreateOrKeep).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(missing), HasSubstr("No such file or directory"))));
  auto f = fs->OpenFile(dir + "/x/f", FileSystem::OpenMode::kCreateOrTruncate);
  ASSERT_THAT(f, IsOk());
  const std::vector<std::string_view> pieces = {"ab", "", "cd"};
  ASSERT_THAT((*f)->Write(0, pieces), IsOk());
  ASSERT_THAT((*f)->Sync(), IsOk());
  ASSERT_THAT((*f)->Close(), IsOk());
  ASSERT_THAT(fs->SyncDir(dir + "/x"), IsOk());
  ASSERT_THAT(fs->Rename(dir + "/x/f", dir + "/x/g"), IsOk());
  auto bytes = fs->ReadFile(dir + "/x/g");
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes->data), bytes->size), "abcd");
  EXPECT_THAT(fs->ListDir(dir + "/x"), IsOkAndHolds(::testing::ElementsAre("g")));
  EXPECT_THAT(fs->RemoveFile(dir + "/x/f"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(fs->CreateDirs(dir + "/x/g"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(fs->RemoveAll(dir), IsOk());
  EXPECT_FALSE(fs->FileExists(dir));
  EXPECT_EQ(ParentDir("a/b/c"), "a/b");
  EXPECT_EQ(ParentDir("c"), ".");
  EXPECT_EQ(ParentDir("/c"), "/");
}

}  // namespace
}  // namespace brook
