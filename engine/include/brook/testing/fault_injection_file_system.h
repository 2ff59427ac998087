// File: brook/testing/fault_injection_file_system.h
//
// FaultInjectionFileSystem: an in-memory brook::FileSystem (brook/file_system.h)
// that fails on demand and can lose power, as LevelDB's fault_injection_test
// env, for testing what a bad disk does to checkpoints and sinks:
//
//   - ENOSPC or EIO on any operation (open, write, fsync, truncate, rename,
//     remove, mkdir, fsync of a directory, read), the n-th time it hits a
//     path, once or from then on (a disk that stays full);
//   - short writes: half of the bytes are written, then ENOSPC;
//   - a crash: from the faulting operation on, nothing reaches the "disk"
//     (every mutating call fails with EIO) until PowerCut();
//   - PowerCut(): everything not yet durable is lost: each file goes back to
//     the bytes of its last successful File::Sync() (a new file to empty),
//     and each directory to the entries of its last SyncDir() (files
//     created, renamed or removed since then reappear or vanish). A failed
//     fsync makes nothing durable.
//
// Paths are '/'-separated; relative ones are relative to the root ("a/b" is
// "/a/b"). The root always exists. Every call is logged (operations()), so
// that a test can run a scenario once without faults and then fail each of
// its operations in turn.
//
// Example:
//   using Fs = brook::testing::FaultInjectionFileSystem;
//   Fs fs;
//   fs.InjectFault(
//       {.op = Fs::Op::kSync, .path = "_metadata.inprogress", .fault = Fs::Fault::kIoError});
//   auto storage = brook::NewLocalDirectoryCheckpointStorage("/ckpt", &fs);
//   ASSERT_THAT(storage, IsOk());
//   brook::CheckpointMetadata metadata;
//   metadata.checkpoint_id = 1;
//   EXPECT_THAT((*storage)->CompleteCheckpoint(metadata, /*retained=*/3).status(),
//               StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Input/output error")));
//   fs.PowerCut();  // what was not fsynced is gone
//   auto latest = (*storage)->LoadLatest(nullptr);
//   ASSERT_THAT(latest, IsOk());
//   EXPECT_FALSE(latest->has_value());  // no checkpoint to restore
//
// Thread-safety: every method may be called from any thread.
#ifndef BROOK_TESTING_FAULT_INJECTION_FILE_SYSTEM_H_
#define BROOK_TESTING_FAULT_INJECTION_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "brook/file_system.h"

namespace brook::testing {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  enum class Op { kOpen, kWrite, kSync, kTruncate, kRename, kRemove, kCreateDir, kSyncDir, kRead };
  enum class Fault {
    kNoSpace,     // ENOSPC, nothing written
    kIoError,     // EIO, nothing written
    kShortWrite,  // (writes only) the first half of the bytes, then ENOSPC
    kCrash,       // EIO, and no later change is made until PowerCut()
  };
  struct Rule {
    Op op = Op::kWrite;
    // A substring of the operation's path ("" = any); a final '$' anchors
    // it at the end ("out.csv$" is not "out.csv.inprogress").
    std::string path;
    int nth = 1;       // fail the n-th matching operation (1 = the first)
    Fault fault = Fault::kIoError;
    bool sticky = false;  // fail every matching operation from the n-th on
  };

  FaultInjectionFileSystem();
  ~FaultInjectionFileSystem() override;

  // FaultInjectionFileSystem::InjectFault(): adds a rule (rules are checked
  // in the order added; the first that fires decides).
  void InjectFault(Rule rule);
  // FaultInjectionFileSystem::ClearFaults(): removes every rule.
  void ClearFaults();
  // Faults injected so far.
  int faults_injected() const;
  // FaultInjectionFileSystem::PowerCut(): loses what is not durable (see the
  // file comment) and ends a kCrash. Files still open keep pointing at the
  // surviving bytes; open them again.
  void PowerCut();
  // One call: `nth` counts the calls with the same op and path so far, so
  // that {op, path + "$", nth} is a Rule that fails exactly this call.
  struct Operation {
    Op op;
    std::string path;
    int nth;
  };
  // Every call so far, in order.
  std::vector<Operation> operations() const;
  void ClearOperations();
  static const char* OpName(Op op);
  static const char* FaultName(Fault fault);  // "NoSpace", "IoError", ...

  // FileSystem:
  absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path,
                                                 OpenMode mode) override;
  absl::StatusOr<FileContents> ReadFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status RemoveAll(const std::string& path) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::Status CreateDirs(const std::string& path) override;
  absl::Status SyncDir(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;

 private:
  struct Node;
  class MemFile;
  struct State;
  // Logs the call and applies the rules: the error to return, if any.
  // `*short_write` is set for a kShortWrite.
  absl::Status Check(Op op, const std::string& path, bool* short_write = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brook::testing

#endif  // BROOK_TESTING_FAULT_INJECTION_FILE_SYSTEM_H_
