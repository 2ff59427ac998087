// File: brook/connectors/transactional_append_file.h
//
// TransactionalAppendFile: an append-only output file with two-phase commit
// (DESIGN.md §7, as Flink's TwoPhaseCommittingSink over a file), for sinks
// whose output must become visible only when the checkpoint that covers it
// completes. The building block of TransactionalFileSink
// (brook/connectors/transactional_file_sink.h); usable on its own.
//
// Two files: the pending file `<path>.inprogress`, where every byte is
// appended as it is produced, and the visible file `<path>`, which is always
// a prefix of the pending data:
//
//   PreCommit()      at a checkpoint barrier: flushes and fsyncs the pending
//                    file; returns its length L (the checkpoint records L).
//   Commit(L)        checkpoint complete: the visible file becomes exactly the
//                    first L bytes (the missing range is copied from the
//                    pending file, then fsynced). Idempotent; a commit of a
//                    length at or below the visible one does nothing.
//   Restore(L)       after a crash, from the checkpoint that recorded L: the
//                    pending file is cut to L (appends continue from there)
//                    and the visible file becomes exactly its first L bytes:
//                    what the checkpoint pre-committed is committed, anything
//                    written after it is dropped.
//   CommitAll()      end of input: everything is committed, the pending file
//                    is removed.
//   StartFresh()     a run that restores nothing: both files are emptied.
//
// Crash safety: the visible file never holds bytes that were not fsynced to
// the pending file first. If the pending file is lost after a CommitAll()
// (a crash between the end of input and the exit), Restore(L) rebuilds it
// from the visible file, which then holds at least L bytes of the same data.
//
// Every file operation goes through a brook::FileSystem (brook/file_system.h;
// POSIX unless Open() is given another, e.g. a FaultInjectionFileSystem), once
// per buffer of up to 1 MiB, never per row. StartFresh() also fsyncs the
// directory, so that both files survive a power cut.
//
// Errors: the file system's for I/O failures, naming the file and the reason
// (kUnavailable for EIO, kResourceExhausted for ENOSPC; after a failed write
// or fsync the object is unusable and the job restarts from its last
// checkpoint); kFailedPrecondition for Commit() beyond the pre-committed length, or
// any call after CommitAll(); kDataLoss when Restore(L) finds fewer than L
// bytes in both files (the output files do not belong to this checkpoint).
//
// Thread-safety: none; one sink writer owns it.
#ifndef BROOK_CONNECTORS_TRANSACTIONAL_APPEND_FILE_H_
#define BROOK_CONNECTORS_TRANSACTIONAL_APPEND_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/file_system.h"

namespace brook::connectors {

// Suffix of the pending file next to the visible one.
inline constexpr std::string_view kPendingSuffix = ".inprogress";

class TransactionalAppendFile {
 public:
  // Opens (creating, never truncating) `path` and `path + kPendingSuffix`
  // through `fs` (null: FileSystem::Default(); it must outlive this object),
  // so that a bad path fails before any work. Nothing is changed until
  // StartFresh() or Restore().
  static absl::StatusOr<std::unique_ptr<TransactionalAppendFile>> Open(std::string path,
                                                                       FileSystem* fs = nullptr);

  TransactionalAppendFile(const TransactionalAppendFile&) = delete;
  TransactionalAppendFile& operator=(const TransactionalAppendFile&) = delete;
  ~TransactionalAppendFile();

  // Appends to the pending file (buffered: the buffer goes to the file
  // system when full, at Flush() and PreCommit()). kFailedPrecondition after
  // CommitAll().
  absl::Status Append(std::string_view bytes);
  // Writes the buffer to the pending file (no fsync).
  absl::Status Flush();

  absl::Status StartFresh();
  absl::StatusOr<int64_t> PreCommit();
  absl::Status Commit(int64_t length);
  absl::Status Restore(int64_t length);
  absl::Status CommitAll();

  const std::string& path() const { return path_; }
  std::string pending_path() const { return path_ + std::string(kPendingSuffix); }
  // Bytes in the visible file.
  int64_t committed_length() const { return visible_length_; }
  // Bytes fsynced to the pending file by the last PreCommit() (or Restore()).
  int64_t precommitted_length() const { return precommitted_length_; }
  bool finished() const { return finished_; }

 private:
  TransactionalAppendFile(std::string path, FileSystem* fs, std::unique_ptr<File> pending,
                          int64_t pending_length, std::unique_ptr<File> visible,
                          int64_t visible_length);
  absl::Status FinishedError() const;
  // Makes the visible file exactly the first `length` bytes of the pending
  // file (which must hold them, flushed).
  absl::Status SetVisible(int64_t length);

  std::string path_;
  FileSystem* fs_;
  std::unique_ptr<File> pending_;  // null after CommitAll()
  int64_t pending_length_ = 0;     // bytes written to the pending file
  std::string buffer_;             // appended after them
  std::unique_ptr<File> visible_;
  int64_t visible_length_ = 0;
  int64_t precommitted_length_ = 0;
  bool finished_ = false;
};

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_TRANSACTIONAL_APPEND_FILE_H_
