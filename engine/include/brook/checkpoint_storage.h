// File: brook/checkpoint_storage.h
//
// Where checkpoints and savepoints live (DESIGN.md §7, as Flink's
// CheckpointStorage). A checkpoint is a set of files, one per operator
// subtask, and a `_metadata` file written last that makes it complete:
//
//   DIR/chk-<id>/<operator>-<subtask>     one operator subtask's state
//   DIR/chk-<id>/_metadata                written to a temp file, fsynced, renamed
//   DIR/savepoint-<id>/...                the same layout; never pruned
//
// Every file is a Cap'n Proto message (engine/src/checkpoint.capnp) framed
// with a magic number, a format version, the payload's length and its CRC-32
// (a 40-byte header message followed by the payload message); `_metadata`
// also holds each data file's size and CRC-32 of all its bytes. Operator ids
// are sanitised for file names: characters outside [A-Za-z0-9._#-] become
// '_' and, when any did (or the id is very long), a hash of the id is
// appended so that two ids never share a file. A checkpoint whose `_metadata` is
// missing, or any of whose files is missing, truncated or fails its checksum,
// is never loaded: LoadLatest() reports it (with its path) and falls back to
// the previous complete one.
//
// Thread-safety: every method may be called from any thread; calls for
// different checkpoints may run concurrently.
#ifndef BROOK_CHECKPOINT_STORAGE_H_
#define BROOK_CHECKPOINT_STORAGE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook {

class FileSystem;  // brook/file_system.h

// The bytes of one key group's state in a checkpoint (opaque to storage):
// owned, or a read-only view into a checkpoint file that a restore mapped
// (LoadLatest() and Load() do not copy key groups out of their files;
// `owner` keeps the mapping alive). Immutable: copies share the bytes.
// Thread-safety: as std::shared_ptr (const use from any thread).
class KeyGroupBytes {
 public:
  KeyGroupBytes() = default;
  // Owns `bytes` (implicit: a snapshot hands over its serialised string).
  KeyGroupBytes(std::string bytes)  // NOLINT(google-explicit-constructor)
      : KeyGroupBytes(std::make_shared<const std::string>(std::move(bytes))) {}
  KeyGroupBytes(const char* bytes)  // NOLINT(google-explicit-constructor)
      : KeyGroupBytes(std::string(bytes)) {}
  // Views `bytes`, which stay valid while `owner` is alive.
  KeyGroupBytes(std::string_view bytes, std::shared_ptr<const void> owner)
      : owner_(std::move(owner)), view_(bytes) {}

  std::string_view view() const { return view_; }
  operator std::string_view() const { return view_; }  // NOLINT(google-explicit-constructor)
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  // What keeps the bytes alive: the mapped file for a view (key groups read
  // from one file share it), else a string of their own.
  const std::shared_ptr<const void>& owner() const { return owner_; }

  // Compares bytes (with a KeyGroupBytes, std::string, string_view or C string).
  template <typename T>
    requires std::is_convertible_v<const T&, std::string_view>
  friend bool operator==(const KeyGroupBytes& a, const T& b) {
    return a.view_ == std::string_view(b);
  }
  // For test failures: the size and the first 64 bytes, escaped.
  friend std::ostream& operator<<(std::ostream& os, const KeyGroupBytes& b) {
    static constexpr char kHex[] = "0123456789abcdef";
    os << b.view_.size() << " bytes \"";
    for (unsigned char c : b.view_.substr(0, 64)) {
      if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
        os << static_cast<char>(c);
      } else {
        os << "\\x" << kHex[c >> 4] << kHex[c & 15];
      }
    }
    return os << (b.view_.size() > 64 ? "\"..." : "\"");
  }

 private:
  explicit KeyGroupBytes(std::shared_ptr<const std::string> owned)
      : owner_(owned), view_(*owned) {}

  std::shared_ptr<const void> owner_;
  std::string_view view_;
};

// One operator subtask's state in a checkpoint (see
// internal::OperatorSnapshotData): the non-keyed operator state and the
// keyed state of each key group of the subtask's range.
struct OperatorSubtaskState {
  std::string operator_id;  // unique within the job (the operator's name)
  int subtask_index = 0;
  int parallelism = 1;
  std::string operator_state;
  std::vector<std::pair<int32_t, KeyGroupBytes>> key_groups;  // (key group, bytes)
};

struct CheckpointMetadata {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
  int64_t timestamp_ms = 0;  // wall clock when triggered (ms since epoch)
  int max_parallelism = 0;
  std::string job_name;
  // Filled by the storage: every data file of the checkpoint, with the size
  // and checksum that LoadLatest()/Load() verify.
  struct File {
    std::string name;  // relative to the checkpoint's directory
    std::string operator_id;
    int subtask_index = 0;
    int parallelism = 1;
    int64_t size_bytes = 0;
    uint32_t checksum = 0;  // CRC-32 of the file's bytes
    // 0: the file is in this checkpoint's directory; else it is shared with
    // the earlier checkpoint of that id, which wrote it (an incremental
    // checkpoint's chain). An operator subtask's files are listed in chain
    // order: its full snapshot, then each increment on it.
    int64_t owner_checkpoint_id = 0;
  };
  std::vector<File> files;
};

