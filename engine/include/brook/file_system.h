// File: brook/file_system.h
//
// FileSystem: the seam between brook's durable files and the operating
// system, as LevelDB's Env. The checkpoint storage
// (NewLocalDirectoryCheckpointStorage) and the transactional file sink
// (brook/connectors/transactional_append_file.h) do every file operation
// through one, so that a test can put a disk that fails or loses power under
// them (brook/testing/fault_injection_file_system.h). The default,
// FileSystem::Default(), is POSIX.
//
// The seam is per write call, never per record: writers buffer and hand over
// whole buffers (a checkpoint file's pieces, a sink's 1 MiB buffer).
//
// Durability is POSIX's: written bytes are durable only after File::Sync(),
// and a created, renamed or removed directory entry only after SyncDir() of
// its directory.
//
// Errors: every method returns a status whose message names the operation,
// the file and the reason (the errno text for the POSIX implementation, e.g.
// "fsync 'ckpt/chk-3/_metadata.inprogress': Input/output error"), with the
// errno's code (absl::ErrnoToStatus: ENOSPC -> kResourceExhausted, ENOENT ->
// kNotFound, ...) and kUnavailable where that code would be kUnknown (EIO).
//
// Thread-safety: a FileSystem may be used from any thread; one File from one
// thread at a time.
#ifndef BROOK_FILE_SYSTEM_H_
#define BROOK_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace brook {

// An open file, read-write at explicit offsets (pread/pwrite).
class File {
 public:
  virtual ~File() = default;  // closes; errors are lost (call Close() to see them)

  // File::Write(): writes `pieces`, in order, from byte `offset` (gathered
  // into one call where the system allows: pwritev). All or an error: a
  // write cut short by the system is continued, and a failed one may have
  // written a prefix.
  virtual absl::Status Write(int64_t offset, absl::Span<const std::string_view> pieces) = 0;
  absl::Status Write(int64_t offset, std::string_view data) {
    return Write(offset, absl::MakeConstSpan(&data, 1));
  }
  // File::Read(): up to `size` bytes from `offset` into `out`; returns how
  // many (fewer only at the end of the file).
  virtual absl::StatusOr<size_t> Read(int64_t offset, size_t size, char* out) = 0;
  // File::Size(): in bytes.
  virtual absl::StatusOr<int64_t> Size() = 0;
  // File::Truncate(): cuts (or extends with zeros) to `size` bytes.
  virtual absl::Status Truncate(int64_t size) = 0;
  // File::Sync(): makes the file's bytes durable (fsync).
  virtual absl::Status Sync() = 0;
  // File::Close(): once; later calls are no-ops.
  virtual absl::Status Close() = 0;

  virtual const std::string& path() const = 0;
};

// The whole of a file read back: `data` is aligned to 8 bytes (a mapping or
// an aligned copy) and lives as long as `owner`.
struct FileContents {
  const unsigned char* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // FileSystem::Default(): the POSIX implementation (never destroyed).
  static FileSystem* Default();

  enum class OpenMode {
    kCreateOrTruncate,  // O_CREAT | O_TRUNC
    kCreateOrKeep,      // O_CREAT: an existing file keeps its bytes
  };
  // FileSystem::OpenFile(): opens `path` for reading and writing, creating
  // it if missing (the new directory entry is durable only after SyncDir()).
  virtual absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path,
                                                         OpenMode mode) = 0;
  // FileSystem::ReadFile(): the whole file; kNotFound when it does not exist.
  virtual absl::StatusOr<FileContents> ReadFile(const std::string& path) = 0;
  // FileSystem::FileExists(): false also when it cannot be looked at.
  virtual bool FileExists(const std::string& path) = 0;
  // FileSystem::Rename(): atomically replaces `to` (rename(2)).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // FileSystem::RemoveFile(): kNotFound when it does not exist.
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // FileSystem::RemoveAll(): a file, or a directory and everything in it; OK
  // when nothing is there.
  virtual absl::Status RemoveAll(const std::string& path) = 0;
  // FileSystem::CreateDir(): one directory; OK when it exists already.
  // CreateDirs() also creates its missing parents (kFailedPrecondition when
  // the path is a file).
  virtual absl::Status CreateDir(const std::string& path) = 0;
  virtual absl::Status CreateDirs(const std::string& path) = 0;
  // FileSystem::SyncDir(): makes the directory's entries durable (fsync of
  // the directory).
  virtual absl::Status SyncDir(const std::string& path) = 0;
  // FileSystem::ListDir(): the names (not paths) of the directory's entries,
  // in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
};

// The directory part of `path` ("a/b" -> "a", "b" -> "."), for SyncDir().
std::string ParentDir(std::string_view path);

}  // namespace brook

#endif  // BROOK_FILE_SYSTEM_H_