// A complete, verified checkpoint read back in full.
struct RestoredCheckpoint {
  std::string path;  // DIR/chk-<id> or a savepoint's directory
  CheckpointMetadata metadata;
  std::vector<OperatorSubtaskState> states;
};

class CheckpointStorage {
 public:
  virtual ~CheckpointStorage() = default;

  // Writes one operator subtask's state into (pending) checkpoint
  // `checkpoint_id`, durably (fsynced). Returns the file's entry for the
  // metadata. Large key-group blobs are written from `state` in place, not
  // copied.
  // Errors: on I/O failure the file system's, naming the file (kUnavailable;
  // kResourceExhausted for a full disk).
  virtual absl::StatusOr<CheckpointMetadata::File> WriteState(
      int64_t checkpoint_id, bool savepoint, const OperatorSubtaskState& state) = 0;

  // Writes `_metadata` (atomically: temp file, fsync, rename, fsync of the
  // directory): the checkpoint is complete from then on. Then prunes
  // complete checkpoints beyond the newest `retained` ones, and failed or
  // pending ones older than this one; savepoints are never pruned (and
  // completing a savepoint prunes nothing). Pruning is best effort. Returns
  // the checkpoint's path. Errors: kInvalidArgument for a file name in
  // `metadata` that is not a plain name; on I/O failure as WriteState().
  virtual absl::StatusOr<std::string> CompleteCheckpoint(const CheckpointMetadata& metadata,
                                                         int retained) = 0;

  // Removes what a failed checkpoint wrote (best effort).
  virtual absl::Status AbortCheckpoint(int64_t checkpoint_id, bool savepoint) = 0;

  // The newest complete checkpoint (not savepoint) whose files all verify,
  // or nullopt when there is none. Each newer checkpoint that was skipped
  // (no `_metadata`, a missing, truncated or corrupt file) is described in
  // `skipped`, newest first, as "<path>: <file>: <reason>", e.g.
  // "DIR/chk-7: Dedup-0: checksum mismatch: ..." or "DIR/chk-8: _metadata
  // missing (an incomplete checkpoint)". Errors only for the storage itself
  // being unreadable (kUnavailable).
  virtual absl::StatusOr<std::optional<RestoredCheckpoint>> LoadLatest(
      std::vector<std::string>* skipped) = 0;

  // A checkpoint or savepoint by path (a directory holding `_metadata`; for
  // the directory storage any directory, so a savepoint may be moved).
  // kNotFound when there is no `_metadata`; kDataLoss (naming the file) when a
  // file is missing, truncated, corrupt or of an unknown format version.
  virtual absl::StatusOr<RestoredCheckpoint> Load(const std::string& path) = 0;

  // The id of the newest checkpoint or savepoint present, complete or not
  // (so that a restarted job never reuses an id), or 0.
  virtual absl::StatusOr<int64_t> LatestCheckpointId() = 0;
};

// The default: checkpoints in a local directory (created if missing, its
// entry fsynced), every file operation through `fs` (null: FileSystem::
// Default(), POSIX; a test passes a FaultInjectionFileSystem), which must
// outlive the storage. Errors: kInvalidArgument for an empty path, kInternal
// when the directory cannot be created. The methods' I/O errors are those of
// `fs`, naming the file and the reason (docs/checkpoints.md, "Storage
// faults").
absl::StatusOr<std::unique_ptr<CheckpointStorage>> NewLocalDirectoryCheckpointStorage(
    const std::string& directory, FileSystem* fs = nullptr);

// For tests: everything in memory, with the same framing, verification and
// retention as the directory storage. Paths are "mem://chk-<id>" and
// "mem://savepoint-<id>"; Load() accepts only such paths (kNotFound for any
// other). The *ForTesting hooks damage a stored file the way a crash or a
// bad disk would; `file` is a data file's name or "_metadata".
class InMemoryCheckpointStorage : public CheckpointStorage {
 public:
  // Flips every bit of byte `offset` of `file` in checkpoint `path`.
  // kNotFound when there is no such file, kOutOfRange past its end.
  virtual absl::Status CorruptForTesting(const std::string& path, const std::string& file,
                                         int64_t offset) = 0;
  // Deletes `file` of checkpoint `path` (kNotFound when absent).
  virtual absl::Status RemoveForTesting(const std::string& path, const std::string& file) = 0;
  // Cuts `file` of checkpoint `path` to its first `size_bytes` bytes.
  // kNotFound when absent, kOutOfRange when it is not that long.
  virtual absl::Status TruncateForTesting(const std::string& path, const std::string& file,
                                          int64_t size_bytes) = 0;
  // The files of checkpoint `path`, sorted by name (empty when absent).
  virtual std::vector<std::string> ListFilesForTesting(const std::string& path) = 0;
};
std::unique_ptr<InMemoryCheckpointStorage> NewInMemoryCheckpointStorage();

}  // namespace brook

#endif  // BROOK_CHECKPOINT_STORAGE_H_
